//! The FFI boundary, written once: panic catching, error recording, and turning C
//! pointers into Rust references and slices with every check the C ABI promises.
//!
//! Every entry point runs its body through [`status_call`] (or [`value_call`] for the
//! few that return a value instead of a status). Pointers become references only through
//! the helpers here, which apply the same rules everywhere:
//!
//! - a NULL pointer with length 0 is an empty slice; NULL with a nonzero length, or a
//!   NULL pointer where an object is required, is [`Fail::Null`];
//! - a non-NULL pointer must be aligned for its element type ([`Fail::Misaligned`]);
//! - a length whose byte size exceeds `isize::MAX` cannot describe a real buffer;
//! - an output buffer must not overlap any input of the same call.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::mem::size_of;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use crate::status::lowbit_status;

/// Why an entry point failed, before it becomes a [`lowbit_status`] and a message.
#[derive(Debug)]
pub(crate) enum Fail {
    /// A required pointer is NULL (or NULL with a nonzero length).
    Null {
        /// The parameter.
        what: &'static str,
        /// The length that came with it (0 for single objects).
        len: usize,
    },
    /// A pointer is not aligned for its element type.
    Misaligned {
        /// The parameter.
        what: &'static str,
        /// The alignment its type needs.
        align: usize,
    },
    /// A length whose byte size cannot be addressed.
    TooLarge {
        /// The parameter.
        what: &'static str,
        /// The length that was passed.
        len: usize,
    },
    /// An output buffer overlaps an input buffer.
    Overlap {
        /// The output.
        out: &'static str,
        /// The input it overlaps.
        input: &'static str,
    },
    /// An error of the Rust API.
    Lib(lowbit_rs::Error),
}

impl From<lowbit_rs::Error> for Fail {
    fn from(e: lowbit_rs::Error) -> Self {
        Fail::Lib(e)
    }
}

impl Fail {
    /// The status code of this failure.
    pub(crate) fn status(&self) -> lowbit_status {
        match self {
            Fail::Null { .. } => lowbit_status::LOWBIT_ERR_NULL,
            Fail::Misaligned { .. } => lowbit_status::LOWBIT_ERR_MISALIGNED,
            Fail::TooLarge { .. } => lowbit_status::LOWBIT_ERR_BUFFER_LENGTH,
            Fail::Overlap { .. } => lowbit_status::LOWBIT_ERR_INVALID_PARAMETER,
            Fail::Lib(e) => lowbit_status::from_error(e),
        }
    }
}

impl core::fmt::Display for Fail {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Fail::Null { what, len: 0 } => write!(f, "argument `{what}` is NULL"),
            Fail::Null { what, len } => {
                write!(f, "argument `{what}` is NULL but its length is {len}")
            }
            Fail::Misaligned { what, align } => {
                write!(f, "argument `{what}` is not aligned to {align} bytes")
            }
            Fail::TooLarge { what, len } => {
                write!(f, "length {len} of `{what}` is too large to address")
            }
            Fail::Overlap { out, input } => {
                write!(f, "output `{out}` overlaps input `{input}`")
            }
            Fail::Lib(e) => e.fmt(f),
        }
    }
}

thread_local! {
    /// The message of the last failed call on this thread.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Records `message` as this thread's last error (NUL bytes are escaped). Never panics:
/// during thread teardown the message is dropped.
pub(crate) fn record_error(function: &str, message: &str) {
    let text = format!("{function}: {message}").replace('\0', "\\0");
    let text = CString::new(text).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(text);
        }
    });
}

/// A pointer to this thread's last error message; valid until the next failing call on
/// this thread (or thread exit). `""` when nothing has failed yet.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| match slot.try_borrow().as_deref() {
            Ok(Some(s)) => s.as_ptr(),
            _ => c"".as_ptr(),
        })
        .unwrap_or(c"".as_ptr())
}

/// The text of a panic payload, which is then dropped without letting a second panic
/// (from the payload's destructor) escape.
fn panic_text(payload: Box<dyn Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    };
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
    text
}

