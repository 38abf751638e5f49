//! Byte layouts of every key the store writes.
//!
//! Integers are big-endian so that sled's byte order is numeric order: a
//! room's messages are one contiguous, id-ordered range.
//!
//! | tree         | key                                   | value                    |
//! |--------------|---------------------------------------|--------------------------|
//! | `meta`       | `b"schema_version"`                   | u32 BE                   |
//! | `users`      | user id (u64 BE)                      | JSON `UserRecord`        |
//! | `usernames`  | lowercase username (UTF-8)            | user id (u64 BE)         |
//! | `rooms`      | room id (u64 BE)                      | JSON `Room`              |
//! | `room_names` | lowercase room name (UTF-8)           | room id (u64 BE)         |
//! | `public_rooms` | room id (u64 BE)                    | empty                    |
//! | `members`    | room id (u64 BE) ++ user id (u64 BE)  | empty                    |
//! | `user_rooms` | user id (u64 BE) ++ room id (u64 BE)  | empty                    |
//! | `messages`   | room id (u64 BE) ++ message id (u64 BE) | JSON `StoredMessage`   |
//! | `reactions`  | room id (u64 BE) ++ message id (u64 BE) ++ emoji (UTF-8) ++ `0x00` ++ user id (u64 BE) | JSON `StoredReaction` |
//! | `direct_rooms` | every participant's user id (u64 BE), ascending | room id (u64 BE) |
//! | `client_ids` | user id (u64 BE) ++ client id (UTF-8) | JSON `Entry` (the message, when) |
//! | `reads`      | room id (u64 BE)                      | JSON `RoomTally`         |
//! | `reads`      | room id ++ user id ++ `t` (17 bytes)  | JSON `Counts` (the user's tally) |
//! | `reads`      | room id ++ user id ++ `r` (17 bytes)  | JSON `Mark` (where the user stopped reading) |
//! | `files`      | file id (u64 BE)                      | JSON `FileRecord`        |
//! | `file_blobs` | blob SHA-256 (32 bytes) ++ file id (u64 BE) | empty              |
//! | `room_files` | room id (u64 BE) ++ file id (u64 BE)  | empty                    |
//! | `file_usage` | user id (u64 BE)                      | bytes uploaded (u64 BE)  |
//! | `push_subs`  | push endpoint (UTF-8 URL)             | JSON `PushSubscription`  |
//! | `user_push_subs` | user id (u64 BE) ++ push endpoint (UTF-8) | empty            |
//! | `notify_levels` | room id (u64 BE) ++ user id (u64 BE) | level word (`all`, `mentions`, `none`) |
//! | `search_edits` | room id (u64 BE) ++ message id (u64 BE) | stamp (u64 BE): edited since indexed |
//!
//! A message with attachments keeps their descriptors in its
//! `StoredMessage` (`a`), and each attached `FileRecord` names the message
//! (`messageId`); both are written in one transaction (`attachments.rs`).
//!
//! A reaction's key begins with its message's key, so a message's
//! reactions, and those of a page of history, are one range. The emoji
//! holds no `0x00` (control characters are refused), so the terminator
//! keeps each emoji's reactions together: `"a" 0x00 ...` sorts before
//! `"ab" 0x00 ...`.
//!
//! `direct_rooms` is the index of direct rooms by their set of people, so
//! that one set has one room; it is rebuilt from the rooms and memberships
//! at restore.
//!
//! `public_rooms` lists every public room, written and removed in the
//! transactions that create and delete the room (a room's privacy never
//! changes), so that a user's room list reads it and the user's
//! `user_rooms` instead of every room. It is rebuilt from the rooms at
//! restore and when a schema-1 directory is upgraded (`schema.rs`).
//!
//! `file_blobs` says which records use a blob (as their file or their
//! thumbnail): a blob is removed from disk only once its prefix is empty.
//! It, `room_files` and `file_usage` are derived from `files` and change
//! with it in one transaction (see `files.rs`).
//!
//! `push_subs` and `user_push_subs` change together in one transaction
//! (see `push.rs`); an endpoint is held by one user at a time.
//! `notify_levels` holds only levels a user chose; the rest are the room
//! kind's default (see `notification_levels.rs`).
//!
//! `reads` keeps everything of a room's read state under the room's id, so
//! that one prefix scan finds (or deletes) it, and one batch or transaction
//! on one tree changes it atomically (see `reads.rs`).

use crate::model::{FileId, MessageId, RoomId, UserId};

/// Encodes one id as its 8 big-endian bytes.
pub fn id(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

/// Reads a big-endian u64 from exactly 8 bytes.
pub fn read_u64(bytes: &[u8]) -> Option<u64> {
    let arr: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_be_bytes(arr))
}

/// Concatenates two ids into a 16-byte composite key.
pub fn pair(a: u64, b: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&a.to_be_bytes());
    k[8..].copy_from_slice(&b.to_be_bytes());
    k
}

/// Splits a 16-byte composite key back into its two ids.
pub fn split_pair(bytes: &[u8]) -> Option<(u64, u64)> {
    if bytes.len() != 16 {
        return None;
    }
    Some((read_u64(&bytes[..8])?, read_u64(&bytes[8..])?))
}

/// Key of one message.
pub fn message(room: RoomId, msg: MessageId) -> [u8; 16] {
    pair(room.0, msg.0)
}

/// Key of a membership, by room.
pub fn member(room: RoomId, user: UserId) -> [u8; 16] {
    pair(room.0, user.0)
}

/// Key of a membership, by user.
pub fn user_room(user: UserId, room: RoomId) -> [u8; 16] {
    pair(user.0, room.0)
}

