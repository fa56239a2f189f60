//! A reader for safetensors files, by hand: an 8-byte little-endian header length, a
//! JSON header `{name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}` with an
//! optional `"__metadata__"` object of strings, then the raw little-endian tensor data
//! (offsets are relative to the end of the header).
//!
//! Only the header is read up front; each tensor is read when asked for, so files
//! larger than memory can be walked one tensor at a time. Every offset and length is
//! checked against the file before anything is read.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use crate::json::{self, Value};

/// Headers larger than this are rejected (the reference implementation's limit).
const MAX_HEADER: u64 = 100 * 1024 * 1024;

/// One tensor's entry in the header.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The tensor's name (the header key).
    pub name: String,
    /// The dtype as written, e.g. `F32`, `BF16`, `I64`.
    pub dtype: String,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Start of the data, in bytes after the header.
    pub begin: u64,
    /// End (exclusive) of the data, in bytes after the header.
    pub end: u64,
}

impl TensorInfo {
    /// `[a, b, c]` for messages.
    pub fn shape_text(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        format!("[{}]", dims.join(", "))
    }
}

/// Bytes per element of the dtypes the safetensors format defines (`None`: unknown).
pub fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" | "C64" => 8,
        _ => return None,
    })
}

/// An open safetensors file with its parsed header.
#[derive(Debug)]
pub struct SafeTensors {
    path: PathBuf,
    file: File,
    /// Offset of the data section in the file (8 + header length).
    data_start: u64,
    /// Tensors in header order.
    pub tensors: Vec<TensorInfo>,
    /// `__metadata__` entries (string values only).
    pub metadata: Vec<(String, String)>,
}

