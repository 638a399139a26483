//! The vocabulary's added tokens (`added_tokens`): `[CLS]`, `[SEP]`,
//! `[MASK]`, ... Written in the text itself, one is the token, not its
//! letters: they are found in the raw text before anything else, leftmost
//! first and the longest where several start at one place, as `tokenizers`
//! finds them, and the text between them goes through the pipeline.

use crate::Error;
pub use crate::config::AddedToken;

/// What a text is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// An added token's id.
    Added(u32),
    /// Text between added tokens (never empty).
    Text(&'a str),
}

#[derive(Debug, Clone)]
struct Token {
    content: String,
    id: u32,
    /// Whitespace to its left belongs to it (and is dropped).
    lstrip: bool,
    /// Whitespace to its right belongs to it.
    rstrip: bool,
}

/// The added tokens matched in raw text.
#[derive(Debug, Clone, Default)]
pub struct AddedTokens {
    tokens: Vec<Token>,
}

impl AddedTokens {
    /// Refuses tokens matched in other ways than as raw text: those matched
    /// after normalization (`normalized: true`) or only as whole words
    /// (`single_word: true`).
    pub fn new(tokens: &[AddedToken]) -> Result<AddedTokens, Error> {
        let mut kept = Vec::with_capacity(tokens.len());
        for t in tokens {
            let refuse = |what: &str| Error::Unsupported {
                stage: "added token",
                kind: format!("{} with {what}", t.content),
            };
            if t.normalized {
                return Err(refuse("normalized: true"));
            }
            if t.single_word {
                return Err(refuse("single_word: true"));
            }
            if t.content.is_empty() {
                continue;
            }
            kept.push(Token {
                content: t.content.clone(),
                id: t.id,
                lstrip: t.lstrip,
                rstrip: t.rstrip,
            });
        }
        Ok(AddedTokens { tokens: kept })
    }

    /// `text` as added tokens and the stretches between them.
    pub fn split<'a>(&self, text: &'a str) -> Vec<Piece<'a>> {
        let mut pieces = Vec::new();
        // Where the text not yet emitted starts.
        let mut rest = 0;
        let mut at = 0;
        while at < text.len() {
            let Some(token) = self.longest_at(&text[at..]) else {
                at += text[at..].chars().next().map_or(1, char::len_utf8);
                continue;
            };
            let mut start = at;
            if token.lstrip {
                start = rest + text[rest..at].trim_end().len();
            }
            let mut end = at + token.content.len();
            if token.rstrip {
                end = text.len() - text[end..].trim_start().len();
            }
            if start > rest {
                pieces.push(Piece::Text(&text[rest..start]));
            }
            pieces.push(Piece::Added(token.id));
            rest = end;
            at = end;
        }
        if rest < text.len() {
            pieces.push(Piece::Text(&text[rest..]));
        }
        pieces
    }

    fn longest_at(&self, text: &str) -> Option<&Token> {
        self.tokens
            .iter()
            .filter(|t| text.starts_with(&t.content))
            .max_by_key(|t| t.content.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(content: &str, id: u32, lstrip: bool, rstrip: bool) -> AddedToken {
        AddedToken {
            id,
            content: content.into(),
            single_word: false,
            lstrip,
            rstrip,
            normalized: false,
            special: true,
        }
    }

    #[test]
    fn tokens_are_found_leftmost_and_longest() {
        let added = AddedTokens::new(&[
            token("[M]", 1, false, false),
            token("[MASK]", 2, false, false),
        ])
        .unwrap();
        assert_eq!(
            added.split("a[MASK]b [M]"),
            vec![
                Piece::Text("a"),
                Piece::Added(2),
                Piece::Text("b "),
                Piece::Added(1)
            ]
        );
        assert_eq!(added.split(""), vec![]);
        assert_eq!(added.split("é"), vec![Piece::Text("é")]);
    }

    #[test]
    fn stripping_tokens_take_the_whitespace_beside_them() {
        let added = AddedTokens::new(&[token("<m>", 7, true, true)]).unwrap();
        assert_eq!(
            added.split("a  <m>  b"),
            vec![Piece::Text("a"), Piece::Added(7), Piece::Text("b")]
        );
    }

    #[test]
    fn tokens_matched_otherwise_are_refused() {
        let mut t = token("hello", 3, false, false);
        t.normalized = true;
        let e = AddedTokens::new(&[t]).unwrap_err();
        assert!(e.to_string().contains("hello with normalized: true"), "{e}");
    }
}
