//! GPT-2's byte-level splitting, written out rather than run as its
//! regular expression,
//!
//! ```text
//! 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//! ```
//!
//! alternatives tried in that order at each place, each as long as it goes,
//! and its byte-to-character table: every byte a printable character, so
//! any text, in any encoding of anything, is made of the vocabulary's 256
//! base symbols. Letters (`\p{L}`) and numbers (`\p{N}`) are the
//! `unicode_categories` tables' (the `tokenizers` package runs the
//! expression with Oniguruma's tables, which are newer: letters of scripts
//! added to Unicode since may split differently).

use unicode_categories::UnicodeCategories;

const CONTRACTIONS: [&str; 7] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

fn is_letter(c: char) -> bool {
    c.is_letter()
}

fn is_number(c: char) -> bool {
    c.is_number()
}

fn is_other(c: char) -> bool {
    !c.is_whitespace() && !is_letter(c) && !is_number(c)
}

/// Calls `word` with each piece of `text`, as the expression splits it.
pub fn split(text: &str, word: &mut dyn FnMut(&str)) {
    let mut at = 0;
    while at < text.len() {
        let end = match_at(text, at);
        word(&text[at..end]);
        at = end;
    }
}

/// Where the piece starting at `at` ends (always after `at`).
fn match_at(text: &str, at: usize) -> usize {
    let rest = &text[at..];
    if let Some(c) = CONTRACTIONS.iter().find(|c| rest.starts_with(**c)) {
        return at + c.len();
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a space, then a run of
    // one class.
    let after_space = rest.strip_prefix(' ').map_or(0, |_| 1);
    for class in [is_letter as fn(char) -> bool, is_number, is_other] {
        let run = run_of(&rest[after_space..], class);
        if run > 0 {
            return at + after_space + run;
        }
    }
    // `\s+(?!\S)`, else `\s+`: a run of whitespace, less its last
    // character when a non-space follows it (that one goes with the next
    // piece, as its leading space), unless that leaves nothing.
    let run = run_of(rest, char::is_whitespace);
    if run == 0 {
        // Not reached: every character is whitespace or of one class.
        return at + rest.chars().next().map_or(1, char::len_utf8);
    }
    if run < rest.len() {
        let last = rest[..run].chars().next_back().map_or(0, char::len_utf8);
        if run > last {
            return at + run - last;
        }
    }
    at + run
}

/// Bytes at the start of `text` whose characters are all of `class`.
fn run_of(text: &str, class: impl Fn(char) -> bool) -> usize {
    text.char_indices()
        .find(|&(_, c)| !class(c))
        .map_or(text.len(), |(i, _)| i)
}

/// The character that stands for each byte: printable Latin-1 for itself,
/// the rest (controls, space, ...) moved to U+0100 and up, in order.
fn byte_char(byte: u8) -> char {
    const fn table() -> [char; 256] {
        let mut chars = ['\0'; 256];
        let mut moved = 0u32;
        let mut b = 0usize;
        while b < 256 {
            let printable = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
            let code = if printable {
                b as u32
            } else {
                moved += 1;
                255 + moved
            };
            chars[b] = match char::from_u32(code) {
                Some(c) => c,
                None => '\0',
            };
            b += 1;
        }
        chars
    }
    const TABLE: [char; 256] = table();
    TABLE[byte as usize]
}

/// `word`'s UTF-8 bytes as byte-level characters, into `out` (cleared).
pub fn map_bytes(word: &str, out: &mut String) {
    out.clear();
    out.extend(word.bytes().map(byte_char));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        split(text, &mut |w| out.push(w.to_owned()));
        out
    }

    #[test]
    fn splits_as_gpt2_does() {
        assert_eq!(
            pieces("Hello world's 42 times!!  ok   "),
            [
                "Hello", " world", "'s", " 42", " times", "!!", " ", " ok", "   "
            ]
        );
        assert_eq!(pieces(" \n x"), [" \n", " x"]);
        assert_eq!(pieces("a\u{94f}"), ["a", "\u{94f}"]);
    }

    #[test]
    fn every_byte_has_its_own_printable_character() {
        assert_eq!(byte_char(b'A'), 'A');
        assert_eq!(byte_char(b' '), '\u{120}');
        assert_eq!(byte_char(0), '\u{100}');
        let all: std::collections::HashSet<char> = (0..=255u8).map(byte_char).collect();
        assert_eq!(all.len(), 256);
    }
}
