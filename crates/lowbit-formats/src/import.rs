//! Importers: other projects' packed INT and FP tensors into the canonical [`IntMatrix`]
//! and [`FpMatrix`](crate::fp::FpMatrix).
//!
//! Every importer validates every shape and buffer length before it allocates or writes
//! anything, and returns an [`Error`] on any mismatch; none of them panics on bad input.
//! Byte order is explicit: tensors that other projects store as `int32` / `float16` are
//! taken as `&[i32]` / `&[f16]` *values* (use [`i32s_from_le_bytes`] and
//! [`f16s_from_le_bytes`] to decode the little-endian bytes of a safetensors file), and
//! llama.cpp tensors are taken as their on-disk little-endian block bytes. Byte-oriented
//! tensors (`uint8` MXFP4 blocks and E8M0 scales, the FP6 bitstream) are taken as bytes.
//!
//! Shapes use lowbit's names: `n` is the number of output channels (`out_features`) and
//! `k` is the reduction length (`in_features`). The canonical result always has rows =
//! output channels and groups contiguous along `K` (see [`crate::int`], [`crate::fp`]).
//!
//! | Source | Function | Result | Exact? |
//! |---|---|---|---|
//! | GPTQ (AutoGPTQ / exllama `gptq` layout), 2/3/4/8 bits | [`import_gptq`] | INT-b, zero-points, plus an input permutation under act-order | yes |
//! | AutoAWQ GEMM, 4 bits | [`import_awq`] | INT4, zero-points | yes |
//! | llama.cpp `Q4_0` | [`import_q4_0`] | symmetric INT4, g32 | yes |
//! | llama.cpp `Q8_0` | [`import_q8_0`] | symmetric INT8, g32 | yes |
//! | llama.cpp `Q4_1` | [`import_q4_1`] | INT4, zero-points, g32 | when `m` is an integer multiple of `-d` (error reported) |
//! | llama.cpp `MXFP4` (`block_mxfp4`) | [`import_mxfp4_ggml`] | MXFP4 (E2M1, E8M0, g32) | yes (code 8 is `-0.0`, llama.cpp's table gives `+0.0`) |
//! | Hugging Face / gpt-oss MXFP4 (`*_blocks` + `*_scales`), one 2-D slice ([`hf_mxfp4_expert`]) | [`import_mxfp4_hf`] | MXFP4 (E2M1, E8M0, g32) | yes |
//! | NVIDIA ModelOpt NVFP4 (`weight` + `weight_scale` E4M3 + `weight_scale_2`) | [`import_nvfp4_modelopt`] | NVFP4 (E2M1, E4M3 per 16, f32 per tensor) | bytes unchanged; the value rounds once more where `weight_scale_2` is not a power of two |
//! | llama.cpp `NVFP4` (`block_nvfp4`) and its `.scale` tensor | [`import_nvfp4_ggml`] | NVFP4 | yes for tensor scale 1 (llama.cpp scales the output by the tensor scale instead) |
//! | FP6-LLM / DeepSpeed packed FP6 bitstream (4 codes in 3 bytes, MSB first), E3M2 or E2M3 | [`import_fp6_packed`] | FP6 4+2 split, f16 scales (per row for those producers) | yes (the producers round the product to f16) |
//!
//! "Exact" means that the imported matrix dequantizes (with [`crate::int::decode`] or
//! [`FpMatrixRef::dequantize`](crate::fp::FpMatrixRef::dequantize)) to the same `f32` bits
//! as the source format's reference dequantizer evaluated in `f32`:
//! llama.cpp's `dequantize_row_*`, and `scale * (q - z)` for GPTQ and AWQ (whose PyTorch
//! fallbacks evaluate that product in `f16`, i.e. round the same value once more);
//! `FP4_VALUES[c] * 2^(e - 127)` for Hugging Face MXFP4; `scale * fp6(c)` for FP6, which
//! FP6-LLM's `weight_dequant_cpu` then rounds to `f16`.

use crate::error::check_len;
use crate::int::{IntFormat, IntMatrix};
use crate::{f16, pack, Error, Group, Result};

mod fp;

