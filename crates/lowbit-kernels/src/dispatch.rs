//! Instruction-set detection (once), the `LOWBIT_ISA` override and the API cap.
//!
//! The active ISA is the cap if one was set through [`set_isa_cap`], else the
//! `LOWBIT_ISA` environment variable (read once, at first use), else the best ISA this
//! CPU supports. Asking for an ISA the CPU lacks is an error, never a crash: a bad
//! `LOWBIT_ISA` makes [`active_isa`] return that error until a valid cap is set.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use lowbit_formats::{Error, Result};

/// An instruction-set path. Each is a complete set of kernels (falling back to the next
/// lower path of the same architecture where a kernel is not written yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Isa {
    /// Portable scalar Rust: the reference kernels. Always available.
    Scalar = 0,
    /// x86-64 AVX2 with FMA and F16C.
    Avx2 = 1,
    /// x86-64 AVX-512 F/BW/VL (with FMA/F16C); VNNI/BF16 used where present.
    Avx512 = 2,
    /// aarch64 Advanced SIMD (dotprod used where present).
    Neon = 3,
}

impl Isa {
    /// Every ISA lowbit knows, lowest first.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon];

    /// The lower-case name used by `LOWBIT_ISA`, the CLI and the C ABI.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Parses a name (case-insensitive).
    pub fn from_name(name: &str) -> Result<Isa> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| Error::UnknownIsa {
                name: name.to_string(),
            })
    }

    /// The numeric code used by the C ABI.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Inverse of [`Isa::code`].
    pub fn from_code(code: u32) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| u32::from(i.code()) == code)
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        let f = cpu_features();
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => f.avx2 && f.fma && f.f16c,
            Isa::Avx512 => f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl,
            Isa::Neon => f.neon,
        }
    }

    /// Whether a kernel written for `other` may run when `self` is the cap: same
    /// architecture family and not above the cap.
    pub fn allows(self, other: Isa) -> bool {
        match (self, other) {
            (_, Isa::Scalar) => true,
            (Isa::Neon, Isa::Neon) => true,
            (Isa::Avx2 | Isa::Avx512, Isa::Avx2 | Isa::Avx512) => other <= self,
            _ => false,
        }
    }

    /// The best path this CPU supports (detected once).
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            [Isa::Avx512, Isa::Avx2, Isa::Neon]
                .into_iter()
                .find(|i| i.is_available())
                .unwrap_or(Isa::Scalar)
        })
    }

    /// Every path this CPU supports, lowest first (what the tests iterate over).
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    /// Checks availability, as a `Result`.
    pub fn require(self) -> Result<Isa> {
        if self.is_available() {
            Ok(self)
        } else {
            Err(Error::IsaUnavailable { isa: self.name() })
        }
    }
}

impl core::fmt::Display for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a kernel's instructions need: an ISA path plus the extension a variant of it uses
/// (`avx512vnni` for `vpdpbusd`, `neondot` for `sdot`). Every registry entry names one, so
/// `lowbit info` and `lowbit bench` say which variant ran, and tests can run every
/// variant the CPU has in one process (a VNNI machine runs the `avx512bw` entries too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// Portable scalar Rust.
    Scalar,
    /// AVX2 + FMA + F16C.
    Avx2,
    /// AVX-512 F/BW/VL (+ AVX2, FMA, F16C).
    Avx512,
    /// [`Variant::Avx512`] plus AVX-512 VNNI.
    Avx512Vnni,
    /// aarch64 Advanced SIMD.
    Neon,
    /// [`Variant::Neon`] plus the dot-product extension (`sdot`).
    NeonDot,
}

impl Variant {
    /// Every variant, lowest first within each architecture.
    pub const ALL: [Variant; 6] = [
        Variant::Scalar,
        Variant::Avx2,
        Variant::Avx512,
        Variant::Avx512Vnni,
        Variant::Neon,
        Variant::NeonDot,
    ];

    /// The name kernel names end with.
    pub const fn name(self) -> &'static str {
        match self {
            Variant::Scalar => "scalar",
            Variant::Avx2 => "avx2",
            Variant::Avx512 => "avx512",
            Variant::Avx512Vnni => "avx512vnni",
            Variant::Neon => "neon",
            Variant::NeonDot => "neondot",
        }
    }

    /// The ISA path the variant belongs to (what caps and `LOWBIT_ISA` compare).
    pub const fn isa(self) -> Isa {
        match self {
            Variant::Scalar => Isa::Scalar,
            Variant::Avx2 => Isa::Avx2,
            Variant::Avx512 | Variant::Avx512Vnni => Isa::Avx512,
            Variant::Neon | Variant::NeonDot => Isa::Neon,
        }
    }

    /// Whether this CPU can run the variant's instructions.
    pub fn is_available(self) -> bool {
        let f = cpu_features();
        self.isa().is_available()
            && match self {
                Variant::Avx512Vnni => f.avx512vnni,
                Variant::NeonDot => f.dotprod,
                _ => true,
            }
    }
}

