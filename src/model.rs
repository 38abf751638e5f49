//! Domain types shared by the store, the HTTP layer and the chat core.
//!
//! Ids are `u64` newtypes. On the wire they are opaque strings: 16 lowercase
//! hex digits, fixed width, so that message ids also sort as strings in the
//! order the server accepted them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:016x}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                    return Err(InvalidId);
                }
                u64::from_str_radix(s, 16).map($name).map_err(|_| InvalidId)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                s.parse()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// A room's id.
    RoomId
);
id_type!(
    /// A message's id: unique across the server and increasing in
    /// acceptance order, so it doubles as a room's history cursor.
    MessageId
);
id_type!(
    /// An uploaded file's id (random, like a room's).
    FileId
);

mod attachment;
mod notifications;
mod room_view;
pub use attachment::Attachment;
pub use notifications::NotificationLevel;
pub use room_view::{ReadView, RoomView};

/// A string that is not a well-formed id: treated by callers as "unknown id".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed id")]
pub struct InvalidId;

/// A user's role. Decided from the stored user at each request, never from
/// the token's claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

/// Milliseconds since the Unix epoch, UTC. Serialised as RFC 3339 with
/// millisecond precision, as the contract requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        Timestamp(ms as i64)
    }

    /// RFC 3339 with milliseconds and a `Z` suffix, e.g. `2026-11-24T03:41:10.123Z`.
    pub fn to_rfc3339(self) -> String {
        const FMT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(FMT).ok())
            .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
    }
}

impl Timestamp {
    /// Parses an RFC 3339 time, or a date alone (`2026-11-24`, its start in UTC).
    pub fn parse(text: &str) -> Option<Timestamp> {
        let text = text.trim();
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()
            .or_else(|| {
                let d = time::Date::parse(
                    text,
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .ok()?;
                Some(d.midnight().assume_utc())
            })?;
        Some(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Millis(i64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Millis(ms) => Ok(Timestamp(ms)),
            Repr::Text(s) => Timestamp::parse(&s)
                .ok_or_else(|| serde::de::Error::custom("invalid RFC 3339 time")),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// A stored account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: i64,
    #[serde(default)]
    pub disabled: bool,
    /// Bumped by every password change; tokens carry the version they were
    /// issued with, so a change ends every session started before it.
    /// Records written before versions existed read as 0.
    #[serde(default)]
    pub token_version: u64,
}

impl UserRecord {
    /// Sets a new password hash and ends every session started before:
    /// tokens carry the version they were issued with.
    pub fn set_password(&mut self, hash: &str) {
        self.password_hash = hash.to_owned();
        self.token_version = self.token_version.wrapping_add(1);
    }
}

/// The contract's `user` object.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub created_at: Timestamp,
    /// An addition to the contract: only `true` is ever shown, to admins.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

impl User {
    pub fn from_record(id: UserId, r: &UserRecord) -> Self {
        User {
            id,
            username: r.username.clone(),
            role: r.role,
            created_at: Timestamp(r.created_at),
            disabled: r.disabled,
        }
    }
}

/// What sort of room a room is, as the `kind` of the room object says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    Public,
    Private,
    /// A conversation of a fixed set of people (a direct message): private,
    /// members only, admins included, and without a name of its own.
    Direct,
}

/// Most people a direct room holds besides the one who starts it: a
/// conversation, not a room in disguise.
pub const DIRECT_MAX_OTHERS: usize = 8;

/// Separates the participants' usernames in a direct room's name.
/// Usernames never hold a comma or a space, so the name splits back.
pub const DIRECT_NAME_SEPARATOR: &str = ", ";

/// A stored room.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Room {
    pub id: RoomId,
    /// A direct room's is every participant's username (case-insensitive
    /// order, [`DIRECT_NAME_SEPARATOR`] between): what `export` shows; each
    /// viewer sees the others' names ([`Room::name_seen_by`]).
    pub name: String,
    pub description: String,
    /// True for direct rooms too: every members-only rule applies to them.
    pub private: bool,
    pub owner_id: UserId,
    pub created_at: i64,
    /// Written for direct rooms only; rooms stored without one are public
    /// or private by their `private` flag ([`Room::kind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RoomKind>,
}

impl Room {
    /// The room's kind; rooms stored before kinds existed read from `private`.
    pub fn kind(&self) -> RoomKind {
        match self.kind {
            Some(kind) => kind,
            None if self.private => RoomKind::Private,
            None => RoomKind::Public,
        }
    }

    pub fn is_direct(&self) -> bool {
        self.kind() == RoomKind::Direct
    }

    /// The name the user `viewer` sees: a direct room's is the other
    /// participants' usernames; every other room's is its own.
    pub fn name_seen_by(&self, viewer: &str) -> String {
        if !self.is_direct() {
            return self.name.clone();
        }
        let others: Vec<&str> = self
            .name
            .split(DIRECT_NAME_SEPARATOR)
            .filter(|n| !n.eq_ignore_ascii_case(viewer))
            .collect();
        others.join(DIRECT_NAME_SEPARATOR)
    }
}

/// A stored message, as the contract's `message` object.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    pub user: String,
    pub user_id: UserId,
    pub message: String,
    pub timestamp: Timestamp,
    /// An addition to the contract: set once the author edited the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
    /// An addition to the contract: who reacted how, filled in where the
    /// message is served (history, catch-up, edit); never stored with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// An addition to the contract: the users this message mentions
    /// (`@name`), resolved when it was sent; omitted when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    /// An addition to the contract: the files attached when it was sent
    /// (they never change after); omitted when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// One reaction of a message: an emoji (or short token) and who chose it,
/// in the order they did.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    pub count: usize,
    pub users: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_width_hex_that_sort_like_numbers() {
        let a = MessageId(9).to_string();
        let b = MessageId(10).to_string();
        let c = MessageId(0x1_0000).to_string();
        assert_eq!(a, "0000000000000009");
        assert!(a < b && b < c);
        assert_eq!(c.parse::<MessageId>(), Ok(MessageId(0x1_0000)));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "123",
            "000000000000000g",
            "000000000000000A",
            "00000000000000001",
        ] {
            assert_eq!(bad.parse::<RoomId>(), Err(InvalidId), "{bad}");
        }
    }

