//! Case changes as onnxruntime's `StringNormalizer` makes them on Linux:
//! each code point mapped on its own by glibc's `towlower_l` /
//! `towupper_l` in the `en_US.UTF-8` locale, which are Unicode's simple
//! case mappings (one code point to one). Rust's `to_lowercase` /
//! `to_uppercase` are the full mappings, which differ where a character
//! maps to several (`ß` to `SS`, `İ` to `i̇`): there the simple mapping is
//! taken instead. Checked against onnxruntime 1.31.1 with glibc 2.36 for
//! every cased code point of Unicode 14 below U+30000
//! (`models/text_cases.py`). The tables are Rust's, Unicode 16, so the
//! case pairs Unicode added since (Garay, U+A7DC `Ƛ` with U+019B `ƛ`, ...)
//! are mapped where onnxruntime on an older glibc leaves them: its answer
//! depends on its host's locale data.

/// The simple lowercase of `c`.
pub(crate) fn lower(c: char) -> char {
    let mut full = c.to_lowercase();
    match (full.next(), full.next()) {
        (Some(one), None) => one,
        // Only U+0130 (İ) lowercases to more than one code point; its
        // simple lowercase is `i`.
        _ if c == '\u{130}' => 'i',
        _ => c,
    }
}

/// The simple uppercase of `c`.
pub(crate) fn upper(c: char) -> char {
    let mut full = c.to_uppercase();
    match (full.next(), full.next()) {
        (Some(one), None) => one,
        // Of the characters whose full uppercase is several code points
        // (`ß`, ligatures, Greek with a subscript iota, ...), only these
        // Greek letters have a simple uppercase: the capital with
        // prosgegrammeni, eight code points on or a fixed one.
        _ => match u32::from(c) {
            0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
                char::from_u32(u32::from(c) + 8).unwrap_or(c)
            }
            0x1FB3 => '\u{1FBC}',
            0x1FC3 => '\u{1FCC}',
            0x1FF3 => '\u{1FFC}',
            _ => c,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_mappings_where_the_full_ones_are_longer() {
        assert_eq!(upper('ß'), 'ß');
        assert_eq!(lower('ẞ'), 'ß');
        assert_eq!(lower('İ'), 'i');
        assert_eq!(upper('ı'), 'I');
        assert_eq!(upper('ﬁ'), 'ﬁ');
        assert_eq!(upper('ᾳ'), 'ᾼ');
        assert_eq!(upper('ᾀ'), 'ᾈ');
        assert_eq!(upper('ᾈ'), 'ᾈ');
        assert_eq!(lower('Σ'), 'σ');
        assert_eq!(upper('é'), 'É');
        assert_eq!(lower('😀'), '😀');
    }
}
