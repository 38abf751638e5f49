//! Who is told of a new message by push: the people of its room whose
//! level asks for it (see [`NotificationLevel`]), but not its author and
//! not whoever has the room in front of them.
//!
//! A public room has no member list: everyone may read it. Its default
//! level is "mentions", so the people to ask are the ones it mentions and
//! the ones who chose "all" there; anyone else would be refused by their
//! level anyway. A private or direct room's people are its members.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::send::Urgency;
use crate::model::{Message, NotificationLevel, Room, RoomKind, UserId};
use crate::store::{Store, StoreError};

/// One person to notify of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub user: UserId,
    /// A direct message or a mention: worth waking a sleeping phone.
    pub urgency: Urgency,
}

/// What decides who hears of a room's messages: its kind, the levels
/// its people chose, and for a private or direct room its members. Read
/// once per room and batch of messages.
pub struct RoomPeople {
    kind: RoomKind,
    levels: HashMap<UserId, NotificationLevel>,
    /// A private or direct room's members; `None` for a public room.
    members: Option<Vec<UserId>>,
}

impl RoomPeople {
    pub fn read(store: &Store, room: &Room) -> Result<RoomPeople, StoreError> {
        let kind = room.kind();
        Ok(RoomPeople {
            kind,
            levels: store.notification_levels(room.id)?.into_iter().collect(),
            members: match kind {
                RoomKind::Public => None,
                RoomKind::Private | RoomKind::Direct => Some(store.members(room.id)?),
            },
        })
    }

    /// The people to notify of `m`, in user-id order. `watching` are
    /// those with a connection showing the room now (or a moment ago):
    /// they see the message arrive.
    pub fn recipients(&self, m: &Message, watching: &HashSet<UserId>) -> Vec<Recipient> {
        let people: BTreeSet<UserId> = match &self.members {
            Some(members) => members.iter().copied().collect(),
            None => self
                .levels
                .iter()
                .filter(|(_, level)| **level == NotificationLevel::All)
                .map(|(user, _)| *user)
                .chain(m.mentions.iter().copied())
                .collect(),
        };
        let default = NotificationLevel::default_for(self.kind);
        people
            .into_iter()
            .filter(|user| *user != m.user_id && !watching.contains(user))
            .filter_map(|user| {
                let mentioned = m.mentions.contains(&user);
                let level = self.levels.get(&user).copied().unwrap_or(default);
                level.notifies(mentioned).then_some(Recipient {
                    user,
                    urgency: if mentioned || self.kind == RoomKind::Direct {
                        Urgency::High
                    } else {
                        Urgency::Normal
                    },
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MessageId, Role, Timestamp};
    use crate::store::testing::temp_store;

    fn message(room: &Room, author: UserId, mentions: Vec<UserId>) -> Message {
        Message {
            id: MessageId(1),
            room_id: room.id,
            user: "author".into(),
            user_id: author,
            message: "hello".into(),
            timestamp: Timestamp(0),
            edited_at: None,
            reactions: Vec::new(),
            mentions,
            attachments: Vec::new(),
        }
    }

    /// Four users and a room of the first.
    fn four_and_a_room(store: &Store, private: bool) -> ([UserId; 4], Room) {
        let ids: Vec<UserId> = ["ann", "bea", "cal", "dan"]
            .iter()
            .map(|n| store.create_user(n, "hash", Role::User).expect("user").id)
            .collect();
        let ids: [UserId; 4] = ids.try_into().expect("four");
        let room = store.create_room("r", "", private, ids[0]).expect("room");
        (ids, room)
    }

    fn who(list: Vec<Recipient>) -> Vec<(UserId, Urgency)> {
        list.into_iter().map(|r| (r.user, r.urgency)).collect()
    }

    #[test]
    fn a_public_room_tells_the_mentioned_and_those_who_chose_all() {
        let (store, _dir) = temp_store();
        let ([ann, bea, cal, dan], room) = four_and_a_room(&store, false);
        store
            .set_notification_level(room.id, cal, NotificationLevel::All)
            .expect("level");
        store
            .set_notification_level(room.id, dan, NotificationLevel::None)
            .expect("level");
        let none = HashSet::new();
        let m = message(&room, ann, vec![bea, dan, ann]);
        let mut want = vec![(bea, Urgency::High), (cal, Urgency::Normal)];
        want.sort_by_key(|(u, _)| *u);
        assert_eq!(
            who(RoomPeople::read(&store, &room)
                .expect("read")
                .recipients(&m, &none)),
            want,
            "not the author, not a user who chose none"
        );
        let watching: HashSet<UserId> = [bea].into();
        assert_eq!(
            who(RoomPeople::read(&store, &room)
                .expect("read")
                .recipients(&m, &watching)),
            vec![(cal, Urgency::Normal)],
            "not a user looking at the room"
        );
    }

    #[test]
    fn a_private_room_tells_its_members_by_their_level() {
        let (store, _dir) = temp_store();
        let ([ann, bea, cal, out], room) = four_and_a_room(&store, true);
        for u in [ann, bea, cal] {
            store.add_member(room.id, u).expect("member");
        }
        store
            .set_notification_level(room.id, cal, NotificationLevel::All)
            .expect("level");
        let none = HashSet::new();
        let plain = message(&room, ann, Vec::new());
        assert_eq!(
            who(RoomPeople::read(&store, &room)
                .expect("read")
                .recipients(&plain, &none)),
            vec![(cal, Urgency::Normal)],
            "bea keeps the default, mentions only"
        );
        let naming = message(&room, ann, vec![bea, out]);
        let mut want = vec![(bea, Urgency::High), (cal, Urgency::Normal)];
        want.sort_by_key(|(u, _)| *u);
        assert_eq!(
            who(RoomPeople::read(&store, &room)
                .expect("read")
                .recipients(&naming, &none)),
            want,
            "someone outside the room is never told"
        );
    }
}
