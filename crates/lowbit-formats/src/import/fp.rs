//! Importers of other projects' FP4 / FP6 tensors into the canonical [`FpMatrix`].
//!
//! Re-exported from [`crate::import`]; see the table there. Every function validates every
//! shape and buffer length before it allocates, and returns an [`Error`] on any mismatch
//! (including the E8M0 NaN byte `0xFF`); none panics on bad input.

use super::{ggml_blocks, mul, GGML_BLOCK};
use crate::error::check_len;
use crate::fp::{FpElem, FpFormat, FpMatrix, FpScale, FpScales};
use crate::minifloat::E8M0_NAN;
use crate::{f16, Error, Group, Result};

/// Elements per MXFP4 block (OCP MX: one E8M0 scale per 32 elements).
pub const MX_BLOCK: usize = 32;

/// Bytes of a llama.cpp `block_mxfp4` (`ggml/src/ggml-common.h`): the E8M0 byte `e`, then
/// `qs[16]`, 16 bytes of 4-bit codes.
pub const MXFP4_BLOCK_BYTES: usize = 17;

/// Bytes of the 4-bit codes of one MXFP4 block of 32 elements (the innermost dimension of
/// a Hugging Face `*_blocks` tensor).
pub const MXFP4_BLOCK_CODE_BYTES: usize = 16;

