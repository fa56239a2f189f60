//! Element codecs on arbitrary input: decode never panics, encode of a finite value
//! returns a code that decodes to a nearest representable value (never NaN/Inf), and
//! encode(decode(c)) == c for finite codes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lowbit_formats::minifloat::{E2M1, E2M3, E3M2, E4M3, E5M2};

fuzz_target!(|data: &[u8]| {
    for chunk in data.chunks_exact(4) {
        let x = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        for f in [E2M1, E3M2, E2M3, E4M3, E5M2] {
            let c = chunk[0];
            let d = f.decode(c);
            if d.is_finite() {
                let back = f.encode(d).expect("finite decodes re-encode");
                assert_eq!(f.decode(back).to_bits(), d.to_bits(), "{f} code {c:#x}");
            }
            match f.encode(x) {
                Ok(code) => {
                    assert!(x.is_finite());
                    let v = f.decode(code);
                    assert!(v.is_finite());
                    if x.abs() <= f.max() {
                        // No representable value is strictly closer than the chosen one.
                        for other in 0..(1u16 << f.bits()) {
                            let o = f.decode(other as u8);
                            if o.is_finite() {
                                assert!((o - x).abs() >= (v - x).abs(), "{f} x={x} got {v} but {o} closer");
                            }
                        }
                    } else {
                        assert_eq!(v.abs(), f.max());
                    }
                }
                Err(_) => assert!(!x.is_finite()),
            }
        }
    }
});