pub use fp::{
    hf_mxfp4_expert, import_fp6_packed, import_mxfp4_ggml, import_mxfp4_hf, import_nvfp4_ggml,
    import_nvfp4_modelopt, MXFP4_BLOCK_BYTES, MXFP4_BLOCK_CODE_BYTES, MX_BLOCK, NVFP4_GGML_BLOCK,
    NVFP4_GGML_BLOCK_BYTES, NVFP4_GROUP,
};

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// `a * b`, or an [`Error::InvalidShape`] if it overflows.
fn mul(a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| Error::InvalidShape {
        what: format!("{a} x {b} is too large to address"),
    })
}

/// Packs row-major `n x k` codes into the canonical planes and validates the result.
fn assemble(
    format: IntFormat,
    n: usize,
    k: usize,
    codes: &[u8],
    scales: Vec<f16>,
    zeros: Option<Vec<u8>>,
) -> Result<IntMatrix> {
    let layout = format.layout(n, k)?;
    check_len("codes", mul(n, k)?, codes.len())?;
    let mut plane0 = vec![0u8; layout.plane0_len];
    let mut plane1 = vec![0u8; layout.plane1_len];
    for (r, row) in codes.chunks_exact(k).enumerate() {
        let out0 = &mut plane0[r * layout.row_bytes0..(r + 1) * layout.row_bytes0];
        if format.bits == 3 {
            let out1 = &mut plane1[r * layout.row_bytes1..(r + 1) * layout.row_bytes1];
            pack::split_2_1(row, out0, out1)?;
        } else {
            pack::pack(row, u32::from(format.bits), out0)?;
        }
    }
    IntMatrix::from_parts(format, n, k, plane0, plane1, scales, zeros)
}

/// Reads the `bits`-bit field that starts at bit `bit` of a little-endian stream of
/// 32-bit words (LSB-first: bit `t` of word `w` is stream bit `32*w + t`). A field may
/// straddle two words (3-bit GPTQ). `word(w)` must be valid for every word touched.
#[inline]
fn stream_get(word: impl Fn(usize) -> u32, bit: usize, bits: u32) -> u8 {
    let w = bit / 32;
    let off = (bit % 32) as u32;
    let mut v = u64::from(word(w)) >> off;
    if off + bits > 32 {
        v |= u64::from(word(w + 1)) << (32 - off);
    }
    (v & ((1u64 << bits) - 1)) as u8
}

/// Reinterprets an `int32` tensor element as its 32 bits.
#[inline(always)]
fn bits_of(v: i32) -> u32 {
    v as u32
}

/// Decodes the little-endian bytes of an `int32` tensor (for example a safetensors
/// `qweight`/`qzeros` buffer) into values. The length must be a multiple of 4.
pub fn i32s_from_le_bytes(bytes: &[u8]) -> Result<Vec<i32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(Error::InvalidShape {
            what: format!(
                "an int32 tensor needs a multiple of 4 bytes, got {}",
                bytes.len()
            ),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Decodes the little-endian bytes of a `float16` tensor (for example a safetensors
/// `scales` buffer) into values, bit for bit. The length must be even.
pub fn f16s_from_le_bytes(bytes: &[u8]) -> Result<Vec<f16>> {
    if !bytes.len().is_multiple_of(2) {
        return Err(Error::InvalidShape {
            what: format!(
                "a float16 tensor needs an even number of bytes, got {}",
                bytes.len()
            ),
        });
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]])))
        .collect())
}

