//! Importers: other projects' packed INT tensors into new owned matrices.

use lowbit_rs::import::{
    import_awq, import_gptq, import_q4_0, import_q8_0, AwqTensors, GptqConfig, GptqTensors,
    GptqZeros,
};
use lowbit_rs::{Group, IntMatrix, QuantizedMatrix};

use crate::boundary::{slice_in, slice_out, status_call, Fail, OutPtr, Span};
use crate::matrix::{lowbit_matrix, store};
use crate::status::lowbit_status;
use crate::view::f16_slice;

/// A C group size (0 = one group per row) as a Rust one.
fn group_of(group: u32) -> Result<Group, Fail> {
    let g = usize::try_from(group).map_err(|_| {
        Fail::Lib(lowbit_rs::Error::InvalidParameter {
            what: format!("group size {group} is not addressable"),
        })
    })?;
    Ok(Group::from_raw(g))
}

/// The body of the llama.cpp block importers.
///
/// # Safety
///
/// `data` must be NULL or valid for reads of `len` bytes, and `out` NULL or valid for
/// writing one pointer, during the call.
unsafe fn import_blocks(
    data: *const u8,
    len: usize,
    n: usize,
    k: usize,
    out: *mut *mut lowbit_matrix,
    import: fn(usize, usize, &[u8]) -> lowbit_rs::Result<IntMatrix>,
) -> Result<(), Fail> {
    // SAFETY: forwarded from this function's contract.
    let out = unsafe { OutPtr::new("out", out) }?;
    // SAFETY: forwarded from this function's contract.
    let data = unsafe { slice_in("data", data, len) }?;
    let m = import(n, k, data)?;
    store(out, QuantizedMatrix::from_int(m));
    Ok(())
}

/// Imports a llama.cpp `Q4_0` tensor of `n` rows by `k` columns into a new matrix and
/// stores its handle in `*out` (free it with `lowbit_matrix_free()`). `data` is the raw
/// little-endian `block_q4_0` array (`len = n * k / 32 * 18` bytes, row after row: an f16
/// `d`, then 16 bytes whose low nibbles are elements 0..15 and high nibbles elements
/// 16..31). The result is symmetric INT4 with group 32 and dequantizes exactly to
/// llama.cpp's `d * (q - 8)`. `k` must be a multiple of 32. `*out` is written only on
/// success.
///
/// # Safety
///
/// `data` must be NULL or valid for reading `len` bytes; `out` must be NULL or valid for
/// writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn lowbit_import_q4_0(
    data: *const u8,
    len: usize,
    n: usize,
    k: usize,
    out: *mut *mut lowbit_matrix,
) -> lowbit_status {
    status_call("lowbit_import_q4_0", || {
        // SAFETY: the caller guarantees `data` and `out` as `import_blocks` requires.
        unsafe { import_blocks(data, len, n, k, out, import_q4_0) }
    })
}

/// Imports a llama.cpp `Q8_0` tensor of `n` rows by `k` columns into a new matrix and
/// stores its handle in `*out` (free it with `lowbit_matrix_free()`). `data` is the raw
/// little-endian `block_q8_0` array (`len = n * k / 32 * 34` bytes, row after row: an f16
/// `d`, then 32 `int8` quants). The result is symmetric INT8 with group 32 and
/// dequantizes exactly to llama.cpp's `d * q`. `k` must be a multiple of 32. `*out` is
/// written only on success.
///
/// # Safety
///
/// As for `lowbit_import_q4_0()`.
#[no_mangle]
pub unsafe extern "C" fn lowbit_import_q8_0(
    data: *const u8,
    len: usize,
    n: usize,
    k: usize,
    out: *mut *mut lowbit_matrix,
) -> lowbit_status {
    status_call("lowbit_import_q8_0", || {
        // SAFETY: the caller guarantees `data` and `out` as `import_blocks` requires.
        unsafe { import_blocks(data, len, n, k, out, import_q8_0) }
    })
}

/// Imports an AutoAWQ GEMM-layout 4-bit layer (`n` output channels, `k` input features)
/// into a new INT4 matrix with zero-points and stores its handle in `*out` (free it with
/// `lowbit_matrix_free()`). `group` is the checkpoint's `q_group_size` (32, 64, 128 or
/// 256 dividing `k`, or `k`; 0 for `-1`, one group per row). The tensors are given as
/// values (decode the little-endian bytes of a file first), row-major:
/// `qweight` `[k][n/8]` int32 (8 codes per word in AWQ's order 0, 2, 4, 6, 1, 3, 5, 7),
/// `qzeros` `[k/g][n/8]` int32 (same packing), `scales` `[k/g][n]` f16 bits. `n` must be
/// a multiple of 8. The result dequantizes exactly to `scales * (q - z)`. `*out` is
/// written only on success.
///
/// # Safety
///
/// Each of `qweight`, `qzeros` and `scales` must be NULL or valid for reading its length
/// in elements; `out` must be NULL or valid for writing one pointer.
// A C function takes each tensor as a (pointer, length) pair.
#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "C" fn lowbit_import_awq(
    n: usize,
    k: usize,
    group: u32,
    qweight: *const i32,
    qweight_len: usize,
    qzeros: *const i32,
    qzeros_len: usize,
    scales: *const u16,
    scales_len: usize,
    out: *mut *mut lowbit_matrix,
) -> lowbit_status {
    status_call("lowbit_import_awq", || {
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        // SAFETY: the caller guarantees `qweight` is NULL or valid for its length.
        let qweight = unsafe { slice_in("qweight", qweight, qweight_len) }?;
        // SAFETY: the caller guarantees `qzeros` is NULL or valid for its length.
        let qzeros = unsafe { slice_in("qzeros", qzeros, qzeros_len) }?;
        // SAFETY: the caller guarantees `scales` is NULL or valid for its length.
        let scales = unsafe { slice_in("scales", scales, scales_len) }?;
        let tensors = AwqTensors {
            qweight,
            qzeros,
            scales: f16_slice(scales),
        };
        let m = import_awq(n, k, group_of(group)?, &tensors)?;
        store(out, QuantizedMatrix::from_int(m));
        Ok(())
    })
}

