//! Cutting text into the terms the index keys and the queries name.
//!
//! One function serves both sides, so a query term and an indexed term
//! always agree:
//!
//! - letters and digits of any script form words; everything else
//!   separates them;
//! - a word is folded: compatibility-decomposed (NFKD), stripped of its
//!   combining marks (`é` → `e`) and lowercased, so that case and accents
//!   never matter;
//! - Chinese, Japanese and Korean runs have no spaces to cut at: each run
//!   gives its overlapping pairs of characters (`東京都` → `東京`, `京都`),
//!   or its one character when it is alone. Their characters are kept as
//!   written: stripping marks there would merge distinct kana (`が`, `か`).
//!
//! Each term carries its place in the text as UTF-16 offsets, the indexes
//! a JavaScript client highlights with, and its position, so that a phrase
//! can be checked to be in order.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Longest term kept, in bytes: longer words (a pasted hash, a URL's run
/// of letters) are cut to it, on both sides alike.
pub const MAX_TERM_BYTES: usize = 48;

/// One term of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub term: String,
    /// Where it starts in the text, in UTF-16 code units.
    pub start: u32,
    /// Where it ends (exclusive), in UTF-16 code units.
    pub end: u32,
    /// Its place among the text's terms: consecutive terms of a phrase
    /// have consecutive positions.
    pub pos: u32,
}

/// Whether `c` belongs to a script written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x31F0..=0x31FF    // Katakana phonetic extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9D    // half-width Katakana
        | 0x1100..=0x11FF    // Hangul Jamo
        | 0x3130..=0x318F    // Hangul compatibility Jamo
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0x20000..=0x2FA1F) // CJK extensions B and later
}

/// Appends the folded form of a non-CJK word character to `out`.
fn fold_into(c: char, out: &mut String) {
    decompose_compatible(c, |d| {
        if !is_combining_mark(d) {
            out.extend(d.to_lowercase());
        }
    });
}

/// Cuts `term` to at most [`MAX_TERM_BYTES`], on a character boundary.
fn cap(term: &mut String) {
    if term.len() > MAX_TERM_BYTES {
        let mut at = MAX_TERM_BYTES;
        while !term.is_char_boundary(at) {
            at -= 1;
        }
        term.truncate(at);
    }
}

/// The terms of `text`, in order.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    // The word being read: its folded text and where it started.
    let mut word = String::new();
    let mut word_start = 0u32;
    // The CJK run being read: its characters and their offsets.
    let mut run: Vec<(char, u32, u32)> = Vec::new();
    let mut at = 0u32;
    for c in text.chars() {
        let width = c.len_utf16() as u32;
        if is_cjk(c) {
            end_word(&mut word, word_start, at, &mut out);
            run.push((c, at, at + width));
        } else if c.is_alphanumeric() {
            end_run(&mut run, &mut out);
            if word.is_empty() {
                word_start = at;
            }
            fold_into(c, &mut word);
        } else {
            end_word(&mut word, word_start, at, &mut out);
            end_run(&mut run, &mut out);
        }
        at += width;
    }
    end_word(&mut word, word_start, at, &mut out);
    end_run(&mut run, &mut out);
    out
}

fn end_word(word: &mut String, start: u32, end: u32, out: &mut Vec<Token>) {
    if word.is_empty() {
        return;
    }
    let mut term = std::mem::take(word);
    cap(&mut term);
    let pos = out.len() as u32;
    out.push(Token {
        term,
        start,
        end,
        pos,
    });
}

fn end_run(run: &mut Vec<(char, u32, u32)>, out: &mut Vec<Token>) {
    match run.as_slice() {
        [] => {}
        [(c, start, end)] => {
            let pos = out.len() as u32;
            out.push(Token {
                term: c.to_string(),
                start: *start,
                end: *end,
                pos,
            });
        }
        pairs => {
            for w in pairs.windows(2) {
                let pos = out.len() as u32;
                out.push(Token {
                    term: [w[0].0, w[1].0].iter().collect(),
                    start: w[0].1,
                    end: w[1].2,
                    pos,
                });
            }
        }
    }
    run.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|t| t.term).collect()
    }

    #[test]
    fn words_are_folded_to_lowercase_without_accents() {
        assert_eq!(terms("Élan, CAFÉ crème!"), ["elan", "cafe", "creme"]);
        assert_eq!(terms("naïve Ångström ﬁne"), ["naive", "angstrom", "fine"]);
        assert_eq!(terms("Привет мир"), ["привет", "мир"]);
    }

    #[test]
    fn punctuation_and_symbols_separate_words() {
        assert_eq!(
            terms("don't@alice#general 3.14"),
            ["don", "t", "alice", "general", "3", "14"]
        );
        assert!(terms("!!! ... 🙂").is_empty());
    }

    #[test]
    fn cjk_runs_become_overlapping_pairs() {
        assert_eq!(terms("東京都へ"), ["東京", "京都", "都へ"]);
        assert_eq!(terms("日 本"), ["日", "本"]);
        assert_eq!(terms("한국어 text"), ["한국", "국어", "text"]);
        assert_eq!(terms("abc東京"), ["abc", "東京"]);
    }

    #[test]
    fn kana_keep_their_marks() {
        assert_eq!(terms("がか"), ["がか"]);
    }

    #[test]
    fn offsets_are_utf16_and_positions_consecutive() {
        let t = tokenize("🙂 é x");
        assert_eq!((t[0].start, t[0].end, t[0].pos), (3, 4, 0));
        assert_eq!((t[1].start, t[1].end, t[1].pos), (5, 6, 1));
    }

    #[test]
    fn long_words_are_cut_on_a_character_boundary() {
        let t = terms(&"é".repeat(100));
        assert_eq!(t[0], "e".repeat(MAX_TERM_BYTES));
        let t = terms(&"ж".repeat(100));
        assert!(t[0].len() <= MAX_TERM_BYTES && t[0].chars().all(|c| c == 'ж'));
    }
}