/// Applies an input permutation returned by [`import_gptq`]: `out[j] = x[perm[j]]`, i.e.
/// `out = P x`. With `W'` the imported matrix, `W x = W' (P x)` for every `x`.
///
/// `x` and `out` must both have `perm.len()` elements and every `perm[j]` must index `x`.
pub fn permute_input<T: Copy>(perm: &[u32], x: &[T], out: &mut [T]) -> Result<()> {
    check_len("x", perm.len(), x.len())?;
    check_len("permuted output", perm.len(), out.len())?;
    if let Some(j) = perm.iter().position(|&p| p as usize >= x.len()) {
        return Err(Error::InvalidParameter {
            what: format!(
                "perm[{j}] = {} is out of range for {} inputs",
                perm[j],
                x.len()
            ),
        });
    }
    for (o, &p) in out.iter_mut().zip(perm) {
        *o = x[p as usize];
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// GPTQ
// ---------------------------------------------------------------------------------------

/// How a GPTQ checkpoint stores its zero-points in `qzeros`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GptqZeros {
    /// The original GPTQ / AutoGPTQ / exllama convention (`checkpoint_format = "gptq"`):
    /// the packed field holds `z - 1` (wrapping modulo `2^b`), and the kernels use
    /// `z = field + 1`. A true zero-point of 0 therefore comes back as `2^b`, exactly as
    /// GPTQ's own kernels see it (lowbit accepts zero-points up to `2^b`).
    #[default]
    V1,
    /// GPTQModel's `gptq_v2` convention: the packed field holds `z` itself.
    V2,
}

/// Shape and format of a GPTQ linear layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GptqConfig {
    /// Output channels (`out_features`).
    pub n: usize,
    /// Input features, the reduction length (`in_features`).
    pub k: usize,
    /// Bits per code: 2, 3, 4 or 8.
    pub bits: u8,
    /// The checkpoint's `group_size`; pass [`Group::PerRow`] for `group_size = -1`.
    /// It must be a group lowbit supports (32, 64, 128, 256 dividing `K`, or `K`).
    pub group: Group,
    /// The zero-point convention (default [`GptqZeros::V1`]).
    pub zeros: GptqZeros,
}

/// The tensors of a GPTQ linear layer, as `int32` / `float16` values (row-major).
#[derive(Debug, Clone, Copy)]
pub struct GptqTensors<'a> {
    /// `qweight`, `[K*bits/32][N]`: column `n` is a little-endian bit stream of the codes
    /// of output channel `n` along `K` (input feature `k` at stream bit `k*bits`,
    /// stream bit `32*r + t` is bit `t` of `qweight[r][n]`).
    pub qweight: &'a [i32],
    /// `qzeros`, `[K/g][N*bits/32]`: row `j` is a bit stream of the zero-points of group
    /// `j` along `N` (channel `n` at stream bit `n*bits`), in the [`GptqZeros`] convention.
    pub qzeros: &'a [i32],
    /// `scales`, `[K/g][N]`.
    pub scales: &'a [f16],
    /// `g_idx`, `[K]`, if the checkpoint has one: input feature `k` uses group
    /// `g_idx[k]`. `None` means the trivial `k / g`.
    pub g_idx: Option<&'a [i32]>,
}

/// A GPTQ layer imported into lowbit.
#[derive(Debug, Clone, PartialEq)]
pub struct GptqImport {
    /// The weights `W'` (INT-b with zero-points), groups contiguous along `K`.
    pub matrix: IntMatrix,
    /// `None` when `g_idx` is absent or trivial (`g_idx[k] == k / g`): then `W' = W`.
    ///
    /// `Some(perm)` under act-order (`desc_act`): column `j` of `W'` is input feature
    /// `perm[j]` of the original layer, i.e. `W'[n][j] = W[n][perm[j]]`. Because
    /// `y = W x = sum_k W[n][k] x[k] = sum_j W'[n][j] x[perm[j]]`, compute
    /// `y = W' (P x)` where `(P x)[j] = x[perm[j]]` ([`permute_input`]). `perm` lists the
    /// input features sorted stably by `g_idx`, so group `j` of `W'` holds exactly the
    /// features with `g_idx == j`, in increasing feature order.
    pub perm: Option<Vec<u32>>,
}

/// Validates `g_idx` and turns it into an input permutation (`None` when trivial).
fn gptq_perm(g_idx: &[i32], k: usize, g: usize, groups: usize) -> Result<Option<Vec<u32>>> {
    check_len("GPTQ g_idx", k, g_idx.len())?;
    if let Some(i) = g_idx
        .iter()
        .position(|&v| usize::try_from(v).map_or(true, |v| v >= groups))
    {
        return Err(Error::InvalidParameter {
            what: format!(
                "GPTQ g_idx[{i}] = {} is outside the {groups} groups 0..{groups}",
                g_idx[i]
            ),
        });
    }
    // Every value is now in 0..groups, so the casts below are lossless.
    if g_idx.iter().enumerate().all(|(i, &v)| v as usize == i / g) {
        return Ok(None);
    }
    let mut counts = vec![0usize; groups];
    for &v in g_idx {
        counts[v as usize] += 1;
    }
    if let Some(j) = counts.iter().position(|&c| c != g) {
        return Err(Error::Unsupported {
            what: format!(
                "GPTQ act-order g_idx puts {} input features in group {j}; lowbit groups are \
                 contiguous runs of exactly g = {g} columns, so every group must have {g} members",
                counts[j]
            ),
        });
    }
    if u32::try_from(k - 1).is_err() {
        return Err(Error::Unsupported {
            what: format!("K = {k} is too large for a u32 input permutation"),
        });
    }
    // Stable counting sort of the features by group.
    let mut next: Vec<usize> = (0..groups).map(|j| j * g).collect();
    let mut perm = vec![0u32; k];
    for (i, &v) in g_idx.iter().enumerate() {
        let slot = &mut next[v as usize];
        perm[*slot] = i as u32;
        *slot += 1;
    }
    Ok(Some(perm))
}