impl core::fmt::Display for Variant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// CPU features lowbit cares about, detected once at run time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    /// x86 AVX2.
    pub avx2: bool,
    /// x86 FMA3.
    pub fma: bool,
    /// x86 F16C (f16 <-> f32 conversion).
    pub f16c: bool,
    /// x86 AVX-512 Foundation.
    pub avx512f: bool,
    /// x86 AVX-512 Byte/Word.
    pub avx512bw: bool,
    /// x86 AVX-512 Vector Length.
    pub avx512vl: bool,
    /// x86 AVX-512 VNNI (`vpdpbusd`).
    pub avx512vnni: bool,
    /// x86 AVX-512 BF16.
    pub avx512bf16: bool,
    /// x86 AVX-512 VBMI (`vpermb`).
    pub avx512vbmi: bool,
    /// x86 AVX-VNNI (VEX-encoded `vpdpbusd`).
    pub avxvnni: bool,
    /// aarch64 Advanced SIMD.
    pub neon: bool,
    /// aarch64 SDOT/UDOT.
    pub dotprod: bool,
    /// aarch64 SMMLA/UMMLA.
    pub i8mm: bool,
    /// aarch64 half-precision arithmetic.
    pub fp16: bool,
}

impl CpuFeatures {
    /// The names of the features present, for `lowbit info`.
    pub fn names(&self) -> Vec<&'static str> {
        let all = [
            (self.avx2, "avx2"),
            (self.fma, "fma"),
            (self.f16c, "f16c"),
            (self.avx512f, "avx512f"),
            (self.avx512bw, "avx512bw"),
            (self.avx512vl, "avx512vl"),
            (self.avx512vnni, "avx512vnni"),
            (self.avx512bf16, "avx512bf16"),
            (self.avx512vbmi, "avx512vbmi"),
            (self.avxvnni, "avxvnni"),
            (self.neon, "neon"),
            (self.dotprod, "dotprod"),
            (self.i8mm, "i8mm"),
            (self.fp16, "fp16"),
        ];
        all.into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| n)
            .collect()
    }
}

/// The CPU's features, detected on first call and cached, minus any named in the
/// comma-separated `LOWBIT_DISABLE` environment variable (e.g. `avx512vnni` or
/// `dotprod`: it can only turn features off, so tests can run the fallback variants of
/// a kernel on a CPU that has the feature). Unknown names are ignored.
pub fn cpu_features() -> CpuFeatures {
    static F: OnceLock<CpuFeatures> = OnceLock::new();
    *F.get_or_init(|| {
        let disable = std::env::var("LOWBIT_DISABLE").unwrap_or_default();
        detect().without(disable.split(',').map(str::trim))
    })
}