/// Runs the body of an entry point that returns a status: failures become their status
/// code and this thread's last error message, and a panic becomes
/// [`lowbit_status::LOWBIT_ERR_PANIC`] instead of unwinding into C.
pub(crate) fn status_call(
    function: &'static str,
    body: impl FnOnce() -> Result<(), Fail>,
) -> lowbit_status {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        #[cfg(test)]
        test_hooks::maybe_panic();
        body().map_err(|e| (e.status(), e.to_string()))
    }));
    match outcome {
        Ok(Ok(())) => lowbit_status::LOWBIT_OK,
        Ok(Err((status, message))) => {
            record_error(function, &message);
            status
        }
        Err(payload) => {
            let text = panic_text(payload);
            record_error(function, &format!("internal error (caught panic): {text}"));
            lowbit_status::LOWBIT_ERR_PANIC
        }
    }
}

/// Runs the body of an entry point that returns a value: a panic returns `fallback`
/// (and records the last error message) instead of unwinding into C.
pub(crate) fn value_call<T>(function: &'static str, fallback: T, body: impl FnOnce() -> T) -> T {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        #[cfg(test)]
        test_hooks::maybe_panic();
        body()
    }));
    match outcome {
        Ok(v) => v,
        Err(payload) => {
            let text = panic_text(payload);
            record_error(function, &format!("internal error (caught panic): {text}"));
            fallback
        }
    }
}

/// A static C string's pointer.
pub(crate) fn static_str(s: &'static CStr) -> *const c_char {
    s.as_ptr()
}

/// A NUL-terminated copy of a static Rust string (a kernel's registry name) that lives
/// for the rest of the process. Each distinct name is copied once; the set of names is the
/// finite kernel registry, so the memory is bounded. "" if `s` contains a NUL byte.
/// (A list, not a hash map: a hash table points into the middle of its allocation, which
/// leak checkers such as valgrind report as "possibly lost".)
pub(crate) fn static_name(s: &'static str) -> *const c_char {
    use std::sync::Mutex;
    static NAMES: Mutex<Vec<(&'static str, &'static CStr)>> = Mutex::new(Vec::new());
    let mut names = NAMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&(_, c)) = names.iter().find(|(n, _)| *n == s) {
        return c.as_ptr();
    }
    let Ok(c) = CString::new(s) else {
        return static_str(c"");
    };
    let c: &'static CStr = Box::leak(c.into_boxed_c_str());
    names.push((s, c));
    c.as_ptr()
}

/// Element types that may be read from and written to C memory: every bit pattern is
/// a valid value, and they have no drop glue.
pub(crate) trait Plain: Copy + 'static {}
impl Plain for u8 {}
impl Plain for u16 {}
impl Plain for f32 {}
impl Plain for i32 {}
impl Plain for u32 {}

/// Checks NULL, alignment and addressable size of a `(ptr, len)` buffer; returns
/// `None` for an empty buffer (NULL or not) and the pointer otherwise.
fn check_buffer<T>(
    what: &'static str,
    ptr: *const T,
    len: usize,
) -> Result<Option<*const T>, Fail> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(None)
        } else {
            Err(Fail::Null { what, len })
        };
    }
    if !ptr.is_aligned() {
        return Err(Fail::Misaligned {
            what,
            align: align_of::<T>(),
        });
    }
    match len.checked_mul(size_of::<T>()) {
        Some(bytes) if bytes <= isize::MAX as usize => {}
        _ => return Err(Fail::TooLarge { what, len }),
    }
    Ok(if len == 0 { None } else { Some(ptr) })
}

/// The byte range a buffer occupies, for overlap checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    what: &'static str,
    start: usize,
    bytes: usize,
}

impl Span {
    /// A span that overlaps nothing.
    pub(crate) const EMPTY: Span = Span {
        what: "",
        start: 0,
        bytes: 0,
    };

    /// A span that overlaps every nonempty buffer: what a buffer whose address is not
    /// known stands for, so that no output is written past it.
    pub(crate) const fn everything(what: &'static str) -> Span {
        Span {
            what,
            start: 0,
            bytes: usize::MAX,
        }
    }

    /// The span of a slice.
    pub(crate) fn of<T>(what: &'static str, s: &[T]) -> Span {
        Span {
            what,
            start: s.as_ptr() as usize,
            bytes: core::mem::size_of_val(s),
        }
    }

    fn overlaps(&self, other: &Span) -> bool {
        self.bytes != 0
            && other.bytes != 0
            && self.start < other.start.saturating_add(other.bytes)
            && other.start < self.start.saturating_add(self.bytes)
    }
}

