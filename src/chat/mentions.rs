//! `@name` in a message: who it mentions, decided once, when the session
//! accepts the message (before the writer, so the group commit never
//! waits on it), and stored with the message.
//!
//! A mention is `@` at the start of the text or after a character that
//! cannot be part of a name (`x@bob` is an address, not a mention),
//! followed by a name that ends where the text or a character that cannot
//! be part of a name does (`@bobby` is not `bob`). Names match without
//! regard to case. A trailing `.` or `-` also ends a sentence, so
//! `@bob.` mentions `bob` unless a user is called `bob.`. A name counts
//! only for an enabled user who can see the room: anyone for a public
//! room, its members for a private one.

use crate::model::{RoomId, UserId};
use crate::store::{Store, StoreError};
use crate::validate;

/// Most users one message mentions; later names are ignored.
pub const MAX_MENTIONS: usize = 20;

/// Most distinct names looked up for one message: a text of 4000
/// characters could hold hundreds, each a lookup.
const MAX_NAMES: usize = 50;

/// Whether `c` can be part of a username.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Whether `c` glues to a name on its right or left, so that no mention
/// starts or ends next to it: name characters, `@`, and letters or digits
/// of any script (`@bobé` is not `bob`).
fn glues(c: char) -> bool {
    name_char(c) || c == '@' || c.is_alphanumeric()
}

/// The names `text` mentions, lowercase, each with the name to try when
/// no user has it (the name without its trailing `.` or `-`), in order
/// of first appearance, without repeats, at most [`MAX_NAMES`].
pub fn names(text: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let starts = c == '@' && !prev.is_some_and(glues);
        prev = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[i + 1..];
        let len = rest.find(|c: char| !name_char(c)).unwrap_or(rest.len());
        if rest[len..].chars().next().is_some_and(glues) {
            continue;
        }
        let name = rest[..len].to_ascii_lowercase();
        let short = name.trim_end_matches(['.', '-']);
        let fallback = (short.len() < name.len()).then(|| short.to_owned());
        let usable = |n: &str| validate::username(n).is_ok();
        if !usable(&name) && !fallback.as_deref().is_some_and(usable) {
            continue;
        }
        if out.iter().all(|(n, _)| *n != name) {
            out.push((name, fallback));
            if out.len() == MAX_NAMES {
                break;
            }
        }
    }
    out
}

/// The users `text` mentions in `room` (`private` as the room is), in
/// order of first mention, at most [`MAX_MENTIONS`]. Reads one name's
/// index entry and record per name, and a membership for a private room;
/// nothing at all for a text without `@`.
pub fn resolve(
    store: &Store,
    room: RoomId,
    private: bool,
    text: &str,
) -> Result<Vec<UserId>, StoreError> {
    let mut out = Vec::new();
    if !text.contains('@') {
        return Ok(out);
    }
    for (name, fallback) in names(text) {
        for candidate in std::iter::once(name).chain(fallback) {
            let Some((id, user)) = store.user_by_name(&candidate)? else {
                continue;
            };
            if !user.disabled && (!private || store.is_member(room, id)?) && !out.contains(&id) {
                out.push(id);
            }
            break;
        }
        if out.len() == MAX_MENTIONS {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Vec<String> {
        names(text).into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn mentions_start_and_end_on_word_boundaries() {
        assert_eq!(plain("@bob, hi"), ["bob"]);
        assert_eq!(plain("hi @Bob!"), ["bob"]);
        assert_eq!(plain("(@bob)"), ["bob"]);
        assert!(plain("mail x@bob.com").is_empty());
        assert!(plain("@@bob").is_empty());
        assert!(plain("@bobé").is_empty());
        assert!(plain("é@bob").is_empty());
        assert_eq!(plain("@bobby"), ["bobby"]);
        assert!(plain("@b").is_empty(), "too short to be a name");
    }

    #[test]
    fn a_trailing_full_stop_may_end_the_sentence() {
        assert_eq!(
            names("thanks @bob."),
            vec![("bob.".to_owned(), Some("bob".to_owned()))]
        );
        assert_eq!(plain("@bob.smith"), ["bob.smith"]);
    }

    #[test]
    fn names_are_distinct_and_bounded() {
        assert_eq!(plain("@Bob @bob @BOB @ann"), ["bob", "ann"]);
        let many: String = (0..200).map(|i| format!("@user{i} ")).collect();
        assert_eq!(names(&many).len(), MAX_NAMES);
    }
}