/// Imports a GPTQ linear layer (AutoGPTQ `QuantLinear` / exllama, `checkpoint_format`
/// `gptq` or GPTQModel's `gptq_v2`).
///
/// The source dequantizes as `W[n][k] = scales[g][n] * (q[k][n] - z[g][n])` with
/// `g = g_idx[k]`; the result dequantizes to the same values. Requirements, each checked:
/// `bits` in {2, 3, 4, 8}; `K * bits` and `N * bits` multiples of 32 (whole `int32`
/// words); `group` valid for `K`; `qweight`, `qzeros`, `scales` and `g_idx` of exactly the
/// documented lengths; every `g_idx` value in `0..K/g`. Under act-order every group must
/// hold exactly `g` features ([`Error::Unsupported`] otherwise). A v1 8-bit zero-point
/// field of 255 means `z = 256`, which a u8 zero-point cannot hold
/// ([`Error::Unsupported`]). Symmetric GPTQ checkpoints import as zero-point matrices
/// (with `z = 2^(b-1)` everywhere).
pub fn import_gptq(config: &GptqConfig, tensors: &GptqTensors<'_>) -> Result<GptqImport> {
    let GptqConfig {
        n,
        k,
        bits,
        group,
        zeros: convention,
    } = *config;
    if !matches!(bits, 2 | 3 | 4 | 8) {
        return Err(Error::InvalidParameter {
            what: format!("GPTQ bit width must be 2, 3, 4 or 8, not {bits}"),
        });
    }
    let format = IntFormat::with_zero_point(bits, group);
    let layout = format.layout(n, k)?;
    let (g, groups) = (layout.group_len, layout.groups_per_row);
    let b = usize::from(bits);

    let k_bits = mul(k, b)?;
    if !k_bits.is_multiple_of(32) {
        return Err(Error::InvalidShape {
            what: format!(
                "GPTQ qweight packs K * bits = {k} * {bits} bits per column into int32 words; \
                 that must be a multiple of 32"
            ),
        });
    }
    let n_bits = mul(n, b)?;
    if !n_bits.is_multiple_of(32) {
        return Err(Error::InvalidShape {
            what: format!(
                "GPTQ qzeros packs N * bits = {n} * {bits} bits per row into int32 words; \
                 that must be a multiple of 32"
            ),
        });
    }
    let qw_rows = k_bits / 32;
    let qz_cols = n_bits / 32;
    check_len("GPTQ qweight", mul(qw_rows, n)?, tensors.qweight.len())?;
    check_len("GPTQ qzeros", mul(groups, qz_cols)?, tensors.qzeros.len())?;
    check_len("GPTQ scales", mul(groups, n)?, tensors.scales.len())?;
    let perm = match tensors.g_idx {
        Some(g_idx) => gptq_perm(g_idx, k, g, groups)?,
        None => None,
    };

    let bits32 = u32::from(bits);
    let mut zeros = vec![0u8; n * groups];
    for j in 0..groups {
        let row = &tensors.qzeros[j * qz_cols..(j + 1) * qz_cols];
        for c in 0..n {
            let field = stream_get(|w| bits_of(row[w]), c * b, bits32);
            let z = match convention {
                GptqZeros::V1 => u16::from(field) + 1,
                GptqZeros::V2 => u16::from(field),
            };
            zeros[c * groups + j] = u8::try_from(z).map_err(|_| Error::Unsupported {
                what: format!(
                    "GPTQ v1 zero-point field {field} (group {j}, channel {c}) means z = {z}, \
                     which does not fit lowbit's u8 zero-point"
                ),
            })?;
        }
    }

    let mut scales = vec![f16::ZERO; n * groups];
    for (j, row) in tensors.scales.chunks_exact(n).enumerate() {
        for (c, &s) in row.iter().enumerate() {
            scales[c * groups + j] = s;
        }
    }

    let qweight = tensors.qweight;
    let mut codes = vec![0u8; n * k];
    for (c, out) in codes.chunks_exact_mut(k).enumerate() {
        let word = |r: usize| bits_of(qweight[r * n + c]);
        for (j, o) in out.iter_mut().enumerate() {
            let src = perm.as_ref().map_or(j, |p| p[j] as usize);
            *o = stream_get(word, src * b, bits32);
        }
    }

    let matrix = assemble(format, n, k, &codes, scales, Some(zeros))?;
    Ok(GptqImport { matrix, perm })
}