impl CpuFeatures {
    /// These features with the named ones turned off.
    pub fn without<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> CpuFeatures {
        for name in names {
            let flag = match name.to_ascii_lowercase().as_str() {
                "avx2" => &mut self.avx2,
                "fma" => &mut self.fma,
                "f16c" => &mut self.f16c,
                "avx512f" => &mut self.avx512f,
                "avx512bw" => &mut self.avx512bw,
                "avx512vl" => &mut self.avx512vl,
                "avx512vnni" => &mut self.avx512vnni,
                "avx512bf16" => &mut self.avx512bf16,
                "avx512vbmi" => &mut self.avx512vbmi,
                "avxvnni" => &mut self.avxvnni,
                "neon" => &mut self.neon,
                "dotprod" => &mut self.dotprod,
                "i8mm" => &mut self.i8mm,
                "fp16" => &mut self.fp16,
                _ => continue,
            };
            *flag = false;
        }
        self
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> CpuFeatures {
    use std::arch::is_x86_feature_detected as has;
    CpuFeatures {
        avx2: has!("avx2"),
        fma: has!("fma"),
        f16c: has!("f16c"),
        avx512f: has!("avx512f"),
        avx512bw: has!("avx512bw"),
        avx512vl: has!("avx512vl"),
        avx512vnni: has!("avx512vnni"),
        avx512bf16: has!("avx512bf16"),
        avx512vbmi: has!("avx512vbmi"),
        avxvnni: has!("avxvnni"),
        ..CpuFeatures::default()
    }
}

#[cfg(target_arch = "aarch64")]
fn detect() -> CpuFeatures {
    use std::arch::is_aarch64_feature_detected as has;
    CpuFeatures {
        neon: has!("neon"),
        dotprod: has!("dotprod"),
        i8mm: has!("i8mm"),
        fp16: has!("fp16"),
        ..CpuFeatures::default()
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect() -> CpuFeatures {
    CpuFeatures::default()
}

/// `u8::MAX` means "no API cap set".
static CAP: AtomicU8 = AtomicU8::new(u8::MAX);

/// The `LOWBIT_ISA` override, parsed and checked once.
fn env_cap() -> &'static Result<Option<Isa>> {
    static ENV: OnceLock<Result<Option<Isa>>> = OnceLock::new();
    ENV.get_or_init(|| match std::env::var("LOWBIT_ISA") {
        Ok(v) if !v.trim().is_empty() => Isa::from_name(&v).and_then(Isa::require).map(Some),
        _ => Ok(None),
    })
}

/// Caps the ISA of every later call (process-wide): calls run on at most this ISA, and
/// never above what `LOWBIT_ISA` and the CPU allow (a cap can only lower the ISA). `None`
/// removes the cap. Errors, and changes nothing, if the CPU lacks the ISA.
pub fn set_isa_cap(isa: Option<Isa>) -> Result<()> {
    match isa {
        Some(i) => {
            i.require()?;
            CAP.store(i.code(), Ordering::Relaxed);
        }
        None => CAP.store(u8::MAX, Ordering::Relaxed),
    }
    Ok(())
}

/// The cap set by [`set_isa_cap`], if any.
pub fn isa_cap() -> Option<Isa> {
    Isa::from_code(u32::from(CAP.load(Ordering::Relaxed)))
}

/// The ISA calls run on when they do not name one: the best the CPU has, lowered by
/// `LOWBIT_ISA`, then by the API cap. Errors when `LOWBIT_ISA` names an unknown or
/// unavailable ISA (and no API cap is set, which then bounds calls instead).
pub fn active_isa() -> Result<Isa> {
    let cap = isa_cap();
    let base = match (env_cap(), cap) {
        (Ok(Some(i)), _) => *i,
        (Ok(None), _) | (Err(_), Some(_)) => Isa::best(),
        (Err(e), None) => return Err(e.clone()),
    };
    Ok(match cap {
        Some(c) if base.allows(c) => c,
        _ => base,
    })
}

/// The ISA a call that asks for `requested` runs on: the active ISA ([`active_isa`]) when
/// it asks for none, else the requested ISA lowered to the active one when the request is
/// above it (a per-call choice obeys `LOWBIT_ISA` and the cap). Asking for an ISA this CPU
/// lacks is an error.
pub fn call_isa(requested: Option<Isa>) -> Result<Isa> {
    let active = active_isa()?;
    match requested {
        None => Ok(active),
        Some(i) => {
            i.require()?;
            Ok(if active.allows(i) { i } else { active })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_unknown_is_an_error() {
        for i in Isa::ALL {
            assert_eq!(Isa::from_name(i.name()), Ok(i));
            assert_eq!(Isa::from_code(u32::from(i.code())), Some(i));
        }
        assert_eq!(Isa::from_name(" AVX2 "), Ok(Isa::Avx2));
        assert!(matches!(
            Isa::from_name("sse9"),
            Err(Error::UnknownIsa { .. })
        ));
        assert_eq!(Isa::from_code(99), None);
    }

    #[test]
    fn scalar_always_available_and_best_is_available() {
        assert!(Isa::Scalar.is_available());
        assert!(Isa::best().is_available());
        assert!(Isa::available().contains(&Isa::best()));
    }

    #[test]
    fn unavailable_isa_is_an_error() {
        for i in Isa::ALL.into_iter().filter(|i| !i.is_available()) {
            assert_eq!(i.require(), Err(Error::IsaUnavailable { isa: i.name() }));
            assert!(set_isa_cap(Some(i)).is_err());
        }
    }

    #[test]
    fn without_only_turns_features_off() {
        let all = CpuFeatures {
            avx2: true,
            avx512vnni: true,
            dotprod: true,
            ..CpuFeatures::default()
        };
        let f = all.without(["avx512vnni", "DOTPROD", "bogus", ""]);
        assert!(f.avx2 && !f.avx512vnni && !f.dotprod);
        assert_eq!(
            CpuFeatures::default().without(["avx2"]),
            CpuFeatures::default()
        );
    }

    #[test]
    fn allows_is_family_and_order() {
        assert!(Isa::Avx512.allows(Isa::Avx2));
        assert!(!Isa::Avx2.allows(Isa::Avx512));
        assert!(Isa::Neon.allows(Isa::Scalar));
        assert!(!Isa::Neon.allows(Isa::Avx2));
        assert!(!Isa::Scalar.allows(Isa::Neon));
    }
}
