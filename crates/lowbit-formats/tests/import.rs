//! Tests of the importers in `lowbit_formats::import` on hand-built packed tensors.
//!
//! Each foreign format gets an independent *packer* written here from the format's
//! description (GPTQ's is modelled on AutoGPTQ's word-by-word loop, including its 3-bit
//! 10 + 1 + 10 + 1 + 10 split, rather than on a bit stream), and an independent reference
//! dequantizer where the test needs one. A known lowbit matrix is packed, imported and
//! compared bit for bit; small literal examples pin the layouts down by hand.

use lowbit_formats::import::{
    f16s_from_le_bytes, i32s_from_le_bytes, import_awq, import_gptq, import_q4_0, import_q4_1,
    import_q8_0, permute_input, AwqTensors, GptqConfig, GptqTensors, GptqZeros,
};
use lowbit_formats::int::{IntFormat, IntMatrix};
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
    /// Uniform in [-2, 2).
    fn value(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

fn random_matrix(n: usize, k: usize, format: IntFormat, seed: u64) -> IntMatrix {
    let mut rng = Rng::new(seed);
    let w: Vec<f32> = (0..n * k).map(|_| rng.value()).collect();
    IntMatrix::quantize(&w, n, k, format).unwrap()
}

fn dequant(m: &IntMatrix) -> Vec<f32> {
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

fn code(m: &IntMatrix, n: usize, k: usize) -> u32 {
    u32::from(m.view().code(n, k))
}

fn zero(m: &IntMatrix, n: usize, j: usize) -> u32 {
    u32::from(m.view().zero(n, j))
}

fn scale_bits(m: &IntMatrix, n: usize, j: usize) -> f16 {
    m.view().scales()[n * m.layout().groups_per_row + j]
}

// ---------------------------------------------------------------------------------------
// GPTQ: independent packer and reference dequantizer
// ---------------------------------------------------------------------------------------

/// Packs a sequence of `bits`-bit values into u32 words the way AutoGPTQ's `pack` loop
/// does: 2/4/8 bits fill each word from the least significant bits; 3 bits use groups of
/// 32 values in 3 words (10 values, then value 10 split over the word boundary as 2 + 1
/// bits, 10 values, value 21 split 1 + 2, 10 values).
fn gptq_pack_seq(vals: &[u32], bits: u32) -> Vec<u32> {
    let mut words = Vec::new();
    if bits == 3 {
        assert_eq!(vals.len() % 32, 0);
        for v in vals.chunks_exact(32) {
            let mut w0 = 0u32;
            for (i, &x) in v[0..10].iter().enumerate() {
                w0 |= x << (3 * i);
            }
            w0 |= v[10] << 30;
            let mut w1 = (v[10] >> 2) & 1;
            for (i, &x) in v[11..21].iter().enumerate() {
                w1 |= x << (3 * i + 1);
            }
            w1 |= v[21] << 31;
            let mut w2 = (v[21] >> 1) & 3;
            for (i, &x) in v[22..32].iter().enumerate() {
                w2 |= x << (3 * i + 2);
            }
            words.extend([w0, w1, w2]);
        }
    } else {
        let per = (32 / bits) as usize;
        assert_eq!(vals.len() % per, 0);
        for v in vals.chunks_exact(per) {
            let mut w = 0u32;
            for (i, &x) in v.iter().enumerate() {
                w |= x << (bits as usize * i);
            }
            words.push(w);
        }
    }
    words
}

struct GptqPacked {
    qweight: Vec<i32>,
    qzeros: Vec<i32>,
    scales: Vec<f16>,
    g_idx: Vec<i32>,
}

/// Writes a lowbit matrix as a GPTQ layer. `perm[j]` is the original input feature of
/// lowbit column `j` (identity when `None`); feature `perm[j]` gets `g_idx = j / g`.
fn gptq_pack(m: &IntMatrix, zeros: GptqZeros, perm: Option<&[usize]>) -> GptqPacked {
    let l = *m.layout();
    let (n, k, g, groups) = (l.n, l.k, l.group_len, l.groups_per_row);
    let bits = u32::from(l.format.bits);
    let identity: Vec<usize> = (0..k).collect();
    let perm = perm.unwrap_or(&identity);
    let mut inv = vec![0usize; k];
    for (j, &p) in perm.iter().enumerate() {
        inv[p] = j;
    }
    let qw_rows = k * bits as usize / 32;
    let mut qweight = vec![0i32; qw_rows * n];
    for c in 0..n {
        let column: Vec<u32> = (0..k).map(|f| code(m, c, inv[f])).collect();
        let words = gptq_pack_seq(&column, bits);
        assert_eq!(words.len(), qw_rows);
        for (r, w) in words.into_iter().enumerate() {
            qweight[r * n + c] = w as i32;
        }
    }
    let mask = (1u32 << bits) - 1;
    let mut qzeros = Vec::new();
    let mut scales = Vec::new();
    for j in 0..groups {
        let stored: Vec<u32> = (0..n)
            .map(|c| match zeros {
                GptqZeros::V1 => zero(m, c, j).wrapping_sub(1) & mask,
                GptqZeros::V2 => zero(m, c, j),
            })
            .collect();
        qzeros.extend(gptq_pack_seq(&stored, bits).into_iter().map(|w| w as i32));
        scales.extend((0..n).map(|c| scale_bits(m, c, j)));
    }
    let g_idx = (0..k).map(|f| (inv[f] / g) as i32).collect();
    GptqPacked {
        qweight,
        qzeros,
        scales,
        g_idx,
    }
}

/// Reads bit `i` of a little-endian stream of words.
fn stream_bit(word: impl Fn(usize) -> u32, i: usize) -> u32 {
    (word(i / 32) >> (i % 32)) & 1
}

/// GPTQ's own dequantization, `W[n][f] = scales[g][n] * (q[f][n] - z[g][n])` with
/// `g = g_idx[f]`, reading the packed tensors bit by bit. Row-major `[N][K]` in the
/// original input-feature order.
fn gptq_reference(p: &GptqPacked, n: usize, k: usize, bits: usize, zeros: GptqZeros) -> Vec<f32> {
    let read = |word: &dyn Fn(usize) -> u32, start: usize| -> u32 {
        (0..bits).map(|t| stream_bit(word, start + t) << t).sum()
    };
    let qz_cols = n * bits / 32;
    let mut w = vec![0.0f32; n * k];
    for c in 0..n {
        for f in 0..k {
            let g = p.g_idx[f] as usize;
            let q = read(&|r| p.qweight[r * n + c] as u32, f * bits);
            let stored = read(&|x| p.qzeros[g * qz_cols + x] as u32, c * bits);
            let z = match zeros {
                GptqZeros::V1 => (stored + 1) as f32,
                GptqZeros::V2 => stored as f32,
            };
            w[c * k + f] = p.scales[g * n + c].to_f32() * (q as f32 - z);
        }
    }
    w
}

fn gptq_tensors(p: &GptqPacked, with_g_idx: bool) -> GptqTensors<'_> {
    GptqTensors {
        qweight: &p.qweight,
        qzeros: &p.qzeros,
        scales: &p.scales,
        g_idx: with_g_idx.then_some(&p.g_idx[..]),
    }
}

// ---------------------------------------------------------------------------------------
// GPTQ tests
// ---------------------------------------------------------------------------------------

#[test]
fn gptq_roundtrip_every_width_group_and_convention() {
    let (n, k) = (32, 64);
    for bits in [2u8, 3, 4, 8] {
        for group in [Group::Size(32), Group::PerRow] {
            for conv in [GptqZeros::V1, GptqZeros::V2] {
                let what = format!("b{bits} {group} {conv:?}");
                let orig = random_matrix(n, k, IntFormat::with_zero_point(bits, group), 7);
                let l = *orig.layout();
                // Centred random data never quantizes to z = 0, so even v1 (which cannot
                // represent z = 0) must round-trip exactly.
                for c in 0..n {
                    for j in 0..l.groups_per_row {
                        assert!(zero(&orig, c, j) >= 1, "{what}");
                    }
                }
                let p = gptq_pack(&orig, conv, None);
                let cfg = GptqConfig {
                    n,
                    k,
                    bits,
                    group,
                    zeros: conv,
                };
                for with_g_idx in [false, true] {
                    let imp = import_gptq(&cfg, &gptq_tensors(&p, with_g_idx)).unwrap();
                    assert_eq!(imp.perm, None, "{what}: trivial g_idx needs no permutation");
                    assert_eq!(imp.matrix, orig, "{what}");
                    assert_bits_eq(&dequant(&imp.matrix), &dequant(&orig));
                    assert_bits_eq(
                        &dequant(&imp.matrix),
                        &gptq_reference(&p, n, k, bits as usize, conv),
                    );
                }
            }
        }
    }
}

#[test]
fn gptq_default_convention_is_v1() {
    assert_eq!(GptqZeros::default(), GptqZeros::V1);
}

#[test]
fn gptq_literal_words() {
    // 4 bits, N = 8, K = 32, one group. qweight is [4][8]; column 0 holds k = 0..15 as
    // 0..15 (LSB first), everything else 0.
    let (n, k) = (8, 32);
    let mut qweight = vec![0i32; 4 * n];
    qweight[0] = 0x7654_3210;
    qweight[n] = 0xFEDC_BA98u32 as i32;
    // qzeros is [1][1]: channel 0 field 7, channel 1 field 15, the rest 0.
    let qzeros = [0x0000_00F7];
    let scales = vec![f16::ONE; n];
    let t = GptqTensors {
        qweight: &qweight,
        qzeros: &qzeros,
        scales: &scales,
        g_idx: None,
    };
    let mut cfg = GptqConfig {
        n,
        k,
        bits: 4,
        group: Group::Size(32),
        zeros: GptqZeros::V1,
    };
    let m = import_gptq(&cfg, &t).unwrap().matrix;
    for kk in 0..16 {
        assert_eq!(code(&m, 0, kk), kk as u32);
    }
    for kk in 16..32 {
        assert_eq!(code(&m, 0, kk), 0);
    }
    // v1: z = field + 1, so the wrapped field 15 means z = 16 = 2^b.
    assert_eq!(zero(&m, 0, 0), 8);
    assert_eq!(zero(&m, 1, 0), 16);
    assert_eq!(zero(&m, 2, 0), 1);
    // Channel 0 is then symmetric: w = q - 8.
    let w = dequant(&m);
    assert_eq!(w[0], -8.0);
    assert_eq!(w[15], 7.0);
    assert_eq!(w[k], -16.0); // channel 1, q = 0, z = 16
    cfg.zeros = GptqZeros::V2;
    let m = import_gptq(&cfg, &t).unwrap().matrix;
    assert_eq!(zero(&m, 0, 0), 7);
    assert_eq!(zero(&m, 1, 0), 15);
    assert_eq!(zero(&m, 2, 0), 0);
}

#[test]
fn gptq_3bit_codes_straddle_words() {
    // 3 bits, N = 32, K = 32: qweight is [3][32]. Column 0: element 10 is bits 30..32
    // (two bits in word 0, one in word 1), element 21 is bits 63..65.
    let (n, k) = (32, 32);
    let mut qweight = vec![0i32; 3 * n];
    qweight[0] = 0xC000_0000u32 as i32;
    qweight[n] = 0x8000_0001u32 as i32;
    qweight[2 * n] = 0x0000_0003;
    // Column 1: element 0 = 5, element 11 = 6 (word 1, bits 1..3), element 31 = 3 (word
    // 2, bits 29..31).
    qweight[1] = 5;
    qweight[n + 1] = 6 << 1;
    qweight[2 * n + 1] = 3 << 29;
    let qzeros = vec![0i32; 3];
    let scales = vec![f16::ONE; n];
    let cfg = GptqConfig {
        n,
        k,
        bits: 3,
        group: Group::PerRow,
        zeros: GptqZeros::V2,
    };
    let t = GptqTensors {
        qweight: &qweight,
        qzeros: &qzeros,
        scales: &scales,
        g_idx: None,
    };
    let m = import_gptq(&cfg, &t).unwrap().matrix;
    let col0: Vec<u32> = (0..k).map(|kk| code(&m, 0, kk)).collect();
    let mut want = vec![0u32; k];
    want[10] = 7;
    want[21] = 7;
    assert_eq!(col0, want);
    let col1: Vec<u32> = (0..k).map(|kk| code(&m, 1, kk)).collect();
    let mut want = vec![0u32; k];
    want[0] = 5;
    want[11] = 6;
    want[31] = 3;
    assert_eq!(col1, want);
    // The hand-written words agree with the AutoGPTQ-style packer.
    let words = gptq_pack_seq(&want, 3);
    assert_eq!(words, [5, 6 << 1, 3 << 29]);
}

/// Builds an act-order GPTQ layer from a lowbit matrix `orig` whose column `j` is
/// original feature `perm[j]`, imports it, and checks `y = W x == W' (P x)`.
fn act_order_case(orig: &IntMatrix, perm: &[usize], seed: u64) -> (Vec<u32>, IntMatrix) {
    let l = *orig.layout();
    let (n, k) = (l.n, l.k);
    let bits = l.format.bits;
    let p = gptq_pack(orig, GptqZeros::V1, Some(perm));
    let cfg = GptqConfig {
        n,
        k,
        bits,
        group: l.format.group,
        zeros: GptqZeros::V1,
    };
    let imp = import_gptq(&cfg, &gptq_tensors(&p, true)).unwrap();
    let got_perm = imp.perm.clone().expect("act-order needs a permutation");

    // The returned permutation is valid and makes every group contiguous.
    let mut seen = vec![false; k];
    for (j, &f) in got_perm.iter().enumerate() {
        assert!(!seen[f as usize]);
        seen[f as usize] = true;
        assert_eq!(p.g_idx[f as usize] as usize, j / l.group_len);
    }

    // W'[n][j] == W[n][perm[j]] bit for bit, with W from GPTQ's own formula.
    let dense = gptq_reference(&p, n, k, usize::from(bits), GptqZeros::V1);
    let imported = dequant(&imp.matrix);
    for c in 0..n {
        for j in 0..k {
            let (a, b) = (imported[c * k + j], dense[c * k + got_perm[j] as usize]);
            assert_eq!(a.to_bits(), b.to_bits(), "n={c} j={j}");
        }
    }

    // y = W x against y' = W' (P x).
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = (0..k).map(|_| rng.value()).collect();
    let mut px = vec![0.0f32; k];
    permute_input(&got_perm, &x, &mut px).unwrap();
    for c in 0..n {
        let y: f64 = (0..k)
            .map(|f| f64::from(dense[c * k + f]) * f64::from(x[f]))
            .sum();
        let y2: f64 = (0..k)
            .map(|j| f64::from(imported[c * k + j]) * f64::from(px[j]))
            .sum();
        assert!(
            (y - y2).abs() <= 1e-9 * (1.0 + y.abs()),
            "row {c}: {y} vs {y2}"
        );
    }
    (got_perm, imp.matrix)
}

#[test]
fn gptq_act_order_shuffled_g_idx() {
    let (n, k, g) = (32, 128, 32);
    for bits in [4u8, 3] {
        let orig = random_matrix(n, k, IntFormat::with_zero_point(bits, Group::Size(g)), 11);
        let mut rng = Rng::new(5 + u64::from(bits));
        let mut perm: Vec<usize> = (0..k).collect();
        rng.shuffle(&mut perm);

        // A fully shuffled order: within a group the import lists the features in
        // increasing order, so only the relation W' = W P is checked.
        act_order_case(&orig, &perm, 1);

        // With every group's features already increasing, the import must give back the
        // original matrix and exactly this permutation.
        for grp in perm.chunks_mut(g) {
            grp.sort_unstable();
        }
        let (got_perm, m) = act_order_case(&orig, &perm, 2);
        let want: Vec<u32> = perm.iter().map(|&f| f as u32).collect();
        assert_eq!(got_perm, want);
        assert_eq!(m, orig);
    }
}

fn valid_gptq() -> (GptqConfig, GptqPacked) {
    let orig = random_matrix(32, 64, IntFormat::with_zero_point(4, Group::Size(32)), 3);
    let p = gptq_pack(&orig, GptqZeros::V1, None);
    let cfg = GptqConfig {
        n: 32,
        k: 64,
        bits: 4,
        group: Group::Size(32),
        zeros: GptqZeros::V1,
    };
    (cfg, p)
}

#[test]
fn gptq_rejects_bad_lengths() {
    let (cfg, p) = valid_gptq();
    assert!(import_gptq(&cfg, &gptq_tensors(&p, true)).is_ok());
    let mut t = gptq_tensors(&p, true);
    t.qweight = &p.qweight[1..];
    assert!(matches!(
        import_gptq(&cfg, &t),
        Err(Error::BufferLength {
            what: "GPTQ qweight",
            ..
        })
    ));
    let mut t = gptq_tensors(&p, true);
    t.qzeros = &p.qzeros[..p.qzeros.len() - 1];
    assert!(matches!(
        import_gptq(&cfg, &t),
        Err(Error::BufferLength {
            what: "GPTQ qzeros",
            ..
        })
    ));
    let mut t = gptq_tensors(&p, true);
    t.scales = &p.scales[..p.scales.len() - 1];
    assert!(matches!(
        import_gptq(&cfg, &t),
        Err(Error::BufferLength {
            what: "GPTQ scales",
            ..
        })
    ));
    let mut t = gptq_tensors(&p, true);
    t.g_idx = Some(&p.g_idx[1..]);
    assert!(matches!(
        import_gptq(&cfg, &t),
        Err(Error::BufferLength {
            what: "GPTQ g_idx",
            ..
        })
    ));
    // A checkpoint with a different K for the same buffers.
    let bad = GptqConfig { k: 96, ..cfg };
    assert!(matches!(
        import_gptq(&bad, &gptq_tensors(&p, false)),
        Err(Error::BufferLength { .. })
    ));
}

#[test]
fn gptq_rejects_bad_g_idx() {
    let (cfg, p) = valid_gptq();
    for bad_value in [-1, 2, 1000] {
        let mut g_idx = p.g_idx.clone();
        g_idx[17] = bad_value;
        let mut t = gptq_tensors(&p, false);
        t.g_idx = Some(&g_idx);
        match import_gptq(&cfg, &t) {
            Err(Error::InvalidParameter { what }) => assert!(what.contains("g_idx[17]"), "{what}"),
            other => panic!("g_idx value {bad_value}: {other:?}"),
        }
    }
    // Unbalanced: 33 features in group 0 and 31 in group 1.
    let mut g_idx = p.g_idx.clone();
    g_idx[40] = 0;
    let mut t = gptq_tensors(&p, false);
    t.g_idx = Some(&g_idx);
    match import_gptq(&cfg, &t) {
        Err(Error::Unsupported { what }) => assert!(what.contains("33"), "{what}"),
        other => panic!("unbalanced groups: {other:?}"),
    }
    // Per-row: the only valid group is 0.
    let per_row = GptqConfig {
        group: Group::PerRow,
        ..cfg
    };
    let g1 = vec![0i32; 64];
    let mut q = gptq_tensors(&p, false);
    q.qzeros = &p.qzeros[..4];
    q.scales = &p.scales[..32];
    q.g_idx = Some(&g1);
    assert!(import_gptq(&per_row, &q).is_ok());
    let mut g2 = g1.clone();
    g2[63] = 1;
    q.g_idx = Some(&g2);
    assert!(matches!(
        import_gptq(&per_row, &q),
        Err(Error::InvalidParameter { .. })
    ));
}

#[test]
fn gptq_rejects_bad_shapes_and_formats() {
    let (cfg, p) = valid_gptq();
    let t = gptq_tensors(&p, false);
    assert!(matches!(
        import_gptq(&GptqConfig { bits: 5, ..cfg }, &t),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        import_gptq(&GptqConfig { n: 0, ..cfg }, &t),
        Err(Error::InvalidShape { .. })
    ));
    // N * bits = 16 bits does not fill an int32 of qzeros.
    assert!(matches!(
        import_gptq(&GptqConfig { n: 4, ..cfg }, &t),
        Err(Error::InvalidShape { .. })
    ));
    // K * bits = 144 bits does not fill whole qweight words (per-row allows K = 36).
    assert!(matches!(
        import_gptq(
            &GptqConfig {
                k: 36,
                group: Group::PerRow,
                ..cfg
            },
            &t
        ),
        Err(Error::InvalidShape { .. })
    ));
    // Group sizes lowbit does not have.
    assert!(matches!(
        import_gptq(
            &GptqConfig {
                group: Group::Size(16),
                ..cfg
            },
            &t
        ),
        Err(Error::BadGroupSize { group: 16, k: 64 })
    ));
    // v1 8-bit field 255 means z = 256: not a u8.
    let (n, k) = (4, 32);
    let qweight = vec![0i32; 8 * n];
    let qzeros = [0x0000_FF00];
    let scales = vec![f16::ONE; n];
    let t8 = GptqTensors {
        qweight: &qweight,
        qzeros: &qzeros,
        scales: &scales,
        g_idx: None,
    };
    let cfg8 = GptqConfig {
        n,
        k,
        bits: 8,
        group: Group::PerRow,
        zeros: GptqZeros::V1,
    };
    match import_gptq(&cfg8, &t8) {
        Err(Error::Unsupported { what }) => assert!(what.contains("256"), "{what}"),
        other => panic!("{other:?}"),
    }
    let m = import_gptq(
        &GptqConfig {
            zeros: GptqZeros::V2,
            ..cfg8
        },
        &t8,
    )
    .unwrap()
    .matrix;
    assert_eq!(zero(&m, 1, 0), 255);
    assert_eq!(zero(&m, 0, 0), 0);
}

// ---------------------------------------------------------------------------------------
// AWQ
// ---------------------------------------------------------------------------------------

/// AutoAWQ GEMM order, written out independently of the library constant.
const ORDER: [usize; 8] = [0, 2, 4, 6, 1, 3, 5, 7];

/// Writes a lowbit INT4 zero-point matrix as AutoAWQ GEMM tensors.
fn awq_pack(m: &IntMatrix) -> (Vec<i32>, Vec<i32>, Vec<f16>) {
    let l = *m.layout();
    let (n, k, groups) = (l.n, l.k, l.groups_per_row);
    let mut qweight = Vec::new();
    for kk in 0..k {
        for base in (0..n).step_by(8) {
            let mut w = 0u32;
            for (i, &o) in ORDER.iter().enumerate() {
                w |= code(m, base + o, kk) << (4 * i);
            }
            qweight.push(w as i32);
        }
    }
    let mut qzeros = Vec::new();
    let mut scales = Vec::new();
    for j in 0..groups {
        for base in (0..n).step_by(8) {
            let mut w = 0u32;
            for (i, &o) in ORDER.iter().enumerate() {
                w |= zero(m, base + o, j) << (4 * i);
            }
            qzeros.push(w as i32);
        }
        scales.extend((0..n).map(|c| scale_bits(m, c, j)));
    }
    (qweight, qzeros, scales)
}

#[test]
fn awq_roundtrip() {
    for (n, k, group) in [
        (16, 64, Group::Size(32)),
        (16, 64, Group::PerRow),
        (24, 256, Group::Size(128)),
    ] {
        let orig = random_matrix(n, k, IntFormat::with_zero_point(4, group), 21);
        let (qweight, qzeros, scales) = awq_pack(&orig);
        let t = AwqTensors {
            qweight: &qweight,
            qzeros: &qzeros,
            scales: &scales,
        };
        let m = import_awq(n, k, group, &t).unwrap();
        assert_eq!(m, orig);
        let got = dequant(&m);
        assert_bits_eq(&got, &dequant(&orig));
        // AutoAWQ's dequantize_gemm: (q - z) * s, element by element.
        let g = orig.layout().group_len;
        for c in 0..n {
            for kk in 0..k {
                let w = (kk / g) * (n / 8) + c / 8;
                let nib = ORDER.iter().position(|&o| o == c % 8).unwrap();
                let q = (qweight[kk * (n / 8) + c / 8] as u32 >> (4 * nib)) & 0xF;
                let z = (qzeros[w] as u32 >> (4 * nib)) & 0xF;
                let s = scales[(kk / g) * n + c].to_f32();
                assert_eq!(
                    got[c * k + kk].to_bits(),
                    (s * (q as f32 - z as f32)).to_bits()
                );
            }
        }
    }
}

#[test]
fn awq_literal_nibble_order() {
    // Nibble i (from the least significant) of 0x76543210 holds the value i; AWQ puts
    // nibble i in channel ORDER[i], so channels 0..8 read 0, 4, 1, 5, 2, 6, 3, 7.
    let (n, k) = (8, 32);
    let mut qweight = vec![0i32; k];
    qweight[0] = 0x7654_3210;
    qweight[1] = 0xFEDC_BA98u32 as i32;
    let qzeros = [0x0000_0031]; // channel 0 -> z = 1, channel 2 -> z = 3
    let scales = vec![f16::from_f32(0.5); n];
    let t = AwqTensors {
        qweight: &qweight,
        qzeros: &qzeros,
        scales: &scales,
    };
    let m = import_awq(n, k, Group::Size(32), &t).unwrap();
    let k0: Vec<u32> = (0..n).map(|c| code(&m, c, 0)).collect();
    assert_eq!(k0, [0, 4, 1, 5, 2, 6, 3, 7]);
    let k1: Vec<u32> = (0..n).map(|c| code(&m, c, 1)).collect();
    assert_eq!(k1, [8, 12, 9, 13, 10, 14, 11, 15]);
    let z: Vec<u32> = (0..n).map(|c| zero(&m, c, 0)).collect();
    assert_eq!(z, [1, 0, 3, 0, 0, 0, 0, 0]);
    let w = dequant(&m);
    // channel 2, k = 0: 0.5 * (1 - 3); channel 7, k = 1: 0.5 * (15 - 0).
    assert_eq!(w[2 * k], -1.0);
    assert_eq!(w[7 * k + 1], 7.5);
}

#[test]
fn awq_rejects_bad_input() {
    let orig = random_matrix(16, 64, IntFormat::with_zero_point(4, Group::Size(32)), 1);
    let (qweight, qzeros, scales) = awq_pack(&orig);
    let t = AwqTensors {
        qweight: &qweight,
        qzeros: &qzeros,
        scales: &scales,
    };
    assert!(import_awq(16, 64, Group::Size(32), &t).is_ok());
    assert!(matches!(
        import_awq(12, 64, Group::Size(32), &t),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        import_awq(16, 64, Group::Size(48), &t),
        Err(Error::BadGroupSize { .. })
    ));
    assert!(matches!(
        import_awq(16, 64, Group::PerRow, &t),
        Err(Error::BufferLength {
            what: "AWQ qzeros",
            ..
        })
    ));
    assert!(matches!(
        import_awq(0, 64, Group::Size(32), &t),
        Err(Error::InvalidShape { .. })
    ));
    let mut b = t;
    b.qweight = &qweight[1..];
    assert!(matches!(
        import_awq(16, 64, Group::Size(32), &b),
        Err(Error::BufferLength {
            what: "AWQ qweight",
            ..
        })
    ));
    let mut b = t;
    b.scales = &scales[1..];
    assert!(matches!(
        import_awq(16, 64, Group::Size(32), &b),
        Err(Error::BufferLength {
            what: "AWQ scales",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------
// llama.cpp
// ---------------------------------------------------------------------------------------

/// Writes a lowbit symmetric INT4 g32 matrix as `block_q4_0`s (d, then qs[j] holding
/// element j in the low nibble and element j + 16 in the high nibble).
fn q4_0_pack(m: &IntMatrix) -> Vec<u8> {
    let l = *m.layout();
    let mut out = Vec::new();
    for r in 0..l.n {
        for b in 0..l.k / 32 {
            out.extend(scale_bits(m, r, b).to_bits().to_le_bytes());
            for j in 0..16 {
                let lo = code(m, r, 32 * b + j);
                let hi = code(m, r, 32 * b + j + 16);
                out.push((lo | (hi << 4)) as u8);
            }
        }
    }
    out
}

/// llama.cpp's `dequantize_row_q4_0`: `(q - 8) * d`.
fn q4_0_reference(data: &[u8]) -> Vec<f32> {
    let mut y = Vec::new();
    for b in data.chunks_exact(18) {
        let d = f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
        let mut block = [0.0f32; 32];
        for j in 0..16 {
            block[j] = ((b[2 + j] & 0xF) as i32 - 8) as f32 * d;
            block[j + 16] = ((b[2 + j] >> 4) as i32 - 8) as f32 * d;
        }
        y.extend(block);
    }
    y
}

#[test]
fn q4_0_literal_block() {
    let mut block = vec![0x00, 0x38]; // d = 0.5 (f16 0x3800), little-endian
    block.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let m = import_q4_0(1, 32, &block).unwrap();
    #[rustfmt::skip]
    let want = [
        -4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5,
        3.5, 3.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.5, -2.0, -2.5, -3.0, -3.5, -4.0,
    ];
    assert_bits_eq(&dequant(&m), &want);
    assert_bits_eq(&q4_0_reference(&block), &want);
    assert_eq!(m.layout().format, IntFormat::symmetric(4, Group::Size(32)));
    // lowbit nibble order: element 0 (code 0) low, element 1 (code 1) high.
    assert_eq!(m.view().plane0()[0], 0x10);
    assert_eq!(m.view().plane0()[8], 0xEF); // elements 16 (15) and 17 (14)
}

#[test]
fn q4_0_roundtrip() {
    let (n, k) = (16, 64);
    let orig = random_matrix(n, k, IntFormat::symmetric(4, Group::Size(32)), 31);
    let data = q4_0_pack(&orig);
    assert_eq!(data.len(), n * k / 32 * 18);
    let m = import_q4_0(n, k, &data).unwrap();
    assert_eq!(m, orig);
    assert_bits_eq(&dequant(&m), &dequant(&orig));
    assert_bits_eq(&dequant(&m), &q4_0_reference(&data));
}

#[test]
fn q8_0_literal_and_roundtrip() {
    let mut block = vec![0x00, 0x34]; // d = 0.25
    let qs: [i8; 32] = [
        -128, -1, 0, 1, 127, 5, -5, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 3,
    ];
    block.extend(qs.iter().map(|&q| q as u8));
    let m = import_q8_0(1, 32, &block).unwrap();
    let w = dequant(&m);
    assert_eq!(
        &w[..8],
        &[-32.0, -0.25, 0.0, 0.25, 31.75, 1.25, -1.25, 16.0]
    );
    assert_eq!(w[31], 0.75);
    assert_eq!(code(&m, 0, 0), 0);
    assert_eq!(code(&m, 0, 4), 255);
    assert_eq!(m.layout().format, IntFormat::symmetric(8, Group::Size(32)));

    let (n, k) = (16, 64);
    let orig = random_matrix(n, k, IntFormat::symmetric(8, Group::Size(32)), 41);
    let mut data = Vec::new();
    for r in 0..n {
        for b in 0..k / 32 {
            data.extend(scale_bits(&orig, r, b).to_bits().to_le_bytes());
            data.extend((0..32).map(|j| (code(&orig, r, 32 * b + j) as i32 - 128) as i8 as u8));
        }
    }
    let m = import_q8_0(n, k, &data).unwrap();
    assert_eq!(m, orig);
    // llama.cpp's dequantize_row_q8_0: q * d.
    let reference: Vec<f32> = data
        .chunks_exact(34)
        .flat_map(|b| {
            let d = f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
            b[2..].iter().map(move |&q| f32::from(q as i8) * d)
        })
        .collect();
    assert_bits_eq(&dequant(&m), &reference);
    assert_bits_eq(&dequant(&m), &dequant(&orig));
}

fn q4_1_block(d: f16, m: f16, codes: &[u8; 32]) -> Vec<u8> {
    let mut b = Vec::with_capacity(20);
    b.extend(d.to_bits().to_le_bytes());
    b.extend(m.to_bits().to_le_bytes());
    b.extend((0..16).map(|j| codes[j] | (codes[j + 16] << 4)));
    b
}

/// llama.cpp's `dequantize_row_q4_1`: `q * d + m`.
fn q4_1_reference(data: &[u8]) -> Vec<f32> {
    let mut y = Vec::new();
    for b in data.chunks_exact(20) {
        let d = f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
        let m = f16::from_bits(u16::from_le_bytes([b[2], b[3]])).to_f32();
        let mut block = [0.0f32; 32];
        for j in 0..16 {
            block[j] = (b[4 + j] & 0xF) as f32 * d + m;
            block[j + 16] = (b[4 + j] >> 4) as f32 * d + m;
        }
        y.extend(block);
    }
    y
}

fn random_codes(rng: &mut Rng) -> [u8; 32] {
    let mut c = [0u8; 32];
    for x in &mut c {
        *x = rng.below(16) as u8;
    }
    c
}

#[test]
fn q4_1_exact_when_m_is_an_integer_multiple_of_minus_d() {
    let (n, k) = (16, 64);
    let mut rng = Rng::new(51);
    let mut data = Vec::new();
    let mut zs = Vec::new();
    let mut negative = Vec::new();
    for _ in 0..n * k / 32 {
        // d with at most 6 significant bits and |z| <= 16, so m = -z * d is an exact f16.
        let sign = if rng.below(4) == 0 { -1.0 } else { 1.0 };
        let d = sign * (1 + rng.below(63)) as f32 / 256.0;
        let z = rng.below(17);
        let m = -(z as f32) * d;
        assert_eq!(f16::from_f32(m).to_f32(), m);
        zs.push(z as u32);
        negative.push(d < 0.0);
        data.extend(q4_1_block(
            f16::from_f32(d),
            f16::from_f32(m),
            &random_codes(&mut rng),
        ));
    }
    let imp = import_q4_1(n, k, &data).unwrap();
    assert_eq!(imp.max_abs_error, 0.0);
    assert_eq!(imp.inexact_blocks, 0);
    assert_eq!(
        imp.matrix.layout().format,
        IntFormat::with_zero_point(4, Group::Size(32))
    );
    for (i, &z) in zs.iter().enumerate() {
        assert_eq!(zero(&imp.matrix, i / 2, i % 2), z);
    }
    // Bit-exact, except that with d < 0 an element with q == z is -0.0 in lowbit
    // (d * (q - z) = d * +0) and +0.0 in llama.cpp (q*d + m = x + -x).
    let (got, want) = (dequant(&imp.matrix), q4_1_reference(&data));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if negative[i / 32] && *w == 0.0 {
            assert_eq!(*g, 0.0, "element {i}");
        } else {
            assert_eq!(g.to_bits(), w.to_bits(), "element {i}: {g} vs {w}");
        }
    }
    assert!(negative.iter().any(|&x| x) && negative.iter().any(|&x| !x));
}

#[test]
fn q4_1_inexact_offsets_report_the_error() {
    let mut rng = Rng::new(61);
    let c = random_codes(&mut rng);
    let h = f16::from_f32;
    let blocks = [
        (h(0.5), h(-1.0), 2u32, 0.0),  // exact: z = 2
        (h(0.5), h(-1.125), 2, 0.125), // -m/d = 2.25 -> z = 2
        (h(0.5), h(-1.25), 2, 0.25),   // 2.5 -> ties to even: 2
        (h(0.5), h(-1.75), 4, 0.25),   // 3.5 -> 4
        (h(0.25), h(1.0), 0, 1.0),     // -m/d = -4 -> clamped to 0
        (h(0.25), h(-5.0), 16, 1.0),   // 20 -> clamped to 16
        (h(-0.5), h(1.5), 3, 0.0),     // negative d: exact, z = 3
        (h(0.0), h(0.75), 1, 0.0),     // d = 0: constant block, exact via s = -m
    ];
    let mut data = Vec::new();
    for (d, m, _, _) in blocks {
        data.extend(q4_1_block(d, m, &c));
    }
    let k = 32 * blocks.len();
    let imp = import_q4_1(1, k, &data).unwrap();
    assert_eq!(imp.max_abs_error, 1.0);
    assert_eq!(imp.inexact_blocks, 5);
    let got = dequant(&imp.matrix);
    let want = q4_1_reference(&data);
    for (b, &(_, _, z, err)) in blocks.iter().enumerate() {
        assert_eq!(zero(&imp.matrix, 0, b), z, "block {b}");
        for j in 32 * b..32 * (b + 1) {
            let diff = (f64::from(got[j]) - f64::from(want[j])).abs();
            assert!(diff <= err + 1e-6, "block {b} element {j}: {diff} > {err}");
            if err == 0.0 && want[j] != 0.0 {
                assert_eq!(got[j].to_bits(), want[j].to_bits(), "block {b} element {j}");
            }
        }
    }
    assert!(got[32 * 7..].iter().all(|&v| v == 0.75));

    // Non-finite d or m cannot be converted.
    for (d, m) in [(f16::NAN, h(0.0)), (h(1.0), f16::INFINITY)] {
        let data = q4_1_block(d, m, &c);
        assert!(matches!(
            import_q4_1(1, 32, &data),
            Err(Error::InvalidParameter { .. })
        ));
    }
}

#[test]
fn ggml_rejects_bad_shapes() {
    let q4 = vec![0u8; 2 * 18];
    assert!(import_q4_0(1, 64, &q4).is_ok());
    assert!(import_q4_0(2, 32, &q4).is_ok());
    assert!(matches!(
        import_q4_0(1, 48, &q4),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        import_q4_0(0, 64, &q4),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        import_q4_0(1, 0, &q4),
        Err(Error::InvalidShape { .. })
    ));
    assert!(matches!(
        import_q4_0(1, 64, &q4[1..]),
        Err(Error::BufferLength {
            expected: 36,
            got: 35,
            ..
        })
    ));
    assert!(matches!(
        import_q4_0(1, 96, &q4),
        Err(Error::BufferLength { .. })
    ));
    let q8 = vec![0u8; 34];
    assert!(import_q8_0(1, 32, &q8).is_ok());
    assert!(matches!(
        import_q8_0(1, 32, &q8[..33]),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        import_q8_0(1, 16, &q8),
        Err(Error::InvalidShape { .. })
    ));
    let q41 = vec![0u8; 20];
    assert!(import_q4_1(1, 32, &q41).is_ok());
    assert!(matches!(
        import_q4_1(1, 32, &q4[..18]),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        import_q4_1(usize::MAX, 64, &q41),
        Err(Error::InvalidShape { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Byte and permutation helpers
// ---------------------------------------------------------------------------------------

#[test]
fn little_endian_helpers() {
    let bytes = [0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE];
    assert_eq!(
        i32s_from_le_bytes(&bytes).unwrap(),
        [0x7654_3210, 0xFEDC_BA98u32 as i32]
    );
    assert!(matches!(
        i32s_from_le_bytes(&bytes[..7]),
        Err(Error::InvalidShape { .. })
    ));
    let h = f16s_from_le_bytes(&[0x00, 0x38, 0x00, 0xBC]).unwrap();
    assert_eq!(h, [f16::from_f32(0.5), f16::from_f32(-1.0)]);
    assert!(matches!(
        f16s_from_le_bytes(&[0]),
        Err(Error::InvalidShape { .. })
    ));
    assert!(i32s_from_le_bytes(&[]).unwrap().is_empty());
}

#[test]
fn permute_input_gathers_and_checks() {
    let x = [10.0f32, 11.0, 12.0, 13.0];
    let mut out = [0.0f32; 4];
    permute_input(&[2, 0, 3, 1], &x, &mut out).unwrap();
    assert_eq!(out, [12.0, 10.0, 13.0, 11.0]);
    assert!(matches!(
        permute_input(&[2, 0, 4, 1], &x, &mut out),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        permute_input(&[2, 0, 1], &x, &mut out[..3]),
        Err(Error::BufferLength { .. })
    ));
    assert!(matches!(
        permute_input(&[2, 0, 3, 1], &x, &mut out[..3]),
        Err(Error::BufferLength { .. })
    ));
}
