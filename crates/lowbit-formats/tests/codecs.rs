//! Checks the element codecs against the shared test vectors in `tests/data/codecs.json`
//! (a copy of `shared/vectors/codecs.json`), and verifies the OVP-4 decode table of that
//! file against an independent reference decoder written from `FORMATS.md`.
//!
//! The JSON is read with a small hand-written parser (the crate has no JSON dependency).

use lowbit_formats::minifloat::{e8m0_decode, MiniFloat, E2M1, E2M3, E3M2, E4M3, E5M2};
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------
// A minimal JSON parser: enough for the vector files (objects, arrays, strings with the
// standard escapes, numbers, true/false/null). Panics with a position on malformed input.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    /// Members in file order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Json {
        let mut p = Parser {
            s: text.as_bytes(),
            pos: 0,
        };
        let v = p.value();
        p.ws();
        assert_eq!(p.pos, p.s.len(), "trailing characters after the JSON value");
        v
    }

    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(members) => {
                let mut found = members.iter().filter(|(k, _)| k == key);
                let v = found
                    .next()
                    .unwrap_or_else(|| panic!("missing key {key:?}"));
                assert!(found.next().is_none(), "duplicate key {key:?}");
                &v.1
            }
            other => panic!("expected an object for key {key:?}, got {other:?}"),
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Json::Obj(members) => members.iter().map(|(k, _)| k.as_str()).collect(),
            other => panic!("expected an object, got {other:?}"),
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            other => panic!("expected an array, got {other:?}"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    fn num(&self) -> f64 {
        match self {
            Json::Num(x) => *x,
            other => panic!("expected a number, got {other:?}"),
        }
    }

    /// An integer-valued number.
    fn int(&self) -> i64 {
        let x = self.num();
        assert!(
            x.fract() == 0.0 && x.abs() < 2f64.powi(53),
            "expected an integer, got {x}"
        );
        x as i64
    }

    /// A string of 8 hex digits: the bits of an `f32`, most significant first.
    fn f32_bits(&self) -> u32 {
        let s = self.str();
        assert_eq!(s.len(), 8, "f32 bit pattern {s:?} must have 8 hex digits");
        u32::from_str_radix(s, 16).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn fail(&self, what: &str) -> ! {
        panic!("JSON: {what} at byte {}", self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) {
        if !self.eat(c) {
            self.fail(&format!("expected {:?}", c as char));
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Json {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            v
        } else {
            self.fail("unknown literal")
        }
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Json::Str(self.string()),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.fail("expected a value"),
        }
    }

    fn object(&mut self) -> Json {
        self.expect(b'{');
        let mut members = Vec::new();
        if self.eat(b'}') {
            return Json::Obj(members);
        }
        loop {
            self.ws();
            let key = self.string();
            self.expect(b':');
            members.push((key, self.value()));
            if self.eat(b'}') {
                return Json::Obj(members);
            }
            self.expect(b',');
        }
    }

    fn array(&mut self) -> Json {
        self.expect(b'[');
        let mut items = Vec::new();
        if self.eat(b']') {
            return Json::Arr(items);
        }
        loop {
            items.push(self.value());
            if self.eat(b']') {
                return Json::Arr(items);
            }
            self.expect(b',');
        }
    }

    fn hex4(&mut self) -> u32 {
        let digits = self
            .s
            .get(self.pos..self.pos + 4)
            .unwrap_or_else(|| self.fail("truncated \\u escape"));
        let text = std::str::from_utf8(digits).unwrap_or_else(|_| self.fail("bad \\u escape"));
        let v = u32::from_str_radix(text, 16).unwrap_or_else(|_| self.fail("bad \\u escape"));
        self.pos += 4;
        v
    }

    fn string(&mut self) -> String {
        if self.peek() != Some(b'"') {
            self.fail("expected a string");
        }
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let c = self
                .peek()
                .unwrap_or_else(|| self.fail("unterminated string"));
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().unwrap_or_else(|| self.fail("bad escape"));
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4();
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                // A surrogate pair.
                                if !self.s[self.pos..].starts_with(b"\\u") {
                                    self.fail("lone surrogate");
                                }
                                self.pos += 2;
                                let lo = self.hex4();
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or_else(|| self.fail("bad \\u code"))
                        }
                        _ => self.fail("bad escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).unwrap_or_else(|_| self.fail("string is not UTF-8"))
    }

    fn number(&mut self) -> Json {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap();
        Json::Num(
            text.parse()
                .unwrap_or_else(|_| self.fail(&format!("bad number {text:?}"))),
        )
    }
}

#[test]
fn parser_self_check() {
    let v =
        Json::parse(r#" { "a" : [1, -2.5e1, true, false, null], "b\"\u00e9\n": {} , "c": [] } "#);
    assert_eq!(v.keys(), ["a", "b\"é\n", "c"]);
    let a = v.get("a").arr();
    assert_eq!(a[0].int(), 1);
    assert_eq!(a[1].num(), -25.0);
    assert_eq!(a[2..], [Json::Bool(true), Json::Bool(false), Json::Null]);
    assert_eq!(v.get("c").arr().len(), 0);
}

// ---------------------------------------------------------------------------------------
// The vectors.
// ---------------------------------------------------------------------------------------

fn repo_copy_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/codecs.json")
}

fn vectors() -> Json {
    let path = repo_copy_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Json::parse(&text)
}

const FORMATS: [(&str, MiniFloat); 5] = [
    ("e2m1", E2M1),
    ("e3m2", E3M2),
    ("e2m3", E2M3),
    ("e4m3", E4M3),
    ("e5m2", E5M2),
];

#[test]
fn repo_copy_matches_shared_vectors() {
    // The shared file lives next to the workspace (`<workspace>/../shared`); it is not
    // part of the repository, so the comparison is skipped when it is absent.
    let shared =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/codecs.json");
    let Ok(shared_bytes) = std::fs::read(&shared) else {
        return;
    };
    let repo_bytes = std::fs::read(repo_copy_path()).unwrap();
    assert!(
        shared_bytes == repo_bytes,
        "tests/data/codecs.json differs from {}: copy the shared vectors again",
        shared.display()
    );
}

#[test]
fn all_sections_present() {
    let v = vectors();
    let keys = v.keys();
    for key in [
        "about", "e2m1", "e3m2", "e2m3", "e4m3", "e5m2", "e8m0", "ovp4",
    ] {
        assert!(keys.contains(&key), "missing section {key:?}");
    }
    assert!(!v.get("about").str().is_empty());
}

/// Our decode of `code` equals the vector's f32 bit pattern; for NaN, any NaN with the
/// same sign bit.
fn assert_same_value(ours: f32, want_bits: u32, what: &str) {
    let want = f32::from_bits(want_bits);
    if want.is_nan() {
        assert!(ours.is_nan(), "{what}: expected NaN, got {ours:e}");
        assert_eq!(
            ours.is_sign_negative(),
            want.is_sign_negative(),
            "{what}: NaN sign"
        );
    } else {
        assert_eq!(
            ours.to_bits(),
            want_bits,
            "{what}: expected {want:e} ({want_bits:#010x}), got {ours:e} ({:#010x})",
            ours.to_bits()
        );
    }
}

#[test]
fn minifloat_decode_matches_vectors() {
    let v = vectors();
    for (name, f) in FORMATS {
        let section = v.get(name);
        assert_eq!(
            section.get("bits").int(),
            i64::from(f.bits()),
            "{name} bits"
        );
        assert_eq!(section.get("max").num(), f64::from(f.max()), "{name} max");
        let decode = section.get("decode").arr();
        assert_eq!(decode.len(), 1 << f.bits(), "{name}: one entry per code");
        for (code, entry) in decode.iter().enumerate() {
            let code = u8::try_from(code).unwrap();
            assert_same_value(
                f.decode(code),
                entry.f32_bits(),
                &format!("{name} decode {code:#04x}"),
            );
        }
    }
}

#[test]
fn minifloat_encode_matches_vectors() {
    let v = vectors();
    for (name, f) in FORMATS {
        let cases = v.get(name).get("encode").arr();
        assert!(!cases.is_empty(), "{name}: no encode cases");
        for case in cases {
            let [input, code] = case.arr() else {
                panic!("{name}: encode case {case:?} is not [input, code]");
            };
            let x = f32::from_bits(input.f32_bits());
            let want = u8::try_from(code.int()).expect("code fits a byte");
            assert_eq!(
                f.encode(x),
                Ok(want),
                "{name} encode {x:e} ({})",
                input.str()
            );
        }
    }
}

#[test]
fn e8m0_decode_matches_vectors() {
    let v = vectors();
    let decode = v.get("e8m0").get("decode").arr();
    assert_eq!(decode.len(), 256);
    for (e, entry) in decode.iter().enumerate() {
        let e = u8::try_from(e).unwrap();
        assert_same_value(
            e8m0_decode(e),
            entry.f32_bits(),
            &format!("e8m0 decode {e}"),
        );
    }
}

// ---------------------------------------------------------------------------------------
// OVP-4 (OliVe): a reference decoder written from the FORMATS.md text, independent of any
// library module, so the vector file is verified before the OVP module exists.
// ---------------------------------------------------------------------------------------

/// The nibble that marks the other nibble of the byte as an outlier.
const OVP4_IDENTIFIER: u8 = 0b1000;

/// A normal nibble: two's complement int4 (-7..7; -8 = 1000 is the identifier).
fn ovp4_int4(nibble: u8) -> i32 {
    let n = i32::from(nibble & 0xF);
    if n >= 8 {
        n - 16
    } else {
        n
    }
}

/// An outlier nibble, abfloat `s e1 e0 m`: magnitude `(2 + m) << (e + 2)`. The reserved
/// code e = 0, m = 0 decodes to 8 by the same formula.
fn ovp4_abfloat(nibble: u8) -> i32 {
    let s = (nibble >> 3) & 1;
    let e = (nibble >> 1) & 0b11;
    let m = nibble & 1;
    let magnitude = (2 + i32::from(m)) << (e + 2);
    if s == 1 {
        -magnitude
    } else {
        magnitude
    }
}

/// Decodes one byte (even element in the low nibble) to `(even, odd)` in scale units.
fn ovp4_decode(byte: u8) -> (i32, i32) {
    let lo = byte & 0xF;
    let hi = byte >> 4;
    match (lo == OVP4_IDENTIFIER, hi == OVP4_IDENTIFIER) {
        (true, true) => (0, 0),
        (false, true) => (ovp4_abfloat(lo), 0),
        (true, false) => (0, ovp4_abfloat(hi)),
        (false, false) => (ovp4_int4(lo), ovp4_int4(hi)),
    }
}

#[test]
fn ovp4_reference_decoder_matches_vectors() {
    let v = vectors();
    let section = v.get("ovp4");
    assert!(!section.get("about").str().is_empty());
    let decode = section.get("decode").arr();
    assert_eq!(decode.len(), 256);
    for (byte, entry) in decode.iter().enumerate() {
        let byte = u8::try_from(byte).unwrap();
        let [even, odd] = entry.arr() else {
            panic!("ovp4 entry {byte:#04x} is not [even, odd]: {entry:?}");
        };
        assert_eq!(
            (even.int(), odd.int()),
            {
                let (e, o) = ovp4_decode(byte);
                (i64::from(e), i64::from(o))
            },
            "ovp4 decode {byte:#04x}"
        );
    }
}

/// The library's OVP-4 codec ([`lowbit_formats::ovp::decode4`]) and the matrix view that
/// the kernels' reference reads ([`FpMatrixRef::value`]), on every byte, against the
/// vectors.
#[test]
fn ovp4_library_decoder_matches_vectors() {
    use lowbit_formats::fp::{FpElem, FpFormat, FpMatrixRef, FpScale, FpScalesRef};
    use lowbit_formats::{f16, Group};
    let v = vectors();
    let decode = v.get("ovp4").get("decode").arr();
    let bytes: Vec<u8> = (0..=255).collect();
    let one = [f16::ONE];
    let f = FpFormat::new(FpElem::Ovp4, Group::PerRow, FpScale::F16);
    let m = FpMatrixRef::new(f, 1, 512, &bytes, FpScalesRef::F16(&one)).unwrap();
    for (byte, entry) in decode.iter().enumerate() {
        let [even, odd] = entry.arr() else {
            panic!("ovp4 entry {byte:#04x} is not [even, odd]");
        };
        let want = (even.int(), odd.int());
        let (e, o) = lowbit_formats::ovp::decode4(byte as u8);
        assert_eq!((i64::from(e), i64::from(o)), want, "decode4 {byte:#04x}");
        let (we, wo) = (m.weight(0, 2 * byte), m.weight(0, 2 * byte + 1));
        assert_eq!((we as i64, wo as i64), want, "view {byte:#04x}");
    }
}

#[test]
fn ovp4_reference_decoder_matches_formats_md() {
    // Normal nibbles cover -7..7 and never the identifier.
    let normals: Vec<i32> = (0..16u8)
        .filter(|&n| n != OVP4_IDENTIFIER)
        .map(ovp4_int4)
        .collect();
    assert_eq!(normals.iter().min(), Some(&-7));
    assert_eq!(normals.iter().max(), Some(&7));
    // Outlier magnitudes of the non-reserved codes are 12, 16, 24, 32, 48, 64, 96.
    let mut outliers: Vec<i32> = (0..8u8)
        .filter(|&n| n >> 1 != 0 || n & 1 != 0)
        .map(ovp4_abfloat)
        .collect();
    outliers.sort_unstable();
    assert_eq!(outliers, [12, 16, 24, 32, 48, 64, 96]);
    for n in 0..8u8 {
        assert_eq!(ovp4_abfloat(n | 8), -ovp4_abfloat(n));
    }
    // The reserved code (e = 0, m = 0).
    assert_eq!(ovp4_abfloat(0), 8);
    // A byte with an outlier zeroes its partner.
    assert_eq!(ovp4_decode(0x87), (96, 0));
    assert_eq!(ovp4_decode(0x78), (0, 96));
    assert_eq!(ovp4_decode(0x88), (0, 0));
    assert_eq!(ovp4_decode(0x9F), (-1, -7));
}