// ---------------------------------------------------------------------------------------
// AWQ
// ---------------------------------------------------------------------------------------

/// AutoAWQ's GEMM packing order: nibble `i` of an `int32` (counting from the least
/// significant) holds output channel `8*w + AWQ_PACK_ORDER[i]` of word `w`.
pub const AWQ_PACK_ORDER: [usize; 8] = [0, 2, 4, 6, 1, 3, 5, 7];

/// The tensors of an AutoAWQ `WQLinear_GEMM` layer, as `int32` / `float16` values.
#[derive(Debug, Clone, Copy)]
pub struct AwqTensors<'a> {
    /// `qweight`, `[K][N/8]`: 4-bit codes packed along `N` in [`AWQ_PACK_ORDER`].
    pub qweight: &'a [i32],
    /// `qzeros`, `[K/g][N/8]`: 4-bit zero-points, stored directly, same order.
    pub qzeros: &'a [i32],
    /// `scales`, `[K/g][N]`.
    pub scales: &'a [f16],
}

/// Imports an AutoAWQ GEMM-layout 4-bit layer: `W[n][k] = scales[k/g][n] * (q - z)`.
///
/// `group` is the checkpoint's `q_group_size` ([`Group::PerRow`] for -1) and must be one
/// lowbit supports for `K`; `N` must be a multiple of 8; every buffer must have exactly
/// its documented length. The result is INT4 with zero-points and dequantizes exactly.
pub fn import_awq(n: usize, k: usize, group: Group, tensors: &AwqTensors<'_>) -> Result<IntMatrix> {
    let format = IntFormat::with_zero_point(4, group);
    let layout = format.layout(n, k)?;
    let groups = layout.groups_per_row;
    if !n.is_multiple_of(8) {
        return Err(Error::InvalidShape {
            what: format!("AWQ packs 8 output channels per int32; N = {n} is not a multiple of 8"),
        });
    }
    let words = n / 8;
    check_len("AWQ qweight", mul(k, words)?, tensors.qweight.len())?;
    check_len("AWQ qzeros", mul(groups, words)?, tensors.qzeros.len())?;
    check_len("AWQ scales", mul(groups, n)?, tensors.scales.len())?;

    let mut codes = vec![0u8; n * k];
    for (kk, row) in tensors.qweight.chunks_exact(words).enumerate() {
        for (w, &v) in row.iter().enumerate() {
            let v = bits_of(v);
            for (i, &ch) in AWQ_PACK_ORDER.iter().enumerate() {
                codes[(8 * w + ch) * k + kk] = ((v >> (4 * i)) & 0xF) as u8;
            }
        }
    }
    let mut zeros = vec![0u8; n * groups];
    for (j, row) in tensors.qzeros.chunks_exact(words).enumerate() {
        for (w, &v) in row.iter().enumerate() {
            let v = bits_of(v);
            for (i, &ch) in AWQ_PACK_ORDER.iter().enumerate() {
                zeros[(8 * w + ch) * groups + j] = ((v >> (4 * i)) & 0xF) as u8;
            }
        }
    }
    let mut scales = vec![f16::ZERO; n * groups];
    for (j, row) in tensors.scales.chunks_exact(n).enumerate() {
        for (c, &s) in row.iter().enumerate() {
            scales[c * groups + j] = s;
        }
    }
    assemble(format, n, k, &codes, scales, Some(zeros))
}

