//! NumPy `.npy` files as tensors: format versions 1 to 3, C order, little
//! endian, numbers, booleans and text. Read by the CLI's `--input` (the
//! bytes come from the user) and fuzzed (`fuzz/`).

use crate::{ElementType, Tensor, TensorData};

/// The first bytes of every `.npy` file.
pub const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a NumPy `.npy` file (format versions 1 to 3, C order, little
/// endian, one of the supported element types).
pub fn tensor_from_npy(name: &str, bytes: &[u8]) -> Result<Tensor, String> {
    let rest = bytes
        .strip_prefix(NPY_MAGIC)
        .ok_or("not a .npy file (no \\x93NUMPY magic)")?;
    let (header_len, rest) = match rest {
        [1, _, a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) as usize, rest),
        [2 | 3, _, a, b, c, d, rest @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, rest),
        [major, ..] => return Err(format!(".npy format version {major} is not supported")),
        [] => return Err("truncated .npy header".into()),
    };
    let header = rest.get(..header_len).ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "the .npy header is not text")?;
    let body = &rest[header_len..];

    let descr = dict_value(header, "descr").ok_or("the .npy header has no 'descr'")?;
    // A quoted string such as '<f4': up to its closing quote.
    let descr = descr
        .strip_prefix(['\'', '"'])
        .and_then(|d| d.split(['\'', '"']).next())
        .ok_or("the .npy header's 'descr' is not a string")?;
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran-order arrays are not supported; save np.ascontiguousarray(a)".into());
    }
    let shape_text = dict_value(header, "shape").ok_or("the .npy header has no 'shape'")?;
    let shape = shape_text
        .trim_start_matches('(')
        .split(')')
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>())
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| format!("cannot read the .npy shape {shape_text}"))?;

    if let Some(data) = strings_from_npy(descr, &shape, body)? {
        return Ok(Tensor::new(name, shape, data));
    }
    let element_type = match descr {
        "<f4" => ElementType::F32,
        "<f8" => ElementType::F64,
        "<i4" => ElementType::I32,
        "<i8" => ElementType::I64,
        "|u1" | "<u1" => ElementType::U8,
        "|b1" => ElementType::Bool,
        other => {
            return Err(format!(
                "element type '{other}' is not supported; use float32, float64, int32, int64, uint8, bool (little endian) or str"
            ));
        }
    };
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d as usize));
    let expected = count
        .and_then(|n| n.checked_mul(element_type.size_of()))
        .ok_or("the .npy shape is too large")?;
    if body.len() != expected {
        return Err(format!(
            "the .npy data is {} bytes, but shape {:?} of {element_type} needs {expected}",
            body.len(),
            shape
        ));
    }
    fn le<const N: usize, T>(body: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
        body.chunks_exact(N)
            .map(|c| f(c.try_into().expect("chunks are N bytes")))
            .collect()
    }
    let data = match element_type {
        ElementType::F32 => TensorData::F32(le(body, f32::from_le_bytes)),
        ElementType::F64 => TensorData::F64(le(body, f64::from_le_bytes)),
        ElementType::I32 => TensorData::I32(le(body, i32::from_le_bytes)),
        ElementType::I64 => TensorData::I64(le(body, i64::from_le_bytes)),
        ElementType::U8 => TensorData::U8(body.to_vec()),
        ElementType::Bool => TensorData::Bool(body.iter().map(|&b| b != 0).collect()),
        // Text is read by `strings_from_npy` above.
        ElementType::String => return Err(format!("cannot read '{descr}' as text")),
    };
    Ok(Tensor::new(name, shape, data))
}