/// The E8M0 NaN check shared by both MXFP4 importers: `0xFF` is NaN in OCP MX and refused
/// by lowbit (llama.cpp's `ggml_e8m0_to_fp32_half` would read it as `2^127`, transformers'
/// `ldexp` as `2^128`; neither is a scale lowbit can represent).
fn check_e8m0(e: u8, i: usize, per_row: usize, what: &str) -> Result<()> {
    if e == E8M0_NAN {
        return Err(Error::InvalidParameter {
            what: format!(
                "{what}: block {} of row {} has the E8M0 NaN scale byte 0xFF",
                i % per_row,
                i / per_row
            ),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// MXFP4, llama.cpp GGUF
// ---------------------------------------------------------------------------------------

/// Imports a llama.cpp / GGUF `MXFP4` tensor (`GGML_TYPE_MXFP4`) of `n` rows by `k`
/// columns: `data` is the raw `block_mxfp4` array, `n * k / 32` blocks of
/// [`MXFP4_BLOCK_BYTES`], row after row (a GGUF tensor with `ne = [k, n]`; expert `x` of a
/// 3-D MoE tensor `ne = [k, n, experts]` is the `n * k / 32 * 17` bytes starting at
/// `x * n * k / 32 * 17`). The result is MXFP4 ([`FpFormat::mxfp4`]).
///
/// The layout, from llama.cpp (`ggml/src/ggml-common.h` `block_mxfp4`,
/// `ggml/src/ggml-quants.c` `dequantize_row_mxfp4`, `ggml/src/ggml-impl.h`
/// `ggml_e8m0_to_fp32_half`):
/// - byte 0 of a block is the E8M0 exponent `e`, kept as lowbit's E8M0 scale byte;
/// - byte `1 + j` (`j` in `0..16`) holds element `j` of the block in its **low** nibble and
///   element `j + 16` in its **high** nibble (split halves, as in `Q4_0`; lowbit's order
///   is `2i` low / `2i + 1` high, so the nibbles are regrouped);
/// - a nibble `c` indexes `kvalues_mxfp4 = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, ..., -12}`,
///   which is `2 * E2M1(c)`, and the block scale is `ggml_e8m0_to_fp32_half(e) =
///   2^(e - 128)` (`e = 0, 1` as the `f32` subnormals `2^-128`, `2^-127`). So
///   `y = kvalues[c] * 2^(e - 128) = E2M1(c) * 2^(e - 127)`: the nibble is the E2M1 code
///   itself and the byte the standard E8M0 scale.
///
/// Exact: lowbit's `e8m0(e) * e2m1(c)` and llama.cpp's `kvalues[c] * half(e)` are the same
/// real number rounded once, so every element has the same `f32` value (overflow to `inf`
/// at `e = 254` included). The one difference is the sign of a zero: code 8 is E2M1 `-0`
/// and decodes to `-0.0` in lowbit, while llama.cpp's integer table gives `+0.0`
/// (`-0.0 == +0.0`; codes are kept so the planes round-trip unchanged).
///
/// # Errors
/// [`Error::InvalidShape`] if `n` or `k` is 0, `k` is not a multiple of 32, or the shape
/// overflows; [`Error::BufferLength`] if `data` is not exactly `n * k / 32 * 17` bytes;
/// [`Error::InvalidParameter`] for a block whose E8M0 byte is the NaN code `0xFF`.
pub fn import_mxfp4_ggml(n: usize, k: usize, data: &[u8]) -> Result<FpMatrix> {
    let what = "MXFP4 (llama.cpp) data";
    let per_row = ggml_blocks(n, k, data, MXFP4_BLOCK_BYTES, what)?;
    let format = FpFormat::mxfp4();
    let layout = format.layout(n, k)?;
    let mut codes = vec![0u8; layout.plane0_len];
    let mut scales = Vec::with_capacity(layout.scales_len);
    for (i, (b, out)) in data
        .chunks_exact(MXFP4_BLOCK_BYTES)
        .zip(codes.chunks_exact_mut(GGML_BLOCK / 2))
        .enumerate()
    {
        check_e8m0(b[0], i, per_row, what)?;
        scales.push(b[0]);
        let qs = &b[1..];
        // lowbit byte t holds elements 2t (low) and 2t + 1 (high); llama.cpp keeps element
        // j < 16 in the low nibble of qs[j] and element j + 16 in the high nibble of qs[j].
        for (t, o) in out.iter_mut().enumerate() {
            let nibble = |e: usize| {
                if e < 16 {
                    qs[e] & 0xF
                } else {
                    qs[e - 16] >> 4
                }
            };
            *o = nibble(2 * t) | (nibble(2 * t + 1) << 4);
        }
    }
    FpMatrix::from_parts(format, n, k, codes, FpScales::E8M0(scales))
}

// ---------------------------------------------------------------------------------------
// MXFP4, Hugging Face (gpt-oss) safetensors
// ---------------------------------------------------------------------------------------

/// Checks an MXFP4 `n x k` shape for the Hugging Face layout; returns `k / 32`.
fn hf_shape(n: usize, k: usize) -> Result<usize> {
    if n == 0 || k == 0 {
        return Err(Error::InvalidShape {
            what: format!("MXFP4 (Hugging Face): N and K must be at least 1 (got {n} x {k})"),
        });
    }
    if !k.is_multiple_of(MX_BLOCK) {
        return Err(Error::InvalidShape {
            what: format!(
                "MXFP4 (Hugging Face): rows are blocks of {MX_BLOCK}; K = {k} is not a multiple of {MX_BLOCK}"
            ),
        });
    }
    Ok(k / MX_BLOCK)
}

/// Imports one 2-D slice of a Hugging Face MXFP4 tensor pair, as gpt-oss stores its MoE
/// experts in safetensors (`*_blocks` / `*_scales`, dequantized by transformers'
/// `src/transformers/integrations/mxfp4.py` `convert_moe_packed_tensors`). The result is
/// MXFP4 ([`FpFormat::mxfp4`]).
///
/// - `blocks`: the raw bytes of a `uint8` `[n, k / 32, 16]` slice: byte `j` of block `b` of
///   row `r` holds element `32b + 2j` of the row in its **low** nibble and element
///   `32b + 2j + 1` in its **high** nibble (`sub[:, 0::2] = lut[blk & 0x0F]`,
///   `sub[:, 1::2] = lut[blk >> 4]`). That is exactly lowbit's nibble order (and *not*
///   llama.cpp's, which puts elements `j` and `j + 16` in one byte), so the bytes become
///   plane 0 unchanged.
/// - `scales`: the raw bytes of the `uint8` `[n, k / 32]` slice of E8M0 exponents:
///   `torch.ldexp(lut[c], scales - 127)`, i.e. `2^(e - 127)`, lowbit's E8M0 scale.
/// - The code table `FP4_VALUES` is E2M1 in code order, `-0.0` at code 8 included: lowbit's
///   table exactly.
///
/// Orientation: the stored tensors are `[..., out_features, in_features / 32, 16]`, rows =
/// output channels with the blocks running along the reduction axis, which is lowbit's
/// orientation, so nothing is transposed here. (transformers transposes only *after*
/// dequantizing, `out.transpose(1, 2)`, to get the `[experts, in, out]` dense parameter
/// its `x @ W` forward uses.) For gpt-oss:
/// - `gate_up_proj_blocks` `[experts, 2 * intermediate_size, hidden_size / 32, 16]`:
///   `n = 2 * intermediate_size`, `k = hidden_size`; the rows interleave gate and up
///   (row `2i` is gate channel `i`, row `2i + 1` up channel `i`, matching
///   `gate_up[..., ::2]` / `gate_up[..., 1::2]` in the model);
/// - `down_proj_blocks` `[experts, hidden_size, intermediate_size / 32, 16]`:
///   `n = hidden_size`, `k = intermediate_size`.
///
/// Pick one expert's slices of the full tensors with [`hf_mxfp4_expert`].
///
/// Exact: every element equals `FP4_VALUES[c] * 2^(e - 127)` (what transformers computes;
/// its default `bfloat16` output holds these values exactly unless they overflow), with
/// the same sign of zero.
///
/// # Errors
/// [`Error::InvalidShape`] if `n` or `k` is 0, `k` is not a multiple of 32, or the shape
/// overflows; [`Error::BufferLength`] if `blocks` is not `n * k / 2` bytes or `scales` not
/// `n * k / 32` bytes; [`Error::InvalidParameter`] for a scale byte `0xFF` (NaN).
pub fn import_mxfp4_hf(n: usize, k: usize, blocks: &[u8], scales: &[u8]) -> Result<FpMatrix> {
    let per_row = hf_shape(n, k)?;
    let format = FpFormat::mxfp4();
    let layout = format.layout(n, k)?;
    check_len(
        "MXFP4 (Hugging Face) blocks",
        mul(mul(n, per_row)?, MXFP4_BLOCK_CODE_BYTES)?,
        blocks.len(),
    )?;
    check_len(
        "MXFP4 (Hugging Face) scales",
        mul(n, per_row)?,
        scales.len(),
    )?;
    for (i, &e) in scales.iter().enumerate() {
        check_e8m0(e, i, per_row, "MXFP4 (Hugging Face) scales")?;
    }
    debug_assert_eq!(layout.plane0_len, blocks.len());
    FpMatrix::from_parts(
        format,
        n,
        k,
        blocks.to_vec(),
        FpScales::E8M0(scales.to_vec()),
    )
}

/// The `(blocks, scales)` byte slices of expert `expert` in full Hugging Face MXFP4
/// tensors `blocks` `[experts, n, k / 32, 16]` and `scales` `[experts, n, k / 32]` (both
/// row-major `uint8`, as in a safetensors file), ready for [`import_mxfp4_hf`] with the
/// same `n` and `k`. Expert `x` is the contiguous range starting at `x * n * k / 2` bytes of
/// `blocks` and `x * n * k / 32` bytes of `scales`.
///
/// # Errors
/// As [`import_mxfp4_hf`] for the shape; [`Error::InvalidShape`] if `experts` is 0;
/// [`Error::BufferLength`] if a tensor does not hold exactly `experts` slices;
/// [`Error::InvalidParameter`] if `expert >= experts`.
pub fn hf_mxfp4_expert<'a>(
    blocks: &'a [u8],
    scales: &'a [u8],
    experts: usize,
    n: usize,
    k: usize,
    expert: usize,
) -> Result<(&'a [u8], &'a [u8])> {
    let per_row = hf_shape(n, k)?;
    if experts == 0 {
        return Err(Error::InvalidShape {
            what: "MXFP4 (Hugging Face): the number of experts must be at least 1".into(),
        });
    }
    let scales_per = mul(n, per_row)?;
    let blocks_per = mul(scales_per, MXFP4_BLOCK_CODE_BYTES)?;
    check_len(
        "MXFP4 (Hugging Face) expert blocks",
        mul(experts, blocks_per)?,
        blocks.len(),
    )?;
    check_len(
        "MXFP4 (Hugging Face) expert scales",
        mul(experts, scales_per)?,
        scales.len(),
    )?;
    if expert >= experts {
        return Err(Error::InvalidParameter {
            what: format!("expert {expert} is out of range for {experts} experts"),
        });
    }
    Ok((
        &blocks[expert * blocks_per..(expert + 1) * blocks_per],
        &scales[expert * scales_per..(expert + 1) * scales_per],
    ))
}

// ---------------------------------------------------------------------------------------
// FP6, FP6-LLM / DeepSpeed packed bitstream
// ---------------------------------------------------------------------------------------

/// Imports an FP6 weight matrix stored as the packed FP6 bitstream of FP6-LLM / DeepSpeed
/// (before their GPU-specific prepacking), with `f16` scales, into the canonical 4+2 split
/// (plane 0 the low four bits of each code, plane 1 the top two; see
/// [`FpMatrix::from_planes`]). The result has format `FpFormat::new(elem, group,
/// FpScale::F16)`.
///
/// The bitstream (`packed`, `n * k * 3 / 4` bytes): each row is `k * 6 / 8` bytes, rows
/// back to back; codes run MSB first, 4 codes in 3 bytes:
/// `byte0 = c0 << 2 | c1 >> 4`, `byte1 = (c1 & 0xF) << 4 | c2 >> 2`,
/// `byte2 = (c2 & 3) << 6 | c3` (stream bit `i` is bit `7 - i % 8` of byte `i / 8`, code
/// `j` occupies stream bits `6j .. 6j + 6`). It is what these emit:
/// - FP6-LLM (usyd-fsalab/fp6_llm): the `fp6_weight` input of `weight_prepacking_cpu` /
///   `weight_dequant_cpu` (int32 `[OC, IC / 16 * 3]`, "3 INT32 words contains 16 FP6
///   weights"), read as bytes by `fp6_llm/csrc/utils/common.h` `Extract_X_Bits_To_A_Byte`
///   and produced by `fp6_llm/csrc/utils/weight_quant.h` `weight_prepacking_fp16_to_fp6` /
///   `cast_fp16_fp6`. Pass the tensor's **memory bytes** (for example
///   `tensor.numpy().tobytes()`), not its int32 values: the int32 type is only a container.
/// - DeepSpeed (`deepspeed/inference/v2/kernels/core_ops/cuda_linear/cuda_linear_kernels.cpp`
///   `PackMatrix_Weight_FP6` / `Cast_FP16_FP6`, called by `preprocess_weight` on the
///   output of `fp_quantize` in `.../modules/implementations/linear/quantized_linear.py`,
///   before `GenMatrix_Weight_FP6` splits it into the GPU's 2-bit and 4-bit fragments).
///
/// Codes: sign, then exponent, then mantissa. [`FpElem::E3M2`] has bias 3 and no Inf/NaN
/// (exponent `111` is an ordinary binade, max 28: FP6-LLM `weight_quant.h` and qtorch;
/// `DeQuantMatrix_FPx_To_FP16<3, 2>` in `fp6_llm/csrc/utils/weight_dequant.h` and DeepSpeed's
/// `utils_paralleldequant.cuh` multiply by `2^12`, i.e. bias 3). This is what both producers
/// ship. [`FpElem::E2M3`] reads the same bitstream with bias 1 (max 7.5), which is what the
/// templated `DeQuantMatrix_FPx_To_FP16<2, 3>` computes and what OCP MX calls E2M3, but
/// FP6-LLM's Python entry points dispatch only e3m2 (and e2m2).
///
/// Scales: `scales` is `[n][k / g]` row-major `f16` (`group` as in lowbit); FP6-LLM and
/// DeepSpeed quantize per output channel, so pass [`Group::PerRow`] with their `[OC]`
/// scale tensor (decode its little-endian bytes with [`super::f16s_from_le_bytes`]).
///
/// Exact: lowbit's value is the exact product `scale * fp6(c)` in `f32`; FP6-LLM's
/// `weight_dequant_cpu` evaluates the same product in `f32` and rounds it to `f16`, and
/// DeepSpeed's kernel multiplies in `f16` (`x * 4096`, exact, then `* scale`, rounded): both
/// are lowbit's value rounded once to `f16`.
///
/// # Errors
/// [`Error::InvalidParameter`] if `elem` is not an FP6 type or a scale is not finite;
/// [`Error::InvalidShape`] if `n` or `k` is 0, `k` is not a multiple of 4 (rows are whole
/// 3-byte units), or the shape overflows; [`Error::BadGroupSize`] for a group lowbit does
/// not support for `k`; [`Error::BufferLength`] if `packed` or `scales` has the wrong length.
pub fn import_fp6_packed(
    elem: FpElem,
    group: Group,
    n: usize,
    k: usize,
    packed: &[u8],
    scales: &[f16],
) -> Result<FpMatrix> {
    if elem.bits() != 6 {
        return Err(Error::InvalidParameter {
            what: format!(
                "the packed FP6 bitstream holds E3M2 or E2M3 codes, not {}",
                elem.name()
            ),
        });
    }
    if n == 0 || k == 0 {
        return Err(Error::InvalidShape {
            what: format!("FP6 packed: N and K must be at least 1 (got {n} x {k})"),
        });
    }
    if !k.is_multiple_of(4) {
        return Err(Error::InvalidShape {
            what: format!(
                "FP6 packed: rows are units of 4 codes in 3 bytes; K = {k} is not a multiple of 4"
            ),
        });
    }
    let format = FpFormat::new(elem, group, FpScale::F16);
    let layout = format.layout(n, k)?;
    check_len("FP6 packed weights", mul(n, k / 4 * 3)?, packed.len())?;
    check_len("FP6 scales", layout.scales_len, scales.len())?;

    let mut lo = vec![0u8; layout.plane0_len];
    let mut hi = vec![0u8; layout.plane1_len];
    // K is a multiple of 4, so every row is exactly K/4 units of (3 source bytes, 2 bytes
    // of plane 0, 1 byte of plane 1), and the rows of all three buffers line up.
    for ((src, out0), out1) in packed
        .chunks_exact(3)
        .zip(lo.chunks_exact_mut(2))
        .zip(hi.iter_mut())
    {
        let (b0, b1, b2) = (src[0], src[1], src[2]);
        let c = [
            b0 >> 2,
            ((b0 & 0x3) << 4) | (b1 >> 4),
            ((b1 & 0xF) << 2) | (b2 >> 6),
            b2 & 0x3F,
        ];
        out0[0] = (c[0] & 0xF) | ((c[1] & 0xF) << 4);
        out0[1] = (c[2] & 0xF) | ((c[3] & 0xF) << 4);
        *out1 = (c[0] >> 4) | ((c[1] >> 4) << 2) | ((c[2] >> 4) << 4) | ((c[3] >> 4) << 6);
    }
    FpMatrix::from_planes(format, n, k, lo, hi, FpScales::F16(scales.to_vec()))
}

// ---------------------------------------------------------------------------------------
// NVFP4: NVIDIA ModelOpt checkpoints and llama.cpp GGUF
// ---------------------------------------------------------------------------------------

/// Elements per NVFP4 scale (one E4M3 byte per 16 elements).
pub const NVFP4_GROUP: usize = 16;

/// Elements per llama.cpp `block_nvfp4` (`QK_NVFP4`): four sub-blocks of 16.
pub const NVFP4_GGML_BLOCK: usize = 64;

/// Bytes of a llama.cpp `block_nvfp4` (`ggml/src/ggml-common.h`): `d[4]`, the sub-blocks'
/// scale bytes, then `qs[32]`, the 4-bit codes.
pub const NVFP4_GGML_BLOCK_BYTES: usize = 36;

/// Checks an `n x k` NVFP4 shape whose rows are whole blocks of `block` elements.
fn nvfp4_shape(n: usize, k: usize, block: usize, what: &str) -> Result<usize> {
    if n == 0 || k == 0 || !k.is_multiple_of(block) {
        return Err(Error::InvalidShape {
            what: format!(
                "{what}: N and K must be at least 1 and K a multiple of {block} (got {n} x {k})"
            ),
        });
    }
    Ok(k / block)
}

/// Imports an NVFP4 linear layer as NVIDIA ModelOpt exports it to Hugging Face
/// safetensors (`quantization_config.quant_algo = "NVFP4"`), `n` output channels by `k`
/// inputs. The result is [`FpFormat::nvfp4`].
///
/// The tensors, from ModelOpt (`modelopt/torch/quantization/qtensor/nvfp4_tensor.py`)
/// and their readers (vLLM's `modelopt.py`, TensorRT-LLM):
/// - `weight`: `uint8 [n, k / 2]`, element `2i` of a row in the **low** nibble of byte
///   `i` and element `2i + 1` in the high nibble (`(q[..., 1::2] << 4) | q[..., 0::2]`):
///   lowbit's nibble order, so the bytes become plane 0 unchanged. Codes are E2M1 (bit 3
///   the sign).
/// - `weight_scale`: `float8_e4m3fn [n, k / 16]`, one scale per 16 elements (its raw
///   bytes; lowbit's E4M3 scale bytes unchanged).
/// - `weight_scale_2`: the `f32` per-tensor scale (`amax / (6 * 448)`; some checkpoints
///   store it as `bfloat16`: widen it first).
///
/// Value: `w = e2m1(c) * weight_scale * weight_scale_2`; lowbit evaluates it as
/// `e2m1(c) * fl32(e4m3(b) * weight_scale_2)`, which is the same real number rounded at
/// most twice (exact when `weight_scale_2` is a power of two). The compressed-tensors
/// variant (`nvfp4-pack-quantized`: `weight_packed`, `weight_scale`,
/// `weight_global_scale`) stores the reciprocal: pass `1.0 / weight_global_scale`.
///
/// # Errors
/// [`Error::InvalidShape`] if `n` or `k` is 0 or `k` is not a multiple of 16;
/// [`Error::BufferLength`] if `weight` is not `n * k / 2` bytes or `weight_scale` not
/// `n * k / 16`; [`Error::InvalidParameter`] for an E4M3 NaN byte (`0x7F` / `0xFF`) or a
/// non-finite `weight_scale_2`.
pub fn import_nvfp4_modelopt(
    n: usize,
    k: usize,
    weight: &[u8],
    weight_scale: &[u8],
    weight_scale_2: f32,
) -> Result<FpMatrix> {
    let what = "NVFP4 (ModelOpt)";
    let per_row = nvfp4_shape(n, k, NVFP4_GROUP, what)?;
    check_len("NVFP4 (ModelOpt) weight", mul(n, k / 2)?, weight.len())?;
    check_len(
        "NVFP4 (ModelOpt) weight_scale",
        mul(n, per_row)?,
        weight_scale.len(),
    )?;
    FpMatrix::from_parts(
        FpFormat::nvfp4(),
        n,
        k,
        weight.to_vec(),
        FpScales::E4M3(weight_scale.to_vec(), weight_scale_2),
    )
}

/// Imports a llama.cpp / GGUF `NVFP4` tensor (`GGML_TYPE_NVFP4`) of `n` rows by `k`
/// columns: `data` is the raw `block_nvfp4` array, `n * k / 64` blocks of
/// [`NVFP4_GGML_BLOCK_BYTES`], row after row; `tensor_scale` is the per-tensor scale
/// llama.cpp keeps in a separate F32 tensor (`<name>.scale`, the ModelOpt
/// `weight_scale_2` its converter copies, applied to the matmul output), or 1 for a tensor
/// llama.cpp quantized itself (its scale bytes then hold the whole scale). The result is
/// [`FpFormat::nvfp4`].
///
/// The layout, from llama.cpp (`ggml/src/ggml-common.h` `block_nvfp4`,
/// `ggml/src/ggml-quants.c` `dequantize_row_nvfp4`, `ggml/src/ggml-impl.h`
/// `ggml_ue4m3_to_fp32`):
/// - bytes `0..4` are the scale bytes `d[s]` of the block's sub-blocks of 16 ("UE4M3":
///   the bits of a positive E4M3; the decoder ignores bit 7 and reads `0x7F` as 0), kept
///   as lowbit's E4M3 bytes with bit 7 cleared and `0x7F` mapped to `0x00`; `0xFF`, which
///   llama.cpp reads as 480 (no E4M3 value; neither its quantizer nor its converter
///   writes it), is refused;
/// - byte `4 + 8s + j` (`j` in `0..8`) holds element `16s + j` of the block in its **low**
///   nibble and element `16s + j + 8` in its **high** nibble (halves of each sub-block;
///   lowbit's order is `2i` low / `2i + 1` high, so the nibbles are regrouped);
/// - `y = kvalues_mxfp4[c] * ue4m3(d) / 2 = e2m1(c) * e4m3(d)` (the table is doubled and
///   the scale decoder halves), then times the tensor scale.
///
/// Exact for `tensor_scale = 1` (every element is the same `f32` as llama.cpp's, up to the
/// sign of a zero: lowbit keeps code 8 as `-0.0`); otherwise lowbit folds the tensor scale
/// into each group scale (`fl32(e4m3 * t)`) where llama.cpp scales the dot product.
///
/// # Errors
/// [`Error::InvalidShape`] if `n` or `k` is 0 or `k` is not a multiple of 64;
/// [`Error::BufferLength`] if `data` is not `n * k / 64 * 36` bytes;
/// [`Error::InvalidParameter`] for a non-finite `tensor_scale` or a scale byte `0xFF`.
pub fn import_nvfp4_ggml(n: usize, k: usize, data: &[u8], tensor_scale: f32) -> Result<FpMatrix> {
    let what = "NVFP4 (llama.cpp) data";
    let per_row = nvfp4_shape(n, k, NVFP4_GGML_BLOCK, what)?;
    check_len(
        what,
        mul(mul(n, per_row)?, NVFP4_GGML_BLOCK_BYTES)?,
        data.len(),
    )?;
    let mut codes = vec![0u8; mul(n, k / 2)?];
    let mut scales = Vec::with_capacity(mul(n, k / NVFP4_GROUP)?);
    for (b, out) in data
        .chunks_exact(NVFP4_GGML_BLOCK_BYTES)
        .zip(codes.chunks_exact_mut(NVFP4_GGML_BLOCK / 2))
    {
        let (d, qs) = b.split_at(4);
        for &u in d {
            scales.push(match u {
                0x7F => 0,
                // Bit 7 set: llama.cpp's decoder reads only bits 0..7 (exponent bits
                // masked to four), so 0xFF means 480, which no E4M3 byte holds.
                0xFF => {
                    return Err(Error::InvalidParameter {
                        what: format!(
                            "{what}: a block scale byte is 0xFF (480 to llama.cpp, beyond E4M3)"
                        ),
                    })
                }
                u => u & 0x7F,
            });
        }
        // lowbit byte t holds elements 2t (low) and 2t + 1 (high); llama.cpp keeps element
        // 16s + j (j < 8) in the low nibble of qs[8s + j] and 16s + j + 8 in its high one.
        let nibble = |e: usize| {
            let (s, j) = (e / 16, e % 16);
            let q = qs[8 * s + j % 8];
            if j < 8 {
                q & 0xF
            } else {
                q >> 4
            }
        };
        for (t, o) in out.iter_mut().enumerate() {
            *o = nibble(2 * t) | (nibble(2 * t + 1) << 4);
        }
    }
    FpMatrix::from_parts(
        FpFormat::nvfp4(),
        n,
        k,
        codes,
        FpScales::E4M3(scales, tensor_scale),
    )
}