/// Key of one user's reaction to a message.
pub fn reaction(room: RoomId, msg: MessageId, emoji: &str, user: UserId) -> Vec<u8> {
    let mut k = reaction_emoji(room, msg, emoji);
    k.extend_from_slice(&user.0.to_be_bytes());
    k
}

/// Prefix of every reaction to a message with one emoji.
pub fn reaction_emoji(room: RoomId, msg: MessageId, emoji: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + emoji.len() + 1 + 8);
    k.extend_from_slice(&message(room, msg));
    k.extend_from_slice(emoji.as_bytes());
    k.push(0);
    k
}

/// The message, emoji and user a reaction key holds.
pub fn split_reaction(key: &[u8]) -> Option<(MessageId, &str, UserId)> {
    let (head, user) = key.split_at_checked(key.len().checked_sub(8)?)?;
    let (_, msg) = split_pair(head.get(..16)?)?;
    let emoji = head.get(16..)?.strip_suffix(&[0])?;
    let emoji = std::str::from_utf8(emoji).ok()?;
    Some((MessageId(msg), emoji, UserId(read_u64(user)?)))
}

/// Key of one record's use of a blob in `file_blobs`.
pub fn file_blob(sha: &crate::files::Sha256, file: FileId) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(&sha.0);
    k[32..].copy_from_slice(&file.0.to_be_bytes());
    k
}

/// Key of a direct room in `direct_rooms`: its participants' ids in
/// ascending order, without repeats, so that any order of the same people
/// gives the same key.
pub fn direct(participants: &[UserId]) -> Vec<u8> {
    let mut ids: Vec<u64> = participants.iter().map(|u| u.0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// Key of a user's `clientId` in `client_ids`.
pub fn client_id(user: UserId, client_id: &str) -> Vec<u8> {
    user_and(user, client_id)
}

/// A user's id followed by a text: a key of the user's records of
/// that text, each user's in one range.
fn user_and(user: UserId, text: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + text.len());
    k.extend_from_slice(&user.0.to_be_bytes());
    k.extend_from_slice(text.as_bytes());
    k
}

/// Key of a user's push subscription in `user_push_subs`.
pub fn user_push(user: UserId, endpoint: &str) -> Vec<u8> {
    user_and(user, endpoint)
}

/// What a 17-byte key of `reads` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    /// A user's tally of a room's messages.
    Tally,
    /// Where a user stopped reading a room.
    Mark,
}

impl ReadKind {
    fn tag(self) -> u8 {
        match self {
            ReadKind::Tally => b't',
            ReadKind::Mark => b'r',
        }
    }
}

/// Key of one user's record of `kind` in a room, in `reads`.
pub fn read(room: RoomId, user: UserId, kind: ReadKind) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[..16].copy_from_slice(&pair(room.0, user.0));
    k[16] = kind.tag();
    k
}

/// The user and kind a 17-byte key of `reads` holds; None for a room's
/// own key (8 bytes) or anything else.
pub fn split_read(bytes: &[u8]) -> Option<(UserId, ReadKind)> {
    let (&tag, ids) = bytes.split_last()?;
    let (_, user) = split_pair(ids)?;
    let kind = [ReadKind::Tally, ReadKind::Mark]
        .into_iter()
        .find(|k| k.tag() == tag)?;
    Some((UserId(user), kind))
}

/// The case-insensitive uniqueness key of a username or room name.
pub fn fold_name(name: &str) -> Vec<u8> {
    crate::store::fold_name(name).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_sort_by_room_then_id() {
        let a = message(RoomId(1), MessageId(255));
        let b = message(RoomId(1), MessageId(256));
        let c = message(RoomId(2), MessageId(0));
        assert!(a < b && b < c);
    }

    #[test]
    fn pairs_round_trip() {
        let k = pair(0xdead_beef, u64::MAX);
        assert_eq!(split_pair(&k), Some((0xdead_beef, u64::MAX)));
        assert_eq!(split_pair(&k[..15]), None);
        assert_eq!(read_u64(&id(42)), Some(42));
    }

    #[test]
    fn reaction_keys_keep_each_emoji_together() {
        let (r, m) = (RoomId(1), MessageId(2));
        let a2 = reaction(r, m, "a", UserId(2));
        let ab1 = reaction(r, m, "ab", UserId(1));
        let a_max = reaction(r, m, "a", UserId(u64::MAX));
        assert!(a2 < a_max && a_max < ab1);
        assert!(a2.starts_with(&message(r, m)));
        assert!(a2.starts_with(&reaction_emoji(r, m, "a")));
        assert!(!ab1.starts_with(&reaction_emoji(r, m, "a")));
        assert_eq!(split_reaction(&ab1), Some((m, "ab", UserId(1))));
        assert_eq!(split_reaction(&a2[..20]), None);
    }

    #[test]
    fn direct_keys_ignore_order_and_repeats() {
        let a = direct(&[UserId(3), UserId(1), UserId(2)]);
        assert_eq!(a, direct(&[UserId(2), UserId(3), UserId(1), UserId(3)]));
        assert_eq!(a.len(), 24);
        assert_eq!(&a[..8], &id(1));
    }

    #[test]
    fn read_keys_sort_under_their_room_and_round_trip() {
        let k = read(RoomId(1), UserId(9), ReadKind::Mark);
        assert!(k.starts_with(&id(1)) && k.as_slice() > id(1).as_slice());
        assert!(k.as_slice() < id(2).as_slice());
        assert_eq!(split_read(&k), Some((UserId(9), ReadKind::Mark)));
        assert_eq!(split_read(&id(1)), None);
    }

    #[test]
    fn names_fold_case() {
        assert_eq!(fold_name("Alice"), fold_name("aLICE"));
        assert_eq!(fold_name("Café"), fold_name("CAFÉ"));
    }
}