/// Reads a NumPy array of text: `<U{n}` (n UTF-32 characters each, as
/// `np.array(["north", "south"])` makes) or `|S{n}` (n bytes each, read as
/// UTF-8); the padding NULs at the end are dropped, as NumPy drops them.
/// `None` for any other element type.
/// Object arrays are refused: `.npy` stores them as Python pickles.
fn strings_from_npy(descr: &str, shape: &[u32], body: &[u8]) -> Result<Option<TensorData>, String> {
    let (bytes_per_char, width) = match descr.as_bytes() {
        [b'<' | b'=', b'U', ..] => (4, &descr[2..]),
        [b'|', b'S', ..] => (1, &descr[2..]),
        [b'|', b'O'] => {
            return Err(
                "object arrays are stored as Python pickles, which are not read; save text as \
                        np.save(path, array.astype(str))"
                    .into(),
            );
        }
        _ => return Ok(None),
    };
    let width: usize = width
        .parse()
        .map_err(|_| format!("cannot read the width of element type '{descr}'"))?;
    // Zero-width text would let a few bytes of header claim any number of
    // (empty) elements.
    if width == 0 {
        return Err(format!("element type '{descr}' has zero-width text"));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d as usize));
    let item = width
        .checked_mul(bytes_per_char)
        .ok_or_else(|| format!("element type '{descr}' is too wide"))?;
    let expected = count
        .and_then(|n| n.checked_mul(item))
        .ok_or("the .npy shape is too large")?;
    if body.len() != expected {
        return Err(format!(
            "the .npy data is {} bytes, but shape {shape:?} of '{descr}' needs {expected}",
            body.len()
        ));
    }
    let strings = (0..count.unwrap_or(0))
        .map(|i| {
            let raw = &body[i * item..(i + 1) * item];
            if bytes_per_char == 1 {
                let end = raw.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                String::from_utf8(raw[..end].to_vec())
                    .map_err(|_| format!("element {i} is not UTF-8 text"))
            } else {
                let chars: Vec<u32> = raw
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                // As NumPy reads them: the padding is the NULs at the end;
                // one inside the text is a character of it.
                let end = chars.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
                chars[..end]
                    .iter()
                    .map(|&c| {
                        char::from_u32(c).ok_or_else(|| format!("element {i} is not valid text"))
                    })
                    .collect::<Result<String, String>>()
            }
        })
        .collect::<Result<Vec<String>, String>>()?;
    Ok(Some(TensorData::String(strings)))
}

/// The text after `'key':` in a Python dict literal.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let after = &header[at + key.len() + 2..];
    Some(after.trim_start().strip_prefix(':')?.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = NPY_MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn reads_npy() {
        let body: Vec<u8> = [1.0f32, 2.0, 3.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let t = tensor_from_npy("x", &npy("<f4", "(1, 3)", &body)).unwrap();
        assert_eq!(
            (t.shape, t.data),
            (vec![1, 3], TensorData::F32(vec![1.0, 2.0, 3.0]))
        );
        let t = tensor_from_npy("b", &npy("|b1", "(2,)", &[0, 1])).unwrap();
        assert_eq!(t.data, TensorData::Bool(vec![false, true]));
    }

    #[test]
    fn reads_npy_text() {
        // np.array([["north"], ["é"], ["a\0b"]]): '<U5', UTF-32 padded with
        // NULs; NumPy keeps a NUL inside a text.
        let mut body = Vec::new();
        for s in ["north", "é", "a\0b"] {
            let mut chars: Vec<u32> = s.chars().map(u32::from).collect();
            chars.resize(5, 0);
            body.extend(chars.iter().flat_map(|c| c.to_le_bytes()));
        }
        let t = tensor_from_npy("city", &npy("<U5", "(3, 1)", &body)).unwrap();
        assert_eq!(t.shape, [3, 1]);
        assert_eq!(
            t.data,
            TensorData::String(vec!["north".into(), "é".into(), "a\0b".into()])
        );
        let t = tensor_from_npy("c", &npy("|S3", "(2,)", b"ab\0xyz")).unwrap();
        assert_eq!(t.data, TensorData::String(vec!["ab".into(), "xyz".into()]));
        let e = tensor_from_npy("c", &npy("|O", "(1,)", &[0; 8])).unwrap_err();
        assert!(e.contains("pickles") && e.contains("astype(str)"), "{e}");
    }

    #[test]
    fn text_widths_cannot_claim_more_than_the_file_holds() {
        // Found by fuzzing (fuzz/regressions/tensor_files/): a width whose
        // size in bytes overflows, and zero-width text, which let a header
        // claim billions of empty strings from an empty body.
        let e = tensor_from_npy("c", &npy("<U4611686018427387904", "(1,)", &[])).unwrap_err();
        assert!(e.contains("too wide"), "{e}");
        let e = tensor_from_npy("c", &npy("|S0", "(4000000000,)", &[])).unwrap_err();
        assert!(e.contains("zero-width"), "{e}");
    }

    #[test]
    fn refuses_bad_npy() {
        let e = tensor_from_npy("x", &npy("<f2", "(1,)", &[0, 0])).unwrap_err();
        assert!(e.contains("'<f2' is not supported"), "{e}");
        let e = tensor_from_npy("x", &npy("<f4", "(2,)", &[0; 4])).unwrap_err();
        assert!(e.contains("4 bytes") && e.contains("needs 8"), "{e}");
        assert!(tensor_from_npy("x", b"PK\x03\x04").is_err());
    }
}
