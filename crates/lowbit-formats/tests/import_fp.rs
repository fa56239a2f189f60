//! Tests of the FP importers in `lowbit_formats::import` (MXFP4 from llama.cpp GGUF blocks
//! and from Hugging Face / gpt-oss safetensors, NVFP4 from ModelOpt checkpoints and from
//! llama.cpp's `block_nvfp4`, the FP6-LLM / DeepSpeed packed FP6 bitstream) on hand-built
//! tensors.
//!
//! Each producer layout gets an independent *packer* written here from the producer's
//! code (llama.cpp `block_mxfp4`, transformers' `convert_moe_packed_tensors`, FP6-LLM's
//! `cast_fp16_fp6`, here as a generic MSB-first bit writer) and an independent reference
//! dequantizer modelled on the producer's own (`dequantize_row_mxfp4` with its doubled
//! `kvalues_mxfp4` table and `ggml_e8m0_to_fp32_half`; `FP4_VALUES` and `ldexp`;
//! `DeQuantMatrix_FPx_To_FP16`'s fp16 bit trick). A known lowbit matrix is exported,
//! imported and compared plane for plane; literal blocks pin the layouts down by hand.

use lowbit_formats::fp::{FpElem, FpFormat, FpMatrix, FpMatrixRef, FpScale};
use lowbit_formats::import::{
    hf_mxfp4_expert, import_fp6_packed, import_mxfp4_ggml, import_mxfp4_hf, import_nvfp4_ggml,
    import_nvfp4_modelopt, MXFP4_BLOCK_BYTES, NVFP4_GGML_BLOCK_BYTES,
};
use lowbit_formats::{f16, Error, Group};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-2, 2) times a power of two in 2^-6 ..= 2^6, so blocks differ in scale
    /// and some elements round to (signed) zero.
    fn value(&mut self) -> f32 {
        let r = self.next();
        let u = ((r >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0;
        u * 2f32.powi((r & 0xF) as i32 % 13 - 6)
    }
}

fn random_matrix(n: usize, k: usize, format: FpFormat, seed: u64) -> FpMatrix {
    let mut rng = Rng::new(seed);
    let w: Vec<f32> = (0..n * k).map(|_| rng.value()).collect();
    FpMatrix::quantize(&w, n, k, format).unwrap()
}

fn dequant(m: &FpMatrix) -> Vec<f32> {
    let l = m.layout();
    let mut out = vec![0.0; l.n * l.k];
    m.view().dequantize(&mut out).unwrap();
    out
}

fn assert_bits_eq(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "element {i}: got {g}, want {w}");
    }
}

fn e8m0(m: &FpMatrixRef<'_>, i: usize) -> u8 {
    m.scales().e8m0().expect("E8M0 scales")[i]
}

/// E2M1 in code order, `-0.0` at code 8 (transformers' `FP4_VALUES`; the OCP table).
const FP4_VALUES: [f32; 16] = [
    0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
];

// ---------------------------------------------------------------------------------------
// llama.cpp: packer and reference dequantizer
// ---------------------------------------------------------------------------------------

/// llama.cpp's `kvalues_mxfp4`: twice E2M1, with an integer (so positive) zero at code 8.
const KVALUES_MXFP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// llama.cpp's `ggml_e8m0_to_fp32_half`: `2^(e - 128)` built from bits, `e = 0, 1` as the
/// subnormals 2^-128 and 2^-127 (and, unchecked there, `0xFF` as 2^127).
fn ggml_e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}

/// llama.cpp's `dequantize_row_mxfp4` over a whole tensor.
fn ggml_reference(data: &[u8]) -> Vec<f32> {
    let mut y = Vec::new();
    for b in data.chunks_exact(MXFP4_BLOCK_BYTES) {
        let d = ggml_e8m0_half(b[0]);
        let mut block = [0.0f32; 32];
        for j in 0..16 {
            block[j] = f32::from(KVALUES_MXFP4[usize::from(b[1 + j] & 0xF)]) * d;
            block[j + 16] = f32::from(KVALUES_MXFP4[usize::from(b[1 + j] >> 4)]) * d;
        }
        y.extend(block);
    }
    y
}

/// Writes an MXFP4 matrix as `block_mxfp4`s: `e`, then `qs[j]` = element `j` (low nibble)
/// and element `j + 16` (high nibble) of the block.
fn ggml_pack(m: &FpMatrix) -> Vec<u8> {
    let v = m.view();
    let l = *v.layout();
    let mut out = Vec::new();
    for r in 0..l.n {
        for b in 0..l.k / 32 {
            out.push(e8m0(&v, r * (l.k / 32) + b));
            for j in 0..16 {
                out.push(v.code(r, 32 * b + j) | (v.code(r, 32 * b + j + 16) << 4));
            }
        }
    }
    out
}