impl SafeTensors {
    /// Opens `path` and parses and checks its header.
    pub fn open(path: &Path) -> Result<SafeTensors, String> {
        let at = |e: std::io::Error| format!("{}: {e}", path.display());
        let bad =
            |what: String| format!("{}: not a valid safetensors file: {what}", path.display());
        let mut file = File::open(path).map_err(at)?;
        let file_len = file.metadata().map_err(at)?.len();
        if file_len < 8 {
            return Err(bad(format!(
                "{file_len} bytes, shorter than the 8-byte header length"
            )));
        }
        let mut len_bytes = [0u8; 8];
        file.read_exact(&mut len_bytes).map_err(at)?;
        let header_len = u64::from_le_bytes(len_bytes);
        if header_len > MAX_HEADER {
            return Err(bad(format!(
                "header length {header_len} exceeds the {MAX_HEADER}-byte limit"
            )));
        }
        if header_len > file_len - 8 {
            return Err(bad(format!(
                "header length {header_len} exceeds the {} bytes after the length \
                 (truncated file?)",
                file_len - 8
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header).map_err(at)?;
        let header =
            String::from_utf8(header).map_err(|e| bad(format!("header is not UTF-8 ({e})")))?;
        let data_start = 8 + header_len;
        let (tensors, metadata) = parse_header(&header, file_len - data_start).map_err(bad)?;
        Ok(SafeTensors {
            path: path.to_path_buf(),
            file,
            data_start,
            tensors,
            metadata,
        })
    }

    /// Reads a tensor's raw bytes.
    pub fn read_bytes(&mut self, t: &TensorInfo) -> Result<Vec<u8>, String> {
        let at = |e: std::io::Error| {
            format!("{}: reading tensor `{}`: {e}", self.path.display(), t.name)
        };
        let len = usize::try_from(t.end - t.begin)
            .map_err(|_| format!("tensor `{}` is too large for this machine", t.name))?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(len)
            .map_err(|_| format!("tensor `{}`: cannot allocate {len} bytes", t.name))?;
        buf.resize(len, 0);
        self.file
            .seek(SeekFrom::Start(self.data_start + t.begin))
            .map_err(at)?;
        self.file.read_exact(&mut buf).map_err(at)?;
        Ok(buf)
    }

    /// Reads a tensor of dtype F32, F16 or BF16 as f32 values (row-major, as stored).
    pub fn read_f32(&mut self, t: &TensorInfo) -> Result<Vec<f32>, String> {
        let bytes = self.read_bytes(t)?;
        let out = match t.dtype.as_str() {
            "F32" => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            "F16" => bytes
                .chunks_exact(2)
                .map(|b| lowbit::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                .collect(),
            "BF16" => bytes
                .chunks_exact(2)
                .map(|b| lowbit::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                .collect(),
            other => {
                return Err(format!(
                    "tensor `{}`: dtype {other} is not a float type lowbit reads",
                    t.name
                ))
            }
        };
        Ok(out)
    }
}

type Header = (Vec<TensorInfo>, Vec<(String, String)>);

/// Parses and checks the JSON header against `data_len` bytes of data.
fn parse_header(header: &str, data_len: u64) -> Result<Header, String> {
    let root = json::parse(header.trim_end_matches(' ')).map_err(|e| format!("header: {e}"))?;
    let Some(members) = root.as_object() else {
        return Err(format!("header is {}, not an object", root.kind()));
    };
    let mut tensors = Vec::new();
    let mut metadata = Vec::new();
    for (name, entry) in members {
        if name == "__metadata__" {
            let Some(m) = entry.as_object() else {
                return Err(format!("`__metadata__` is {}, not an object", entry.kind()));
            };
            for (k, v) in m {
                match v.as_str() {
                    Some(s) => metadata.push((k.clone(), s.to_string())),
                    None => {
                        return Err(format!("`__metadata__.{k}` is {}, not a string", v.kind()))
                    }
                }
            }
            continue;
        }
        tensors.push(tensor_info(name, entry, data_len)?);
    }
    Ok((tensors, metadata))
}

fn tensor_info(name: &str, entry: &Value, data_len: u64) -> Result<TensorInfo, String> {
    let field = |key: &str| {
        entry
            .get(key)
            .ok_or_else(|| format!("tensor `{name}`: no `{key}`"))
    };
    let dtype = field("dtype")?
        .as_str()
        .ok_or_else(|| format!("tensor `{name}`: `dtype` is not a string"))?
        .to_string();
    let shape = field("shape")?
        .as_array()
        .ok_or_else(|| format!("tensor `{name}`: `shape` is not an array"))?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| format!("tensor `{name}`: `shape` holds a value that is not a size"))?;
    let offsets = field("data_offsets")?
        .as_array()
        .and_then(|o| match o {
            [b, e] => Some((b.as_u64()?, e.as_u64()?)),
            _ => None,
        })
        .ok_or_else(|| format!("tensor `{name}`: `data_offsets` is not [begin, end]"))?;
    let (begin, end) = offsets;
    if begin > end {
        return Err(format!(
            "tensor `{name}`: data_offsets [{begin}, {end}] run backwards"
        ));
    }
    if end > data_len {
        return Err(format!(
            "tensor `{name}`: data_offsets end {end} is past the {data_len} data bytes \
             (truncated file?)"
        ));
    }
    if let Some(size) = dtype_size(&dtype) {
        let want = shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d as u64));
        if want != Some(end - begin) {
            return Err(format!(
                "tensor `{name}`: {dtype} {shape:?} needs {} bytes, data_offsets give {}",
                want.map_or("too many".to_string(), |w| w.to_string()),
                end - begin
            ));
        }
    }
    Ok(TensorInfo {
        name: name.to_string(),
        dtype,
        shape,
        begin,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        let (t, m) = parse_header(
            r#"{"__metadata__":{"format":"pt"},"w":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},
                "b":{"dtype":"X9","shape":[5],"data_offsets":[12,13]}}  "#,
            13,
        )
        .unwrap();
        assert_eq!(m, [("format".to_string(), "pt".to_string())]);
        assert_eq!(
            (t[0].name.as_str(), &t[0].shape[..], t[0].end),
            ("w", &[2, 3][..], 12)
        );
        assert_eq!(t[1].dtype, "X9");
        for (bad, why) in [
            ("[]", "not an object"),
            (r#"{"w":{"shape":[1],"data_offsets":[0,4]}}"#, "no `dtype`"),
            (
                r#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                "not a size",
            ),
            (
                r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
                "backwards",
            ),
            (
                r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,40]}}"#,
                "past the",
            ),
            (
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                "needs 8 bytes",
            ),
            (
                r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#,
                "[begin, end]",
            ),
            (r#"{"__metadata__":{"a":1}}"#, "not a string"),
        ] {
            let e = parse_header(bad, 13).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