// ---------------------------------------------------------------------------------------
// llama.cpp Q4_0 / Q4_1 / Q8_0
// ---------------------------------------------------------------------------------------

/// Elements per llama.cpp `Q4_0` / `Q4_1` / `Q8_0` block.
pub const GGML_BLOCK: usize = 32;
/// Bytes of a `block_q4_0`: f16 `d`, then 16 bytes of nibbles.
pub const Q4_0_BLOCK_BYTES: usize = 18;
/// Bytes of a `block_q4_1`: f16 `d`, f16 `m`, then 16 bytes of nibbles.
pub const Q4_1_BLOCK_BYTES: usize = 20;
/// Bytes of a `block_q8_0`: f16 `d`, then 32 `int8` quants.
pub const Q8_0_BLOCK_BYTES: usize = 34;

/// Checks the shape of an `n x k` llama.cpp tensor of `block_bytes`-byte blocks and the
/// length of its data; returns the blocks per row.
fn ggml_blocks(
    n: usize,
    k: usize,
    data: &[u8],
    block_bytes: usize,
    what: &'static str,
) -> Result<usize> {
    if n == 0 || k == 0 {
        return Err(Error::InvalidShape {
            what: format!("{what}: N and K must be at least 1 (got {n} x {k})"),
        });
    }
    if !k.is_multiple_of(GGML_BLOCK) {
        return Err(Error::InvalidShape {
            what: format!("{what}: rows are blocks of {GGML_BLOCK}; K = {k} is not a multiple of {GGML_BLOCK}"),
        });
    }
    let per_row = k / GGML_BLOCK;
    check_len(what, mul(mul(n, per_row)?, block_bytes)?, data.len())?;
    Ok(per_row)
}

