//! The `_ws` calls allocate nothing on the calling thread once their workspace has grown
//! to the shape (counted by a global allocator; single-threaded calls, since rayon's
//! scheduler is not lowbit's to account for).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use lowbit::{f16, Format, GemvOptions, Group, Precision, QuantizedMatrix, Workspace};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call forwards to the system allocator unchanged; the counter is a
// const-initialized thread-local `Cell` (no allocation, no destructor to register).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[test]
fn ws_calls_allocate_nothing_once_grown() {
    let (n, k, m) = (48, 512, 5);
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 11) % 97) as f32 / 48.0 - 1.0)
        .collect();
    let xh: Vec<f16> = x[..k].iter().map(|&v| f16::from_f32(v)).collect();
    let bias = vec![0.5; n];
    for f in [
        Format::int4(Group::Size(32)),
        Format::int(3, Group::Size(64), true),
        Format::int(8, Group::PerRow, false),
        Format::int(2, Group::Size(32), false),
    ] {
        let q = QuantizedMatrix::quantize(&w, n, k, f).unwrap();
        let xq = lowbit::quantize_activations(&x[..k]).unwrap();
        for precision in [Precision::F32, Precision::AllowA8] {
            let o = GemvOptions {
                precision,
                single_thread: true,
                accumulate: true,
                bias: Some(&bias),
                ..Default::default()
            };
            let mut ws = Workspace::new();
            let mut y = vec![0.0; m * n];
            let calls = |ws: &mut Workspace, y: &mut [f32]| {
                lowbit::gemv_ws(q.view(), &x[..k], &mut y[..n], &o, ws).unwrap();
                lowbit::gemv_rows_ws(q.view(), &x[..k], 3..n, &mut y[..n - 3], &o, ws).unwrap();
                lowbit::gemv_f16_ws(q.view(), &xh, &mut y[..n], &o, ws).unwrap();
                lowbit::gemv_rows_a8_with(q.view(), &xq, 0..n, &mut y[..n], &o).unwrap();
                lowbit::gemm_ws(q.view(), &x, m, y, &o, ws).unwrap();
                lowbit::gemm_rows(q.view(), &x, m, 5..n, y, n, &o, ws).unwrap();
                let _ = lowbit::gemv_plan(q.view(), &o).unwrap();
            };
            calls(&mut ws, &mut y);
            if std::env::var("DBG").is_ok() {
                eprintln!(
                    "{f} {precision:?} gemv {}",
                    allocations(|| {
                        lowbit::gemv_ws(q.view(), &x[..k], &mut y[..n], &o, &mut ws).unwrap();
                    })
                );
                eprintln!(
                    "rows {}",
                    allocations(|| {
                        lowbit::gemv_rows_ws(q.view(), &x[..k], 3..n, &mut y[..n - 3], &o, &mut ws)
                            .unwrap();
                    })
                );
                eprintln!(
                    "a8 {}",
                    allocations(|| {
                        lowbit::gemv_rows_a8_with(q.view(), &xq, 0..n, &mut y[..n], &o).unwrap();
                    })
                );
                eprintln!(
                    "gemm {}",
                    allocations(|| {
                        lowbit::gemm_ws(q.view(), &x, m, &mut y, &o, &mut ws).unwrap();
                    })
                );
                eprintln!(
                    "gemmrows {}",
                    allocations(|| {
                        lowbit::gemm_rows(q.view(), &x, m, 5..n, &mut y, n, &o, &mut ws).unwrap();
                    })
                );
            }
            let count = allocations(|| calls(&mut ws, &mut y));
            assert_eq!(
                count, 0,
                "{f} {precision:?}: allocations after the first round"
            );
        }
    }
    // The counter works: an allocation is seen.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8; 3]))), 1);
}
