//! A minimal writer for flat JSON objects (one result per line).

use std::fmt::Write as _;

/// A flat JSON object under construction: `Object::new().str("a", "x").finish()`.
#[derive(Debug, Default)]
pub struct Object {
    buf: String,
}

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Object::default()
    }

    fn key(mut self, key: &str) -> Self {
        self.buf.push(if self.buf.is_empty() { '{' } else { ',' });
        escape_into(&mut self.buf, key);
        self.buf.push(':');
        self
    }

    /// Adds a string member.
    pub fn str(self, key: &str, value: &str) -> Self {
        let mut o = self.key(key);
        escape_into(&mut o.buf, value);
        o
    }

    /// Adds an integer member.
    pub fn uint(self, key: &str, value: usize) -> Self {
        let mut o = self.key(key);
        // Writing to a String cannot fail.
        let _ = write!(o.buf, "{value}");
        o
    }

    /// Adds a number member; NaN and infinities (not representable in JSON) become `null`.
    pub fn num(self, key: &str, value: f64) -> Self {
        let mut o = self.key(key);
        if value.is_finite() {
            // `Display` for f64 is the shortest round-trip form, never an exponent: valid JSON.
            let _ = write!(o.buf, "{value}");
        } else {
            o.buf.push_str("null");
        }
        o
    }

    /// The finished object text.
    pub fn finish(mut self) -> String {
        if self.buf.is_empty() {
            self.buf.push('{');
        }
        self.buf.push('}');
        self.buf
    }
}

/// `v` rounded to `digits` significant decimal digits (so it prints short), or `v`
/// itself when zero or not finite.
pub fn round_sig(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    // Scale by an exact power of ten (multiply or divide) so the result is the double
    // nearest to the rounded decimal.
    let e = digits - 1 - v.abs().log10().floor() as i32;
    if e >= 0 {
        let p = 10f64.powi(e);
        (v * p).round() / p
    } else {
        let p = 10f64.powi(-e);
        (v / p).round() * p
    }
}

/// Appends `s` as a quoted JSON string.
fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_significant_digits() {
        assert_eq!(round_sig(453.287_000_000_03, 6).to_string(), "453.287");
        assert_eq!(round_sig(0.016_964_908_631, 4).to_string(), "0.01696");
        assert_eq!(round_sig(123_456_789.0, 3).to_string(), "123000000");
        assert_eq!(round_sig(-2.5e-9, 2).to_string(), "-0.0000000025");
        assert!(round_sig(f64::NAN, 3).is_nan());
    }

    #[test]
    fn writes_flat_objects() {
        assert_eq!(Object::new().finish(), "{}");
        let s = Object::new()
            .str("a", "q\"\\\n\u{1}µ")
            .uint("n", 42)
            .num("x", 0.5)
            .num("tiny", 1e-7)
            .num("bad", f64::NAN)
            .finish();
        assert_eq!(
            s,
            r#"{"a":"q\"\\\n\u0001µ","n":42,"x":0.5,"tiny":0.0000001,"bad":null}"#
        );
    }
}