    #[test]
    fn rooms_without_a_stored_kind_read_from_their_private_flag() {
        let stored = r#"{"id":"0000000000000003","name":"a","description":"","private":true,"owner_id":"0000000000000001","created_at":0}"#;
        let mut room: Room = serde_json::from_str(stored).expect("old record");
        assert_eq!(room.kind(), RoomKind::Private);
        room.private = false;
        assert_eq!(room.kind(), RoomKind::Public);
        assert!(!serde_json::to_string(&room).expect("json").contains("kind"));
    }

    #[test]
    fn a_direct_room_is_named_for_the_others() {
        let room = Room {
            id: RoomId(3),
            name: ["alice", "Bob", "carol"].join(DIRECT_NAME_SEPARATOR),
            description: String::new(),
            private: true,
            owner_id: UserId(1),
            created_at: 0,
            kind: Some(RoomKind::Direct),
        };
        assert_eq!(room.name_seen_by("bob"), "alice, carol");
        assert_eq!(room.name_seen_by("alice"), "Bob, carol");
        assert_eq!(room.name_seen_by("dave"), "alice, Bob, carol");
        let view = serde_json::to_value(RoomView::new(&room, "carol", 0)).expect("json");
        assert_eq!(view["kind"], "direct");
        assert_eq!(view["name"], "alice, Bob");
    }

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        assert_eq!(
            Timestamp(1_795_491_670_123).to_rfc3339(),
            "2026-11-24T03:41:10.123Z"
        );
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp::parse("2026-11-24T03:41:10.123Z"),
            Some(Timestamp(1_795_491_670_123))
        );
        assert_eq!(
            Timestamp::parse("2026-11-24T04:41:10.123+01:00"),
            Some(Timestamp(1_795_491_670_123))
        );
        assert_eq!(
            Timestamp::parse("2026-11-24"),
            Some(Timestamp(1_795_478_400_000))
        );
        assert_eq!(Timestamp::parse("yesterday"), None);
    }
}