/// lowbit's values against llama.cpp's: the same bits, except that code 8 (E2M1 `-0`) is
/// `-0.0` in lowbit and `+0.0` in llama.cpp.
fn assert_matches_ggml(m: &FpMatrix, data: &[u8]) {
    let (got, want) = (dequant(m), ggml_reference(data));
    let v = m.view();
    let k = v.k();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if v.code(i / k, i % k) == 8 {
            assert_eq!(g.to_bits(), (-0.0f32).to_bits(), "element {i}");
            assert_eq!(w.to_bits(), 0.0f32.to_bits(), "element {i}");
        } else {
            assert_eq!(g.to_bits(), w.to_bits(), "element {i}: got {g}, want {w}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// llama.cpp tests
// ---------------------------------------------------------------------------------------

/// One block per E8M0 byte; block `j` byte holds code `j` low and `15 - j` high, so every
/// E2M1 code appears in both nibble positions.
fn ggml_literal_blocks(exps: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    for &e in exps {
        data.push(e);
        data.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    }
    data
}

#[test]
fn mxfp4_ggml_literal_every_code_and_exponent() {
    let exps = [0u8, 1, 2, 100, 126, 127, 128, 200, 253, 254];
    let data = ggml_literal_blocks(&exps);
    let k = 32 * exps.len();
    let m = import_mxfp4_ggml(1, k, &data).unwrap();
    let v = m.view();
    assert_eq!(v.format(), FpFormat::mxfp4());
    for (b, &e) in exps.iter().enumerate() {
        assert_eq!(e8m0(&v, b), e);
        for j in 0..16 {
            assert_eq!(usize::from(v.code(0, 32 * b + j)), j, "block {b}");
            assert_eq!(usize::from(v.code(0, 32 * b + 16 + j)), 15 - j, "block {b}");
        }
    }
    // lowbit's nibble order: elements 0 and 1 (codes 0, 1) share byte 0; elements 16, 17
    // (codes 15, 14) share byte 8.
    assert_eq!(v.codes()[0], 0x10);
    assert_eq!(v.codes()[8], 0xEF);
    assert_matches_ggml(&m, &data);

    let w = dequant(&m);
    // e = 127: scale 1, the E2M1 table itself (code 8 is -0).
    let at = |e: u8| 32 * exps.iter().position(|&x| x == e).unwrap();
    assert_bits_eq(&w[at(127)..at(127) + 16], &FP4_VALUES);
    // e = 128: scale 2, element 7 (code 7) is 12 = kvalues[7] * 2^0.
    assert_eq!(w[at(128) + 7], 12.0);
    // e = 0: 2^-127, so code 1 is 2^-128 and code 3 is 3 * 2^-128 (f32 subnormals).
    assert_eq!(w[at(0) + 1].to_bits(), 0x0020_0000);
    assert_eq!(w[at(0) + 3].to_bits(), 0x0060_0000);
    assert_eq!(w[at(0) + 7], 6.0 * 2f32.powi(-127));
    assert_eq!(w[at(1) + 1].to_bits(), 0x0040_0000);
    // e = 254: 2^127; code 3 (1.5) is finite, codes 4.. (2 and up) overflow to inf in both.
    assert_eq!(w[at(254) + 3], 1.5 * 2f32.powi(127));
    assert_eq!(w[at(254) + 4], f32::INFINITY);
    assert_eq!(w[at(254) + 15], f32::NEG_INFINITY);
}

#[test]
fn mxfp4_ggml_rejects_the_nan_scale() {
    // llama.cpp itself would read 0xFF as 2^127; lowbit refuses it, wherever it sits.
    for bad in 0..4 {
        let mut exps = [127u8; 4];
        exps[bad] = 0xFF;
        let data = ggml_literal_blocks(&exps);
        assert!(matches!(
            import_mxfp4_ggml(2, 64, &data),
            Err(Error::InvalidParameter { .. })
        ));
    }
    assert_eq!(ggml_e8m0_half(0xFF), 2f32.powi(127));
    assert!(import_mxfp4_ggml(2, 64, &ggml_literal_blocks(&[254; 4])).is_ok());
}

#[test]
fn mxfp4_ggml_roundtrip() {
    for (n, k, seed) in [(1, 32, 1), (8, 128, 2), (5, 96, 3)] {
        let orig = random_matrix(n, k, FpFormat::mxfp4(), seed);
        let data = ggml_pack(&orig);
        assert_eq!(data.len(), n * k / 32 * MXFP4_BLOCK_BYTES);
        let m = import_mxfp4_ggml(n, k, &data).unwrap();
        assert_eq!(m, orig);
        assert_bits_eq(&dequant(&m), &dequant(&orig));
        assert_matches_ggml(&m, &data);
    }
}

#[test]
fn mxfp4_ggml_rejects_bad_shapes() {
    let data = ggml_literal_blocks(&[127, 127]);
    assert!(import_mxfp4_ggml(1, 64, &data).is_ok());
    assert!(import_mxfp4_ggml(2, 32, &data).is_ok());
    assert!(matches!(
        import_mxfp4_ggml(1, 48, &data),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        import_mxfp4_ggml(0, 64, &data),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        import_mxfp4_ggml(1, 0, &data),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        import_mxfp4_ggml(1, 64, &data[1..]),
        Err(Error::BufferLength {
            expected: 34,
            got: 33,
            ..
        })
    ));
    assert!(matches!(
        import_mxfp4_ggml(1, 32, &data),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        import_mxfp4_ggml(1, 96, &data),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        import_mxfp4_ggml(1, 64, &[]),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        import_mxfp4_ggml(usize::MAX, 64, &data),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        import_mxfp4_ggml(2, usize::MAX - 31, &data),
        Err(Error::InvalidShape { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Hugging Face / gpt-oss: packer and reference dequantizer
// ---------------------------------------------------------------------------------------

/// Writes an MXFP4 matrix as a gpt-oss `*_blocks` `[n, k/32, 16]` / `*_scales` `[n, k/32]`
/// pair: byte `j` of a block holds element `2j` (low nibble) and `2j + 1` (high nibble).
fn hf_pack(m: &FpMatrix) -> (Vec<u8>, Vec<u8>) {
    let v = m.view();
    let l = *v.layout();
    let (mut blocks, mut scales) = (Vec::new(), Vec::new());
    for r in 0..l.n {
        for b in 0..l.k / 32 {
            scales.push(e8m0(&v, r * (l.k / 32) + b));
            for j in 0..16 {
                let e = 32 * b + 2 * j;
                blocks.push(v.code(r, e) | (v.code(r, e + 1) << 4));
            }
        }
    }
    (blocks, scales)
}

/// transformers' `convert_moe_packed_tensors` for one 2-D slice, before its transpose:
/// `out[:, 0::2] = lut[lo]`, `out[:, 1::2] = lut[hi]`, then `ldexp(out, scale - 127)`
/// (the exact values; its bf16 output holds them exactly).
fn hf_reference(blocks: &[u8], scales: &[u8]) -> Vec<f32> {
    let mut y = Vec::new();
    for (blk, &e) in blocks.chunks_exact(16).zip(scales) {
        let s = 2f64.powi(i32::from(e) - 127);
        for &byte in blk {
            for c in [byte & 0xF, byte >> 4] {
                y.push((f64::from(FP4_VALUES[usize::from(c)]) * s) as f32);
            }
        }
    }
    y
}

// ---------------------------------------------------------------------------------------
// Hugging Face tests
// ---------------------------------------------------------------------------------------

#[test]
fn mxfp4_hf_literal_nibble_order() {
    // One row of two blocks. Block 0: byte j = (2j mod 16) | (2j + 1 mod 16) << 4, so
    // element i has code i mod 16. Block 1: byte j = j | (15 - j) << 4.
    let mut blocks: Vec<u8> = (0..16u8)
        .map(|j| ((2 * j) % 16) | (((2 * j + 1) % 16) << 4))
        .collect();
    blocks.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let scales = [127u8, 0];
    let m = import_mxfp4_hf(1, 64, &blocks, &scales).unwrap();
    let v = m.view();
    assert_eq!(v.format(), FpFormat::mxfp4());
    for i in 0..32 {
        assert_eq!(usize::from(v.code(0, i)), i % 16);
    }
    for j in 0..16 {
        assert_eq!(usize::from(v.code(0, 32 + 2 * j)), j);
        assert_eq!(usize::from(v.code(0, 32 + 2 * j + 1)), 15 - j);
    }
    // The bytes are plane 0 unchanged.
    assert_eq!(v.codes(), &blocks[..]);
    let w = dequant(&m);
    assert_bits_eq(&w[..16], &FP4_VALUES);
    assert_bits_eq(&w[16..32], &FP4_VALUES);
    assert_bits_eq(&w, &hf_reference(&blocks, &scales));
    // Block 1 has e = 0: element 34 (byte 1's low nibble) is code 1, 0.5 * 2^-127 = 2^-128.
    assert_eq!(w[34].to_bits(), 0x0020_0000);

    // The same 16 bytes read as a llama.cpp block put element 1 in the low nibble of byte
    // 1 instead of the high nibble of byte 0: the two orders differ.
    let mut gg = vec![127u8];
    gg.extend(&blocks[..16]);
    let g = import_mxfp4_ggml(1, 32, &gg).unwrap();
    assert_eq!(g.view().code(0, 1), 2); // low nibble of byte 1
    assert_eq!(v.code(0, 1), 1); // high nibble of byte 0
    assert_eq!(g.view().code(0, 16), 1); // high nibble of byte 0
}

#[test]
fn mxfp4_hf_scale_extremes_and_nan() {
    let blocks: Vec<u8> = (0..4 * 16).map(|i| (i % 256) as u8).collect();
    for e in [0u8, 1, 127, 128, 254] {
        let scales = [e, 127, 127, e];
        let m = import_mxfp4_hf(2, 64, &blocks, &scales).unwrap();
        assert_eq!(m.view().scales().e8m0(), Some(&scales[..]));
        assert_bits_eq(&dequant(&m), &hf_reference(&blocks, &scales));
    }
    for bad in 0..4 {
        let mut scales = [127u8; 4];
        scales[bad] = 0xFF;
        assert!(matches!(
            import_mxfp4_hf(2, 64, &blocks, &scales),
            Err(Error::InvalidParameter { .. })
        ));
    }
}

#[test]
fn mxfp4_hf_roundtrip_and_expert_slices() {
    let (experts, n, k) = (3, 6, 96);
    let origs: Vec<FpMatrix> = (0..experts)
        .map(|x| random_matrix(n, k, FpFormat::mxfp4(), 10 + x as u64))
        .collect();
    let (mut all_blocks, mut all_scales) = (Vec::new(), Vec::new());
    for orig in &origs {
        let (blocks, scales) = hf_pack(orig);
        assert_eq!((blocks.len(), scales.len()), (n * k / 2, n * k / 32));
        let m = import_mxfp4_hf(n, k, &blocks, &scales).unwrap();
        assert_eq!(&m, orig);
        assert_bits_eq(&dequant(&m), &hf_reference(&blocks, &scales));
        // The same matrix through llama.cpp's layout imports to the same planes.
        assert_eq!(import_mxfp4_ggml(n, k, &ggml_pack(orig)).unwrap(), m);
        all_blocks.extend(blocks);
        all_scales.extend(scales);
    }
    for (x, orig) in origs.iter().enumerate() {
        let (b, s) = hf_mxfp4_expert(&all_blocks, &all_scales, experts, n, k, x).unwrap();
        assert_eq!(&import_mxfp4_hf(n, k, b, s).unwrap(), orig);
    }
    let ok = |b: &[u8], s: &[u8], e, x| hf_mxfp4_expert(b, s, e, n, k, x).map(|_| ());
    assert!(matches!(
        ok(&all_blocks, &all_scales, experts, experts),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        ok(&all_blocks, &all_scales, 0, 0),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        ok(&all_blocks, &all_scales, 2, 0),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        ok(&all_blocks[1..], &all_scales, experts, 0),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        ok(&all_blocks, &all_scales[..all_scales.len() - 1], experts, 0),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        hf_mxfp4_expert(&all_blocks, &all_scales, experts, n, 100, 0),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        hf_mxfp4_expert(&all_blocks, &all_scales, usize::MAX, n, k, 0),
        Err(Error::InvalidShape { .. })
    ));
}

#[test]
fn mxfp4_hf_rejects_bad_shapes() {
    let blocks = vec![0u8; 64];
    let scales = vec![127u8; 4];
    assert!(import_mxfp4_hf(2, 64, &blocks, &scales).is_ok());
    assert!(import_mxfp4_hf(4, 32, &blocks, &scales).is_ok());
    for (n, k) in [(0, 64), (2, 0), (2, 48), (1, 100)] {
        assert!(
            matches!(
                import_mxfp4_hf(n, k, &blocks, &scales),
                Err(Error::InvalidShape { .. })
            ),
            "{n} x {k}"
        );
    }
    // Short, long and odd-length buffers.
    for b in [&blocks[..63], &blocks[1..], &blocks[..32], &[0u8; 65][..]] {
        assert!(matches!(
            import_mxfp4_hf(2, 64, b, &scales),
            Err(Error::BufferLength {
                what: "MXFP4 (Hugging Face) blocks",
                ..
            })
        ));
    }
    for s in [&scales[..3], &[127u8; 5][..], &[][..]] {
        assert!(matches!(
            import_mxfp4_hf(2, 64, &blocks, s),
            Err(Error::BufferLength {
                what: "MXFP4 (Hugging Face) scales",
                ..
            })
        ));
    }
    assert!(matches!(
        import_mxfp4_hf(usize::MAX, 64, &blocks, &scales),
        Err(Error::InvalidShape { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// FP6: packer and reference dequantizer
// ---------------------------------------------------------------------------------------

/// Writes 6-bit codes as one MSB-first bit stream: code `j` occupies stream bits
/// `6j .. 6j + 6`, stream bit `i` is bit `7 - i % 8` of byte `i / 8`.
fn fp6_bitstream(codes: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; (codes.len() * 6).div_ceil(8)];
    for (j, &c) in codes.iter().enumerate() {
        for t in 0..6 {
            let bit = (c >> (5 - t)) & 1;
            let i = 6 * j + t;
            out[i / 8] |= bit << (7 - i % 8);
        }
    }
    out
}

/// Writes an FP6 matrix as the FP6-LLM / DeepSpeed packed stream, row after row.
fn fp6_pack(m: &FpMatrix) -> Vec<u8> {
    let v = m.view();
    let codes: Vec<u8> = (0..v.n())
        .flat_map(|r| (0..v.k()).map(move |c| (r, c)))
        .map(|(r, c)| v.code(r, c))
        .collect();
    fp6_bitstream(&codes)
}

/// FP6-LLM's `DeQuantMatrix_FPx_To_FP16<E, M>` for one code: the code's magnitude bits
/// shifted into an fp16 (exponent under the fp16 exponent field), times
/// `2^(2^4 - 2^(E-1))` and the scale in f32, rounded to fp16.
fn fp6_llm_reference(code: u8, exp_bits: u32, scale: f16) -> (f32, f16) {
    let man_bits = 5 - exp_bits;
    let byte = u32::from(code) << 2; // Extract_X_Bits_To_A_Byte left-aligns the code
    let w = byte << 24;
    let mask = ((0x8000_0000u32 as i32) >> (exp_bits + man_bits)) as u32 & 0x7FFF_FFFF;
    let h = ((w & 0x8000_0000) | ((w & mask) >> (5 - exp_bits))) >> 16;
    let bias = 2f32.powi((1 << 4) - (1 << (exp_bits - 1)));
    let exact = f16::from_bits(h as u16).to_f32() * bias * scale.to_f32();
    (exact, f16::from_f32(exact))
}

fn exp_bits(elem: FpElem) -> u32 {
    match elem {
        FpElem::E3M2 => 3,
        FpElem::E2M3 => 2,
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------------------------------
// FP6 tests
// ---------------------------------------------------------------------------------------

#[test]
fn fp6_literal_three_bytes() {
    // Codes 0x3F, 0x00, 0x1F, 0x21 packed as in FP6-LLM's cast_fp16_fp6:
    // b0 = c0 << 2 | c1 >> 4, b1 = (c1 & 0xF) << 4 | c2 >> 2, b2 = (c2 & 3) << 6 | c3.
    let packed = [0xFC, 0x07, 0xE1];
    assert_eq!(fp6_bitstream(&[0x3F, 0x00, 0x1F, 0x21]), packed);
    let one = [f16::ONE];
    for (elem, want) in [
        (FpElem::E3M2, [-28.0, 0.0, 28.0, -0.0625]),
        (FpElem::E2M3, [-7.5, 0.0, 7.5, -0.125]),
    ] {
        let m = import_fp6_packed(elem, Group::PerRow, 1, 4, &packed, &one).unwrap();
        let v = m.view();
        assert_eq!(v.format(), FpFormat::new(elem, Group::PerRow, FpScale::F16));
        let codes: Vec<u8> = (0..4).map(|i| v.code(0, i)).collect();
        assert_eq!(codes, [0x3F, 0x00, 0x1F, 0x21]);
        // Plane 0: low nibbles F, 0 | F, 1; plane 1: top bits 3, 0, 1, 2 at bits 0, 2, 4, 6.
        assert_eq!(v.codes(), &[0x0F, 0x1F]);
        assert_eq!(v.high(), &[0x93]);
        assert_bits_eq(&dequant(&m), &want);
    }
    // E3M2's exponent 111 is an ordinary binade (no Inf/NaN): 0x1C..0x1F = 16, 20, 24, 28.
    let top = fp6_bitstream(&[0x1C, 0x1D, 0x1E, 0x1F]);
    let m = import_fp6_packed(FpElem::E3M2, Group::PerRow, 1, 4, &top, &one).unwrap();
    assert_eq!(dequant(&m), [16.0, 20.0, 24.0, 28.0]);
}

#[test]
fn fp6_every_code_matches_fp6_llm_dequant() {
    // Three rows of all 64 codes in order, per-row scales (as FP6-LLM / DeepSpeed).
    let (n, k) = (3, 64);
    let codes: Vec<u8> = (0..n * k).map(|i| (i % 64) as u8).collect();
    let packed = fp6_bitstream(&codes);
    assert_eq!(packed.len(), n * k * 3 / 4);
    let scales = [f16::ONE, f16::from_f32(0.75), f16::from_f32(-3.0e-3)];
    for elem in [FpElem::E3M2, FpElem::E2M3] {
        let m = import_fp6_packed(elem, Group::PerRow, n, k, &packed, &scales).unwrap();
        let v = m.view();
        let w = dequant(&m);
        let table = elem.minifloat().unwrap().table();
        for r in 0..n {
            for c in 0..k {
                let code = codes[r * k + c];
                assert_eq!(v.code(r, c), code);
                let (exact, rounded) = fp6_llm_reference(code, exp_bits(elem), scales[r]);
                let got = w[r * k + c];
                assert_eq!(got, exact, "{elem:?} row {r} code {code:#x}");
                assert_eq!(f16::from_f32(got).to_bits(), rounded.to_bits());
                assert_eq!(got, scales[r].to_f32() * table[usize::from(code)]);
                if r == 0 {
                    // Scale 1: the sign of zero survives too.
                    assert_eq!(got.to_bits(), exact.to_bits());
                }
            }
        }
    }
}

#[test]
fn fp6_roundtrip() {
    for elem in [FpElem::E3M2, FpElem::E2M3] {
        for (n, k, group) in [
            (4, 64, Group::PerRow),
            (3, 12, Group::PerRow),
            (5, 96, Group::Size(32)),
            (2, 256, Group::Size(128)),
        ] {
            let format = FpFormat::new(elem, group, FpScale::F16);
            let orig = random_matrix(n, k, format, 7 + k as u64);
            let packed = fp6_pack(&orig);
            assert_eq!(packed.len(), n * k * 3 / 4);
            let scales = orig.view().scales().f16().unwrap().to_vec();
            let m = import_fp6_packed(elem, group, n, k, &packed, &scales).unwrap();
            assert_eq!(m, orig, "{elem:?} {n} x {k} {group}");
            assert_bits_eq(&dequant(&m), &dequant(&orig));
        }
    }
}

#[test]
fn fp6_rejects_bad_input() {
    let packed = [0u8; 6];
    let one = [f16::ONE; 2];
    let e = FpElem::E3M2;
    assert!(import_fp6_packed(e, Group::PerRow, 2, 4, &packed, &one).is_ok());
    assert!(import_fp6_packed(e, Group::PerRow, 1, 8, &packed, &one[..1]).is_ok());
    // Not an FP6 element type.
    assert!(matches!(
        import_fp6_packed(FpElem::E2M1, Group::PerRow, 2, 4, &packed, &one),
        Err(Error::InvalidParameter { .. })
    ));
    // Shapes: zero, K not a multiple of 4 (odd K included), overflow.
    for (n, k) in [(0, 4), (2, 0), (1, 6), (1, 7), (3, 2)] {
        assert!(
            matches!(
                import_fp6_packed(e, Group::PerRow, n, k, &packed, &one),
                Err(Error::InvalidShape { .. })
            ),
            "{n} x {k}"
        );
    }
    assert!(matches!(
        import_fp6_packed(e, Group::PerRow, usize::MAX, 4, &packed, &one),
        Err(Error::InvalidShape { .. })
    ));
    // Groups lowbit does not support for K.
    assert!(matches!(
        import_fp6_packed(e, Group::Size(32), 1, 8, &packed, &one[..1]),
        Err(Error::BadGroupSize { .. })
    ));
    assert!(matches!(
        import_fp6_packed(e, Group::Size(3), 2, 4, &packed, &one),
        Err(Error::BadGroupSize { .. })
    ));
    // Buffer lengths.
    for p in [&packed[..5], &[0u8; 7][..], &[][..]] {
        assert!(matches!(
            import_fp6_packed(e, Group::PerRow, 2, 4, p, &one),
            Err(Error::BufferLength {
                what: "FP6 packed weights",
                ..
            })
        ));
    }
    for s in [&one[..1], &[f16::ONE; 3][..]] {
        assert!(matches!(
            import_fp6_packed(e, Group::PerRow, 2, 4, &packed, s),
            Err(Error::BufferLength {
                what: "FP6 scales",
                ..
            })
        ));
    }
    // Non-finite scales.
    for bad in [f16::NAN, f16::INFINITY, f16::NEG_INFINITY] {
        assert!(matches!(
            import_fp6_packed(FpElem::E2M3, Group::PerRow, 2, 4, &packed, &[f16::ONE, bad]),
            Err(Error::InvalidParameter { .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------
// NVFP4: helpers
// ---------------------------------------------------------------------------------------

// Packers and reference dequantizers from the producers' code: ModelOpt's
// `nvfp4_tensor.py` (`(q[..., 1::2] << 4) | q[..., 0::2]`, `weight_scale` float8_e4m3fn
// bytes, `w = e2m1 * (weight_scale * weight_scale_2)`) and llama.cpp's `block_nvfp4`
// (`d[4]` then `qs[32]`, per sub-block of 16 element `j` low / `j + 8` high,
// `kvalues_mxfp4[c] * ggml_ue4m3_to_fp32(d)` with the halving scale decoder that reads
// `0x7F` as 0).

/// float8_e4m3fn from its bits (bias 7, subnormals `m 2^-9`), as torch decodes it.
fn e4m3(b: u8) -> f32 {
    let (e, m) = (i32::from((b >> 3) & 0xF), f32::from(b & 7));
    let mag = if e == 0 {
        m * 2f32.powi(-9)
    } else {
        (1.0 + m / 8.0) * 2f32.powi(e - 7)
    };
    if b & 0x80 != 0 {
        -mag
    } else {
        mag
    }
}

/// llama.cpp's `ggml_ue4m3_to_fp32`: `0` and `0x7F` are 0, bit 7 ignored (exponent bits
/// masked to four), halved.
fn ggml_ue4m3_half(x: u8) -> f32 {
    if x == 0 || x == 0x7F {
        return 0.0;
    }
    let (e, m) = (i32::from((x >> 3) & 0xF), f32::from(x & 7));
    let raw = if e == 0 {
        m * 2f32.powi(-9)
    } else {
        (1.0 + m / 8.0) * 2f32.powi(e - 7)
    };
    raw * 0.5
}

// ---------------------------------------------------------------------------------------
// NVFP4, ModelOpt
// ---------------------------------------------------------------------------------------

/// ModelOpt's packing of row-major codes `q` (`[n, k]`): byte `i` of a row is
/// `(q[2i + 1] << 4) | q[2i]`.
fn modelopt_pack(codes: &[u8]) -> Vec<u8> {
    codes.chunks_exact(2).map(|p| (p[1] << 4) | p[0]).collect()
}

/// ModelOpt's dequantization: `e2m1[c] * (weight_scale.float() * weight_scale_2)`.
fn modelopt_reference(n: usize, k: usize, weight: &[u8], scale: &[u8], t: f32) -> Vec<f32> {
    let mut y = Vec::with_capacity(n * k);
    for r in 0..n {
        for c in 0..k {
            let byte = weight[r * k / 2 + c / 2];
            let code = if c % 2 == 0 { byte & 0xF } else { byte >> 4 };
            let s = e4m3(scale[r * k / 16 + c / 16]) * t;
            y.push(FP4_VALUES[usize::from(code)] * s);
        }
    }
    y
}

/// Literal bytes: every code in both nibble positions, every scale byte but the NaNs
/// (negative ones included), and an inexact tensor scale.
#[test]
fn nvfp4_modelopt_literal_every_code_and_scale() {
    let scales: Vec<u8> = (0..=255u8).filter(|b| b & 0x7F != 0x7F).collect();
    let (n, k) = (2, 16 * scales.len() / 2);
    let codes: Vec<u8> = (0..n * k).map(|i| ((i * 7 + i / 16) % 16) as u8).collect();
    let weight = modelopt_pack(&codes);
    for t in [1.0f32, 0.37, 2f32.powi(-20)] {
        let m = import_nvfp4_modelopt(n, k, &weight, &scales, t).unwrap();
        let v = m.view();
        assert_eq!(v.codes(), &weight[..]);
        assert_eq!(v.scales().e4m3(), Some((&scales[..], t)));
        for (i, &c) in codes.iter().enumerate() {
            assert_eq!(v.code(i / k, i % k), c);
        }
        let (got, want) = (dequant(&m), modelopt_reference(n, k, &weight, &scales, t));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "t {t} element {i}: {g} vs {w}");
        }
    }
}

/// A lowbit NVFP4 matrix written the ModelOpt way imports to the same planes.
#[test]
fn nvfp4_modelopt_roundtrip() {
    let m = random_matrix(5, 96, FpFormat::nvfp4(), 3);
    let v = m.view();
    let codes: Vec<u8> = (0..5 * 96).map(|i| v.code(i / 96, i % 96)).collect();
    let (scales, t) = v.scales().e4m3().unwrap();
    let back = import_nvfp4_modelopt(5, 96, &modelopt_pack(&codes), scales, t).unwrap();
    assert_eq!(back, m);
}

#[test]
fn nvfp4_modelopt_rejects_bad_input() {
    let (w, s) = (vec![0u8; 16], vec![0u8; 2]);
    assert!(import_nvfp4_modelopt(1, 32, &w, &s, 1.0).is_ok());
    for (n, k) in [(0, 32), (1, 0), (1, 24), (1, 40)] {
        assert!(matches!(
            import_nvfp4_modelopt(n, k, &w, &s, 1.0),
            Err(Error::InvalidShape { .. })
        ));
    }
    assert!(matches!(
        import_nvfp4_modelopt(1, 32, &w[..15], &s, 1.0),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        import_nvfp4_modelopt(1, 32, &w, &s[..1], 1.0),
        Err(Error::BufferLength { .. })
    ));
    for bad in [[0x7F, 0], [0x38, 0xFF]] {
        assert!(matches!(
            import_nvfp4_modelopt(1, 32, &w, &bad, 1.0),
            Err(Error::InvalidParameter { .. })
        ));
    }
    for t in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        assert!(matches!(
            import_nvfp4_modelopt(1, 32, &w, &s, t),
            Err(Error::InvalidParameter { .. })
        ));
    }
}

// ---------------------------------------------------------------------------------------
// NVFP4, llama.cpp
// ---------------------------------------------------------------------------------------

/// llama.cpp's `dequantize_row_nvfp4` over a whole tensor (no tensor scale).
fn nvfp4_ggml_reference(data: &[u8]) -> Vec<f32> {
    let mut y = Vec::new();
    for b in data.chunks_exact(NVFP4_GGML_BLOCK_BYTES) {
        let mut block = [0.0f32; 64];
        for s in 0..4 {
            let d = ggml_ue4m3_half(b[s]);
            for j in 0..8 {
                let q = b[4 + 8 * s + j];
                block[16 * s + j] = f32::from(KVALUES_MXFP4[usize::from(q & 0xF)]) * d;
                block[16 * s + j + 8] = f32::from(KVALUES_MXFP4[usize::from(q >> 4)]) * d;
            }
        }
        y.extend(block);
    }
    y
}

/// llama.cpp's `quantize_row_nvfp4_ref` layout of a lowbit matrix (codes and scale
/// bytes as they are).
fn nvfp4_ggml_pack(m: &FpMatrix) -> Vec<u8> {
    let v = m.view();
    let (n, k) = (v.n(), v.k());
    let (scales, _) = v.scales().e4m3().unwrap();
    let mut out = Vec::new();
    for r in 0..n {
        for b in 0..k / 64 {
            out.extend_from_slice(&scales[r * k / 16 + 4 * b..][..4]);
            for s in 0..4 {
                for j in 0..8 {
                    let e = 64 * b + 16 * s + j;
                    out.push(v.code(r, e) | (v.code(r, e + 8) << 4));
                }
            }
        }
    }
    out
}

/// Literal blocks: sub-block codes `j` in the low and `15 - j` in the high nibble, scale
/// bytes across the range, `0x7F` (read as 0 by llama.cpp) and bytes with the unused bit
/// 7 set.
#[test]
fn nvfp4_ggml_literal_blocks() {
    let ds: [u8; 12] = [
        0x00, 0x01, 0x07, 0x08, 0x38, 0x7E, 0x7F, 0xB8, 0xFE, 0x80, 0x21, 0x55,
    ];
    let mut data = Vec::new();
    for d in ds.chunks_exact(4) {
        data.extend_from_slice(d);
        for _ in 0..4 {
            data.extend((0..8u8).map(|j| j | ((15 - j) << 4)));
        }
    }
    let k = 64 * ds.len() / 4;
    let m = import_nvfp4_ggml(1, k, &data, 1.0).unwrap();
    let v = m.view();
    let (scales, t) = v.scales().e4m3().unwrap();
    assert_eq!(t, 1.0);
    let want: Vec<u8> = ds
        .iter()
        .map(|&d| if d & 0x7F == 0x7F { 0 } else { d & 0x7F })
        .collect();
    assert_eq!(scales, &want[..]);
    for e in 0..k {
        let j = e % 16;
        let want = if j < 8 { j as u8 } else { 15 - (j as u8 - 8) };
        assert_eq!(v.code(0, e), want, "element {e}");
    }
    // The same values as llama.cpp, but for the sign of code 8's zero.
    let (got, want) = (dequant(&m), nvfp4_ggml_reference(&data));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if v.code(0, i) == 8 {
            assert_eq!(*g, 0.0);
            assert_eq!(*w, 0.0);
        } else {
            assert_eq!(g.to_bits(), w.to_bits(), "element {i}: {g} vs {w}");
        }
    }
}

/// A lowbit NVFP4 matrix written as `block_nvfp4`s with its tensor scale imports to the
/// same matrix, and llama.cpp's values times the tensor scale match within one rounding.
#[test]
fn nvfp4_ggml_roundtrip() {
    let m = random_matrix(3, 192, FpFormat::nvfp4(), 11);
    let (_, t) = m.view().scales().e4m3().unwrap();
    let data = nvfp4_ggml_pack(&m);
    let back = import_nvfp4_ggml(3, 192, &data, t).unwrap();
    assert_eq!(back, m);
    for (g, w) in dequant(&back).iter().zip(nvfp4_ggml_reference(&data)) {
        let w = w * t;
        assert!((g - w).abs() <= w.abs() * 2f32.powi(-23), "{g} vs {w}");
    }
}

#[test]
fn nvfp4_ggml_rejects_bad_input() {
    let data = vec![0u8; 2 * NVFP4_GGML_BLOCK_BYTES];
    assert!(import_nvfp4_ggml(1, 128, &data, 1.0).is_ok());
    assert!(import_nvfp4_ggml(2, 64, &data, 1.0).is_ok());
    for (n, k) in [(0, 128), (1, 0), (1, 32), (2, 48)] {
        assert!(matches!(
            import_nvfp4_ggml(n, k, &data, 1.0),
            Err(Error::InvalidShape { .. })
        ));
    }
    assert!(matches!(
        import_nvfp4_ggml(1, 128, &data[1..], 1.0),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        import_nvfp4_ggml(1, 128, &data, f32::NAN),
        Err(Error::InvalidParameter { .. })
    ));
    // 0xFF is 480 to llama.cpp: no E4M3 byte holds it.
    let mut bad = data.clone();
    bad[NVFP4_GGML_BLOCK_BYTES + 2] = 0xFF;
    assert!(matches!(
        import_nvfp4_ggml(1, 128, &bad, 1.0),
        Err(Error::InvalidParameter { .. })
    ));
}
