//! Reading a search query: words, a prefix, phrases and filters.

use super::tokens::{tokenize, Token};

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Most words, phrases and filters in one query.
pub const MAX_PARTS: usize = 16;

/// A query as the index runs it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Sequences of terms that must appear in this order, next to each
    /// other; a single word is a sequence of one.
    pub phrases: Vec<Vec<String>>,
    /// The last word, matched as the start of a word too; it ends the
    /// last phrase when that one was typed without quotes (`東京都` or
    /// `e-mai`), else it is a phrase of its own.
    pub prefix: Option<Prefix>,
    /// `from:NAME`, as typed (without `@`).
    pub from: Option<String>,
    /// `in:NAME`, as typed (without `#`).
    pub room: Option<String>,
}

/// The word matched as a start.
#[derive(Debug, PartialEq, Eq)]
pub struct Prefix {
    pub term: String,
    /// Index into `phrases` of the phrase it ends, when it ends one.
    pub ends_phrase: Option<usize>,
}

impl Query {
    /// Whether the query names no word (filters alone, or nothing).
    pub fn has_words(&self) -> bool {
        !self.phrases.is_empty() || self.prefix.is_some()
    }
}

/// Why a query is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum QueryError {
    Empty,
    TooLong,
    TooManyParts,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Empty => f.write_str("q is required: the words to search for"),
            QueryError::TooLong => write!(f, "q is longer than {MAX_QUERY_CHARS} characters"),
            QueryError::TooManyParts => {
                write!(f, "q has more than {MAX_PARTS} words, phrases and filters")
            }
        }
    }
}

/// One piece of the query as typed.
enum Piece<'a> {
    Quoted(&'a str),
    Bare(&'a str),
}

fn pieces(q: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = q;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        if let Some(after) = rest.strip_prefix('"') {
            let end = after.find('"').unwrap_or(after.len());
            out.push(Piece::Quoted(&after[..end]));
            rest = after.get(end + 1..).unwrap_or("");
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            out.push(Piece::Bare(&rest[..end]));
            rest = &rest[end..];
        }
    }
}

/// The value of a `name:value` filter, if `word` is one.
fn filter<'a>(word: &'a str, name: &str, mark: char) -> Option<&'a str> {
    let (head, value) = word.split_once(':')?;
    if !head.eq_ignore_ascii_case(name) {
        return None;
    }
    let value = value.strip_prefix(mark).unwrap_or(value);
    (!value.is_empty()).then_some(value)
}

fn terms(tokens: Vec<Token>) -> Vec<String> {
    tokens.into_iter().map(|t| t.term).collect()
}

/// Reads `q`.
pub fn parse(q: &str) -> Result<Query, QueryError> {
    let q = q.trim();
    if q.is_empty() {
        return Err(QueryError::Empty);
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    let pieces = pieces(q);
    if pieces.len() > MAX_PARTS {
        return Err(QueryError::TooManyParts);
    }
    let mut query = Query::default();
    // The last bare piece with words: its last term becomes the prefix.
    let mut last_bare: Option<usize> = None;
    for piece in pieces {
        match piece {
            Piece::Quoted(text) => {
                let t = terms(tokenize(text));
                if !t.is_empty() {
                    query.phrases.push(t);
                    last_bare = None;
                }
            }
            Piece::Bare(word) => {
                if let Some(v) = filter(word, "from", '@') {
                    query.from = Some(v.to_owned());
                } else if let Some(v) = filter(word, "in", '#') {
                    query.room = Some(v.to_owned());
                } else {
                    let t = terms(tokenize(word));
                    if !t.is_empty() {
                        query.phrases.push(t);
                        last_bare = Some(query.phrases.len() - 1);
                    }
                }
            }
        }
    }
    if let Some(i) = last_bare.filter(|&i| i + 1 == query.phrases.len()) {
        let phrase = &mut query.phrases[i];
        if let Some(term) = phrase.pop() {
            let ends_phrase = (!phrase.is_empty()).then_some(i);
            if phrase.is_empty() {
                query.phrases.pop();
            }
            query.prefix = Some(Prefix { term, ends_phrase });
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter()
            .map(|p| p.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn words_filters_and_the_last_word_as_prefix() {
        let q = parse("Café from:@Alice in:#General rasp").expect("query");
        assert_eq!(q.phrases, words(&[&["cafe"]]));
        assert_eq!(
            q.prefix,
            Some(Prefix {
                term: "rasp".into(),
                ends_phrase: None
            })
        );
        assert_eq!(q.from.as_deref(), Some("Alice"));
        assert_eq!(q.room.as_deref(), Some("General"));
    }

    #[test]
    fn quoted_phrases_keep_their_last_word_whole() {
        let q = parse(r#"pie "red fox" "#).expect("query");
        assert_eq!(q.phrases, words(&[&["pie"], &["red", "fox"]]));
        assert_eq!(q.prefix, None);
        let q = parse(r#""unclosed phrase"#).expect("query");
        assert_eq!(q.phrases, words(&[&["unclosed", "phrase"]]));
    }

    #[test]
    fn a_word_of_several_terms_is_a_phrase_ending_in_the_prefix() {
        let q = parse("東京都").expect("query");
        assert_eq!(q.phrases, words(&[&["東京"]]));
        assert_eq!(
            q.prefix,
            Some(Prefix {
                term: "京都".into(),
                ends_phrase: Some(0)
            })
        );
    }

    #[test]
    fn filters_alone_have_no_words() {
        let q = parse("from:bob").expect("query");
        assert!(!q.has_words());
        assert!(!parse("?!").expect("query").has_words());
    }

    #[test]
    fn bad_queries_are_refused() {
        assert_eq!(parse("  "), Err(QueryError::Empty));
        assert_eq!(parse(&"a".repeat(501)), Err(QueryError::TooLong));
        assert_eq!(parse(&"a ".repeat(17)), Err(QueryError::TooManyParts));
        assert!(parse(&"é".repeat(500)).is_ok());
    }
}