/// The little-endian f16 at `bytes[at..at + 2]`.
#[inline]
fn le_f16(bytes: &[u8], at: usize) -> f16 {
    f16::from_bits(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// Splits 16 llama.cpp nibble bytes into 32 codes: element `j` is the low nibble of
/// `qs[j]` and element `j + 16` its high nibble.
#[inline]
fn ggml_nibbles(qs: &[u8], out: &mut [u8]) {
    for (j, &q) in qs.iter().enumerate() {
        out[j] = q & 0xF;
        out[j + 16] = q >> 4;
    }
}

/// Imports a llama.cpp `Q4_0` tensor of `n` rows by `k` columns (`data` is the raw
/// little-endian `block_q4_0` array, `n * k / 32` blocks of [`Q4_0_BLOCK_BYTES`], row
/// after row). `Q4_0` is `d * (q - 8)`, so the result is symmetric INT4 with `g = 32`,
/// scale `d` and the same codes (regrouped into lowbit's nibble order): exact, including
/// non-finite `d`, which is passed through unchanged.
pub fn import_q4_0(n: usize, k: usize, data: &[u8]) -> Result<IntMatrix> {
    let per_row = ggml_blocks(n, k, data, Q4_0_BLOCK_BYTES, "Q4_0 data")?;
    let mut codes = vec![0u8; n * k];
    let mut scales = Vec::with_capacity(n * per_row);
    for (b, out) in data
        .chunks_exact(Q4_0_BLOCK_BYTES)
        .zip(codes.chunks_exact_mut(GGML_BLOCK))
    {
        scales.push(le_f16(b, 0));
        ggml_nibbles(&b[2..], out);
    }
    assemble(
        IntFormat::symmetric(4, Group::Size(GGML_BLOCK)),
        n,
        k,
        &codes,
        scales,
        None,
    )
}

/// Imports a llama.cpp `Q8_0` tensor (`data`: `n * k / 32` little-endian `block_q8_0` of
/// [`Q8_0_BLOCK_BYTES`]). `Q8_0` is `d * q` with `q` an `int8`; lowbit INT8 is unsigned
/// with the symmetric zero-point 128, so the code is `q + 128` and the scale `d`: exact.
pub fn import_q8_0(n: usize, k: usize, data: &[u8]) -> Result<IntMatrix> {
    let per_row = ggml_blocks(n, k, data, Q8_0_BLOCK_BYTES, "Q8_0 data")?;
    let mut codes = vec![0u8; n * k];
    let mut scales = Vec::with_capacity(n * per_row);
    for (b, out) in data
        .chunks_exact(Q8_0_BLOCK_BYTES)
        .zip(codes.chunks_exact_mut(GGML_BLOCK))
    {
        scales.push(le_f16(b, 0));
        for (o, &q) in out.iter_mut().zip(&b[2..]) {
            // Two's complement q + 128 is q with its top bit flipped.
            *o = q ^ 0x80;
        }
    }
    assemble(
        IntFormat::symmetric(8, Group::Size(GGML_BLOCK)),
        n,
        k,
        &codes,
        scales,
        None,
    )
}

/// A llama.cpp `Q4_1` tensor converted to INT4 with zero-points, and how far it moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Q41Import {
    /// The converted weights: INT4, zero-points, `g = 32`.
    pub matrix: IntMatrix,
    /// The largest `|w_q41 - w_lowbit|` over all elements, in exact arithmetic (per block
    /// it is `|m + z*d|`, the same for every element of the block). 0 when exact.
    pub max_abs_error: f64,
    /// How many blocks did not convert exactly.
    pub inexact_blocks: usize,
}

/// Imports a llama.cpp `Q4_1` tensor (`data`: `n * k / 32` little-endian `block_q4_1` of
/// [`Q4_1_BLOCK_BYTES`]), whose value is `d * q + m` with an f16 offset `m`.
///
/// lowbit's zero-point is a u8 integer, so `m` is rounded: the codes and the scale `d` are
/// kept, and `z = clamp(rne(-m / d), 0, 16)`, giving `d * (q - z) = d * q - z * d`. The
/// conversion is exact whenever `m` is an integer multiple of `-d` in `-16d..=0`
/// (`z * |d|` is then at most `16 * |d|`): the same `f32` bits as llama.cpp's `q*d + m`,
/// except that with `d < 0` an element with `q == z` decodes to `-0.0` instead of `+0.0`
/// (llama.cpp's own quantizer never writes a negative `d`). Otherwise every element of
/// that block moves by `|m + z*d|`, reported in [`Q41Import::max_abs_error`]. A block with `d == 0` (all
/// elements equal `m`) is converted exactly by setting its codes to 0, `z = 1` and scale
/// `-m`. A non-finite `d` or `m` is an [`Error::InvalidParameter`].
pub fn import_q4_1(n: usize, k: usize, data: &[u8]) -> Result<Q41Import> {
    let per_row = ggml_blocks(n, k, data, Q4_1_BLOCK_BYTES, "Q4_1 data")?;
    let mut codes = vec![0u8; n * k];
    let mut scales = vec![f16::ZERO; n * per_row];
    let mut zeros = vec![0u8; n * per_row];
    let mut max_abs_error = 0.0f64;
    let mut inexact_blocks = 0usize;
    for (i, (b, out)) in data
        .chunks_exact(Q4_1_BLOCK_BYTES)
        .zip(codes.chunks_exact_mut(GGML_BLOCK))
        .enumerate()
    {
        let (d, m) = (le_f16(b, 0), le_f16(b, 2));
        if !d.is_finite() || !m.is_finite() {
            return Err(Error::InvalidParameter {
                what: format!(
                    "Q4_1 block {} of row {} has a non-finite d ({d}) or m ({m})",
                    i % per_row,
                    i / per_row
                ),
            });
        }
        let (df, mf) = (f64::from(d.to_f32()), f64::from(m.to_f32()));
        if df == 0.0 {
            // Every element is m: codes 0 with z = 1 and scale -m give -m * (0 - 1) = m.
            out.fill(0);
            scales[i] = -m;
            zeros[i] = 1;
            continue;
        }
        ggml_nibbles(&b[4..], out);
        let z = (-mf / df).round_ties_even().clamp(0.0, 16.0);
        let err = (mf + z * df).abs();
        if err != 0.0 {
            inexact_blocks += 1;
            max_abs_error = max_abs_error.max(err);
        }
        scales[i] = d;
        zeros[i] = z as u8;
    }
    let format = IntFormat::with_zero_point(4, Group::Size(GGML_BLOCK));
    let matrix = assemble(format, n, k, &codes, scales, Some(zeros))?;
    Ok(Q41Import {
        matrix,
        max_abs_error,
        inexact_blocks,
    })
}
