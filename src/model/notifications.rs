//! A user's notification level in a room: which new messages of the room
//! may notify them (Web Push, the page's own notifications).

use serde::{Deserialize, Serialize};

use super::RoomKind;

/// Which new messages of a room notify one user. Stored per user and
/// room; a user who never chose has the room kind's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationLevel {
    /// Every message of the others.
    All,
    /// Only messages that mention the user.
    Mentions,
    /// Nothing.
    None,
}

impl NotificationLevel {
    /// The level of a user who never chose: a direct room is a
    /// conversation addressed to its people, so everything; in a shared
    /// room only what names them, or a busy room would never be quiet.
    pub fn default_for(kind: RoomKind) -> NotificationLevel {
        match kind {
            RoomKind::Direct => NotificationLevel::All,
            RoomKind::Public | RoomKind::Private => NotificationLevel::Mentions,
        }
    }

    /// The wire word, also the stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationLevel::All => "all",
            NotificationLevel::Mentions => "mentions",
            NotificationLevel::None => "none",
        }
    }

    /// The level a wire word names.
    pub fn parse(word: &str) -> Option<NotificationLevel> {
        [Self::All, Self::Mentions, Self::None]
            .into_iter()
            .find(|l| l.as_str() == word)
    }

    /// Whether a new message notifies at this level: `mentioned` says it
    /// names the user. (The author, and a user already looking at the
    /// room, are the sender's business.)
    pub fn notifies(self, mentioned: bool) -> bool {
        match self {
            NotificationLevel::All => true,
            NotificationLevel::Mentions => mentioned,
            NotificationLevel::None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_and_default_by_kind() {
        for l in [
            NotificationLevel::All,
            NotificationLevel::Mentions,
            NotificationLevel::None,
        ] {
            assert_eq!(NotificationLevel::parse(l.as_str()), Some(l));
            let json = serde_json::to_string(&l).expect("json");
            assert_eq!(json, format!("\"{}\"", l.as_str()));
        }
        assert_eq!(NotificationLevel::parse("All"), None);
        assert_eq!(
            NotificationLevel::default_for(RoomKind::Direct),
            NotificationLevel::All
        );
        assert_eq!(
            NotificationLevel::default_for(RoomKind::Public),
            NotificationLevel::Mentions
        );
        assert!(NotificationLevel::Mentions.notifies(true));
        assert!(!NotificationLevel::Mentions.notifies(false));
        assert!(!NotificationLevel::None.notifies(true));
    }
}