/// Turns a C input buffer into a slice (see the module docs for the rules).
///
/// # Safety
///
/// If `ptr` is non-NULL and `len > 0`, it must point to `len` initialized `T`s that stay
/// valid and unmodified for `'a`.
pub(crate) unsafe fn slice_in<'a, T: Plain>(
    what: &'static str,
    ptr: *const T,
    len: usize,
) -> Result<&'a [T], Fail> {
    match check_buffer(what, ptr, len)? {
        None => Ok(&[]),
        // SAFETY: `p` is non-NULL and aligned, `len * size_of::<T>()` fits in `isize`
        // (checked above); the caller guarantees `len` initialized `T`s valid for `'a`,
        // and every bit pattern is a valid `T` (`Plain`).
        Some(p) => Ok(unsafe { std::slice::from_raw_parts(p, len) }),
    }
}

/// Turns a C output buffer into a mutable slice, after checking that it overlaps none of
/// `inputs` (see the module docs for the other rules).
///
/// # Safety
///
/// If `ptr` is non-NULL and `len > 0`, it must be valid for reads and writes of `len`
/// `T`s for `'a`, and no memory other than the spans in `inputs` may be borrowed from
/// that region during `'a`.
pub(crate) unsafe fn slice_out<'a, T: Plain>(
    what: &'static str,
    ptr: *mut T,
    len: usize,
    inputs: &[Span],
) -> Result<&'a mut [T], Fail> {
    let Some(p) = check_buffer(what, ptr.cast_const(), len)? else {
        return Ok(&mut []);
    };
    let out = Span {
        what,
        start: p as usize,
        bytes: len * size_of::<T>(),
    };
    if let Some(input) = inputs.iter().find(|i| i.overlaps(&out)) {
        return Err(Fail::Overlap {
            out: what,
            input: input.what,
        });
    }
    // SAFETY: `p` is non-NULL and aligned, the byte size fits in `isize` (checked by
    // `check_buffer`); the caller guarantees validity for reads and writes for `'a`, and
    // the region overlaps no borrowed input (checked just above). Any bit pattern is a
    // valid `T` (`Plain`).
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast_mut(), len) })
}

/// Turns a C pointer to a single input object into a reference.
///
/// # Safety
///
/// If `ptr` is non-NULL it must point to an initialized `T`, valid and unmodified for
/// `'a`, and every bit pattern C can store there must be a valid `T`.
pub(crate) unsafe fn ref_in<'a, T>(what: &'static str, ptr: *const T) -> Result<&'a T, Fail> {
    if ptr.is_null() {
        return Err(Fail::Null { what, len: 0 });
    }
    if !ptr.is_aligned() {
        return Err(Fail::Misaligned {
            what,
            align: align_of::<T>(),
        });
    }
    // SAFETY: non-NULL and aligned (checked); the caller guarantees the rest.
    Ok(unsafe { &*ptr })
}

/// A checked (non-NULL, aligned) C pointer to where an output object goes. Nothing is
/// written until [`OutPtr::write`], which entry points call only once they succeed.
pub(crate) struct OutPtr<T>(NonNull<T>);

impl<T> OutPtr<T> {
    /// Checks an output pointer.
    ///
    /// # Safety
    ///
    /// If `ptr` is non-NULL it must be valid for a write of one `T` until the
    /// [`OutPtr`] is written or dropped, and not overlap memory the call reads.
    pub(crate) unsafe fn new(what: &'static str, ptr: *mut T) -> Result<Self, Fail> {
        let Some(p) = NonNull::new(ptr) else {
            return Err(Fail::Null { what, len: 0 });
        };
        if !ptr.is_aligned() {
            return Err(Fail::Misaligned {
                what,
                align: align_of::<T>(),
            });
        }
        Ok(OutPtr(p))
    }

    /// Stores `value` (without reading or dropping what was there: C memory).
    pub(crate) fn write(self, value: T) {
        // SAFETY: non-NULL and aligned (checked in `new`), and valid for a write of one
        // `T` by the contract of `new`.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// Test-only fault injection: make the next boundary call on this thread panic inside.
#[cfg(test)]
pub(crate) mod test_hooks {
    use std::cell::Cell;

    thread_local! {
        static PANIC_NEXT: Cell<bool> = const { Cell::new(false) };
    }

    /// The next entry point called on this thread panics inside its boundary.
    pub(crate) fn panic_in_next_call() {
        PANIC_NEXT.with(|c| c.set(true));
    }

    pub(super) fn maybe_panic() {
        if PANIC_NEXT.with(|c| c.replace(false)) {
            panic!("injected by test_hooks");
        }
    }
}
