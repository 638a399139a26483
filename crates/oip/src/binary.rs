//! The binary tensor data extension of the protocol (Triton's, which
//! tritonclient uses by default): a request body is a JSON header of
//! `Inference-Header-Content-Length` bytes followed by the raw tensors of the
//! inputs whose `parameters` carry a `binary_data_size`, in input order; a
//! response does the same for the outputs asked for in binary.
//!
//! Raw tensors are little-endian and row-major; `BOOL` is one byte an
//! element; `BYTES` is each element's length as a little-endian u32
//! followed by its bytes (UTF-8 text here).

use wasmodel_engine::{ElementType, TensorData};

/// Splits a body into its JSON header and binary part, given the value of
/// its `Inference-Header-Content-Length` header.
pub fn split<'b>(body: &'b [u8], header_length: &str) -> Result<(&'b [u8], &'b [u8]), String> {
    let length: usize = header_length.trim().parse().map_err(|_| {
        format!("Inference-Header-Content-Length `{header_length}` is not a number of bytes")
    })?;
    body.split_at_checked(length).ok_or_else(|| {
        format!(
            "Inference-Header-Content-Length is {length}, but the body is only {} bytes",
            body.len()
        )
    })
}

/// Reads `bytes` as `count` elements of `element_type` (whose protocol name
/// is `datatype`, for messages).
pub fn read(
    element_type: ElementType,
    datatype: &str,
    count: usize,
    bytes: &[u8],
) -> Result<TensorData, String> {
    // Fixed-size elements: the bytes must be exactly `count` of them.
    let fixed = |size: usize| -> Result<(), String> {
        let needed = count.checked_mul(size);
        if needed == Some(bytes.len()) {
            return Ok(());
        }
        Err(format!(
            "binary data of {} bytes, but {count} {datatype} elements take {}",
            bytes.len(),
            needed.map_or_else(|| "more than fits in memory".to_string(), |n| n.to_string())
        ))
    };
    fn le<const N: usize, T>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
        bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    let size = element_type.size_of();
    Ok(match element_type {
        ElementType::String => TensorData::String(read_bytes_elements(count, bytes)?),
        ElementType::F32 => fixed(size).map(|()| TensorData::F32(le(bytes, f32::from_le_bytes)))?,
        ElementType::F64 => fixed(size).map(|()| TensorData::F64(le(bytes, f64::from_le_bytes)))?,
        ElementType::I32 => fixed(size).map(|()| TensorData::I32(le(bytes, i32::from_le_bytes)))?,
        ElementType::I64 => fixed(size).map(|()| TensorData::I64(le(bytes, i64::from_le_bytes)))?,
        ElementType::U8 => fixed(size).map(|()| TensorData::U8(bytes.to_vec()))?,
        ElementType::Bool => {
            fixed(size).map(|()| TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()))?
        }
    })
}

/// `BYTES` elements: a little-endian u32 length, then that many bytes.
fn read_bytes_elements(count: usize, mut bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut elements = Vec::with_capacity(count.min(bytes.len() / 4));
    while !bytes.is_empty() {
        let i = elements.len();
        let (length, rest) = bytes
            .split_at_checked(4)
            .ok_or_else(|| format!("BYTES element {i}: its 4-byte length is cut short"))?;
        let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let (text, rest) = rest.split_at_checked(length).ok_or_else(|| {
            format!(
                "BYTES element {i} says it is {length} bytes; {} are left",
                rest.len()
            )
        })?;
        let text = std::str::from_utf8(text)
            .map_err(|_| format!("BYTES element {i} is not UTF-8 text"))?;
        elements.push(text.to_owned());
        bytes = rest;
    }
    if elements.len() != count {
        return Err(format!(
            "binary data holds {} BYTES elements, the shape {count}",
            elements.len()
        ));
    }
    Ok(elements)
}

/// A tensor's elements as raw bytes.
pub fn write(data: &TensorData) -> Vec<u8> {
    fn le<T, const N: usize>(values: &[T], f: fn(&T) -> [u8; N]) -> Vec<u8> {
        values.iter().flat_map(f).collect()
    }
    match data {
        TensorData::F32(v) => le(v, |x| x.to_le_bytes()),
        TensorData::F64(v) => le(v, |x| x.to_le_bytes()),
        TensorData::I32(v) => le(v, |x| x.to_le_bytes()),
        TensorData::I64(v) => le(v, |x| x.to_le_bytes()),
        TensorData::U8(v) => v.clone(),
        TensorData::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
        TensorData::String(v) => {
            let mut out = Vec::with_capacity(v.iter().map(|s| s.len() + 4).sum());
            for s in v {
                // Elements longer than 4 GiB cannot be in a request this
                // server accepts; saturate rather than wrap.
                let length = u32::try_from(s.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&length.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_datatype_round_trips() {
        let cases = [
            TensorData::F32(vec![1.5, -0.0, f32::NAN]),
            TensorData::F64(vec![1e300, -2.5]),
            TensorData::I32(vec![-7, 1 << 30]),
            TensorData::I64(vec![i64::MIN, 3]),
            TensorData::U8(vec![0, 255]),
            TensorData::Bool(vec![true, false, true]),
            TensorData::String(vec!["north".into(), "".into(), "é".into()]),
        ];
        for data in cases {
            let t = data.element_type();
            let back = read(t, "T", data.len(), &write(&data)).unwrap();
            assert_eq!(format!("{back:?}"), format!("{data:?}"), "{t}");
        }
    }

    #[test]
    fn wrong_sizes_are_refused_with_what_was_expected() {
        let e = read(ElementType::F32, "FP32", 3, &[0; 8]).unwrap_err();
        assert!(
            e.contains("8 bytes") && e.contains("3 FP32 elements take 12"),
            "{e}"
        );
        let e = read(ElementType::String, "BYTES", 1, &[9, 0, 0, 0, b'a']).unwrap_err();
        assert!(e.contains("says it is 9 bytes"), "{e}");
        let e = read(ElementType::String, "BYTES", 2, &[1, 0, 0, 0, b'a']).unwrap_err();
        assert!(e.contains("holds 1 BYTES elements"), "{e}");
        let e = read(ElementType::String, "BYTES", 1, &[1, 0, 0, 0, 0xff]).unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
        assert!(split(b"{}", "5").is_err());
        assert!(split(b"{}", "x").is_err());
        assert_eq!(split(b"{}ab", "2").unwrap(), (&b"{}"[..], &b"ab"[..]));
    }
}