/// Imports a GPTQ linear layer (AutoGPTQ / exllama `gptq` layout, or GPTQModel's
/// `gptq_v2` with `zeros_v2 = 1`) of `n` output channels and `k` input features into a
/// new INT-`bits` matrix with zero-points, and stores its handle in `*out` (free it with
/// `lowbit_matrix_free()`). `bits` is 2, 3, 4 or 8; `group` the checkpoint's
/// `group_size` (0 for `-1`). Tensors as values, row-major: `qweight` `[k*bits/32][n]`
/// int32, `qzeros` `[k/g][n*bits/32]` int32, `scales` `[k/g][n]` f16 bits, and `g_idx`
/// `[k]` int32 or NULL (with length 0) when the checkpoint has none.
///
/// Act-order: when `g_idx` is not the trivial `k / g`, the imported columns are a
/// permutation of the input features: `*has_perm` is set to 1 and `perm_out[0..k]`
/// receives `perm` with `W'[r][j] = W[r][perm[j]]`, so `W x = W' x'` with
/// `x'[j] = x[perm[j]]`. Then `perm_out` must hold at least `k` elements
/// (`perm_len >= k`), else `LOWBIT_ERR_BUFFER_LENGTH` (NULL counts as length 0) and
/// nothing is created. Otherwise `*has_perm` is set to 0 and `perm_out` (which may be
/// NULL) is not written. `*out`, `*has_perm` and `perm_out` are written only on success.
///
/// # Safety
///
/// Each of `qweight`, `qzeros`, `scales`, `g_idx` must be NULL or valid for reading its
/// length in elements; `perm_out` must be NULL or valid for reading and writing
/// `perm_len` `uint32_t`s; `out` and `has_perm` must be NULL or valid for one write.
// A C function takes each tensor as a (pointer, length) pair.
#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "C" fn lowbit_import_gptq(
    n: usize,
    k: usize,
    bits: u32,
    group: u32,
    zeros_v2: u32,
    qweight: *const i32,
    qweight_len: usize,
    qzeros: *const i32,
    qzeros_len: usize,
    scales: *const u16,
    scales_len: usize,
    g_idx: *const i32,
    g_idx_len: usize,
    out: *mut *mut lowbit_matrix,
    perm_out: *mut u32,
    perm_len: usize,
    has_perm: *mut u32,
) -> lowbit_status {
    status_call("lowbit_import_gptq", || {
        let bad = |what: String| Fail::Lib(lowbit_rs::Error::InvalidParameter { what });
        // SAFETY: the caller guarantees `out` is NULL or valid for one write.
        let out = unsafe { OutPtr::new("out", out) }?;
        // SAFETY: the caller guarantees `has_perm` is NULL or valid for one write.
        let has_perm = unsafe { OutPtr::new("has_perm", has_perm) }?;
        // SAFETY: the caller guarantees `qweight` is NULL or valid for its length.
        let qweight = unsafe { slice_in("qweight", qweight, qweight_len) }?;
        // SAFETY: the caller guarantees `qzeros` is NULL or valid for its length.
        let qzeros = unsafe { slice_in("qzeros", qzeros, qzeros_len) }?;
        // SAFETY: the caller guarantees `scales` is NULL or valid for its length.
        let scales = unsafe { slice_in("scales", scales, scales_len) }?;
        let g_idx = if g_idx.is_null() && g_idx_len == 0 {
            None
        } else {
            // SAFETY: the caller guarantees `g_idx` is NULL or valid for its length.
            Some(unsafe { slice_in("g_idx", g_idx, g_idx_len) }?)
        };
        let inputs = [
            Span::of("qweight", qweight),
            Span::of("qzeros", qzeros),
            Span::of("scales", scales),
            g_idx.map_or(Span::EMPTY, |g| Span::of("g_idx", g)),
        ];
        // SAFETY: the caller guarantees `perm_out` is NULL or valid for reads and writes
        // of `perm_len` elements; `slice_out` checks it overlaps none of the inputs.
        let perm_out = unsafe { slice_out("perm_out", perm_out, perm_len, &inputs) }?;
        let bits = u8::try_from(bits)
            .map_err(|_| bad(format!("GPTQ bit width must be 2, 3, 4 or 8, not {bits}")))?;
        let zeros = match zeros_v2 {
            0 => GptqZeros::V1,
            1 => GptqZeros::V2,
            z => return Err(bad(format!("zeros_v2 must be 0 or 1, not {z}"))),
        };
        let config = GptqConfig {
            n,
            k,
            bits,
            group: group_of(group)?,
            zeros,
        };
        let tensors = GptqTensors {
            qweight,
            qzeros,
            scales: f16_slice(scales),
            g_idx,
        };
        let imported = import_gptq(&config, &tensors)?;
        match imported.perm {
            Some(perm) => {
                if perm_out.len() < perm.len() {
                    return Err(Fail::Lib(lowbit_rs::Error::BufferLength {
                        what: "perm_out",
                        expected: perm.len(),
                        got: perm_out.len(),
                    }));
                }
                perm_out[..perm.len()].copy_from_slice(&perm);
                has_perm.write(1);
            }
            None => has_perm.write(0),
        }
        store(out, QuantizedMatrix::from_int(imported.matrix));
        Ok(())
    })
}
