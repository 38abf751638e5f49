//! The checks a backup's records must pass before anything is written:
//! the fixed order of sections, unique ids and names, references to users
//! and rooms that are in the file, names the registration rules accept,
//! message ids that leave room for new ones, reactions that follow their
//! message, and counts that agree.

use std::collections::{HashMap, HashSet};

use super::files::FilesCheck;
use super::{BackupCounts, BackupRecord, BACKUP_FORMAT, MAX_MESSAGE_ID};
use crate::model::{MessageId, Room, RoomId, UserId, DIRECT_MAX_OTHERS, DIRECT_NAME_SEPARATOR};
use crate::store::sled::idset::IdSet;
use crate::store::sled::{keys, StoreError, SCHEMA_VERSION};

/// Where in a backup's fixed order a record belongs.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Section {
    #[default]
    Start,
    Users,
    Rooms,
    Messages,
    Reads,
    Files,
    End,
}

/// What a backup's records must agree with, built as they are read. It
/// holds the ids and folded names of users and rooms (small) and, for
/// messages, each room's last id plus a compact set of all message ids
/// ([`IdSet`], about one bit per id of a dense history), never the
/// messages themselves.
#[derive(Default)]
pub(super) struct Checker {
    section: Section,
    counts: BackupCounts,
    /// The end record and its line.
    end: Option<(u64, BackupCounts)>,
    users: HashSet<u64>,
    usernames: HashSet<Vec<u8>>,
    rooms: HashSet<u64>,
    room_names: HashSet<Vec<u8>>,
    /// The room whose member lines may follow, and its last member so far.
    member_room: Option<(RoomId, Option<UserId>)>,
    /// Each room's last message id: a room's messages strictly increase.
    last_message: HashMap<u64, u64>,
    /// Message ids are unique server-wide, not only per room.
    message_ids: IdSet,
    /// The message whose reaction lines may follow, and its last reaction
    /// so far (emoji, user): they come in key order, once each.
    reaction_of: Option<(RoomId, MessageId, Option<ReactionKey>)>,
    /// The direct room whose member lines are being read, and its members.
    direct: Option<(RoomId, Vec<UserId>)>,
    /// The set of people of every direct room so far: one room a set.
    direct_sets: HashSet<Vec<u8>>,
    /// (room, user) of each read mark: one mark per user and room.
    marks: HashSet<(u64, u64)>,
    /// (room, user) of each notification level: one per user and room.
    levels: HashSet<(u64, u64)>,
    /// The files section: blobs whole and matching their names, records
    /// naming blobs before them.
    files: FilesCheck,
    /// The decoded bytes of the last `blobData` line, for the restore.
    bytes: Vec<u8>,
}

/// A reaction among its message's: its emoji and its user.
type ReactionKey = (String, UserId);

impl Checker {
    /// Checks one record (line `n`); the error names the problem.
    pub(super) fn check(&mut self, n: u64, rec: &BackupRecord) -> Result<(), String> {
        if self.end.is_some() {
            return Err("data after the end record".into());
        }
        let section = match rec {
            BackupRecord::Header { .. } => Section::Start,
            BackupRecord::User { .. } => Section::Users,
            BackupRecord::Room(_) | BackupRecord::Member { .. } => Section::Rooms,
            BackupRecord::Message(_) | BackupRecord::Reaction(_) => Section::Messages,
            BackupRecord::Read { .. } | BackupRecord::Level { .. } => Section::Reads,
            BackupRecord::Blob(_) | BackupRecord::BlobData(_) | BackupRecord::File(_) => {
                Section::Files
            }
            BackupRecord::End(_) => Section::End,
        };
        if n == 1 {
            let BackupRecord::Header { format, schema } = rec else {
                return Err("not a chatroom backup".into());
            };
            if format != BACKUP_FORMAT {
                return Err("not a chatroom backup".into());
            }
            if *schema > SCHEMA_VERSION {
                return Err(format!(
                    "written by a newer chatroom (schema {schema}, this build knows {}); upgrade chatroom",
                    SCHEMA_VERSION
                ));
            }
            return Ok(());
        }
        if section < self.section || section == Section::Start {
            return Err(format!(
                "a {} record out of place (a backup holds users, then rooms each with its memberships, then messages, then read marks, then files)",
                kind(rec)
            ));
        }
        self.section = section;
        if !matches!(rec, BackupRecord::Member { .. }) {
            self.finish_direct()?;
        }
        match rec {
            BackupRecord::Header { .. } => {}
            BackupRecord::User { id, record } => {
                crate::validate::username(&record.username)
                    .map_err(|e| format!("user {:?}: {e}", record.username))?;
                if !self.users.insert(id.0) {
                    return Err(format!("duplicate user id {id}"));
                }
                if !self.usernames.insert(keys::fold_name(&record.username)) {
                    return Err(format!("duplicate username {:?}", record.username));
                }
                self.counts.users += 1;
            }
            BackupRecord::Room(room) => {
                if room.is_direct() {
                    check_direct(room)?;
                } else {
                    match crate::validate::room_name(&room.name) {
                        Ok(t) if t == room.name => {}
                        Ok(_) => {
                            return Err(format!("room name {:?} has spaces around it", room.name))
                        }
                        Err(e) => return Err(format!("room {:?}: {e}", room.name)),
                    }
                    crate::validate::description(&room.description)
                        .map_err(|e| format!("room {:?}: {e}", room.name))?;
                }
                if !self.users.contains(&room.owner_id.0) {
                    return Err(format!(
                        "room {:?} is owned by user {}, who is not in the backup",
                        room.name, room.owner_id
                    ));
                }
                if !self.rooms.insert(room.id.0) {
                    return Err(format!("duplicate room id {}", room.id));
                }
                if room.is_direct() {
                    // Not a room name: its people are its identity.
                    self.direct = Some((room.id, Vec::new()));
                } else if !self.room_names.insert(keys::fold_name(&room.name)) {
                    return Err(format!("duplicate room name {:?}", room.name));
                }
                self.member_room = Some((room.id, None));
                self.counts.rooms += 1;
            }
            BackupRecord::Member { room, user } => {
                let Some((current, last)) = &mut self.member_room else {
                    return Err(format!("membership in room {room} before any room"));
                };
                if room != current {
                    return Err(if self.rooms.contains(&room.0) {
                        format!("membership in room {room} does not follow that room's line")
                    } else {
                        format!("membership in room {room}, which is not in the backup")
                    });
                }
                if !self.users.contains(&user.0) {
                    return Err(format!(
                        "membership of user {user}, who is not in the backup"
                    ));
                }
                if last.is_some_and(|l| l >= *user) {
                    return Err(format!(
                        "membership of user {user} in room {room} is a duplicate or out of order"
                    ));
                }
                *last = Some(*user);
                if let Some((_, people)) = &mut self.direct {
                    people.push(*user);
                }
                self.counts.members += 1;
            }
            BackupRecord::Message(m) => {
                if !self.rooms.contains(&m.room_id.0) {
                    return Err(format!(
                        "message {} is in room {}, which is not in the backup",
                        m.id, m.room_id
                    ));
                }
                if !self.users.contains(&m.user_id.0) {
                    return Err(format!(
                        "message {} is by user {}, who is not in the backup",
                        m.id, m.user_id
                    ));
                }
                if let Some(u) = m.mentions.iter().find(|u| !self.users.contains(&u.0)) {
                    return Err(format!(
                        "message {} mentions user {u}, who is not in the backup",
                        m.id
                    ));
                }
                if m.id.0 > MAX_MESSAGE_ID {
                    return Err(format!(
                        "message id {} leaves no room for new messages (the largest accepted is {:016x})",
                        m.id, MAX_MESSAGE_ID
                    ));
                }
                if let Some(&last) = self.last_message.get(&m.room_id.0) {
                    if last >= m.id.0 {
                        return Err(format!(
                            "message {} is a duplicate or out of order in room {} (a room's messages come in id order)",
                            m.id, m.room_id
                        ));
                    }
                }
                self.last_message.insert(m.room_id.0, m.id.0);
                if !self.message_ids.insert(m.id.0) {
                    return Err(format!(
                        "duplicate message id {} (already used in another room)",
                        m.id
                    ));
                }
                self.reaction_of = Some((m.room_id, m.id, None));
                self.counts.messages += 1;
            }
            BackupRecord::Reaction(r) => {
                let what = format!("reaction to message {}", r.message);
                let Some((room, msg, last)) = &mut self.reaction_of else {
                    return Err(format!("{what} before any message"));
                };
                if (*room, *msg) != (r.room, r.message) {
                    return Err(format!("{what} does not follow that message's line"));
                }
                crate::validate::reaction(&r.emoji).map_err(|e| format!("{what}: {e}"))?;
                if !self.users.contains(&r.user.0) {
                    return Err(format!(
                        "{what} by user {}, who is not in the backup",
                        r.user
                    ));
                }
                let this = (r.emoji.clone(), r.user);
                if last.as_ref().is_some_and(|l| *l >= this) {
                    return Err(format!("{what} is a duplicate or out of order"));
                }
                *last = Some(this);
                self.counts.reactions += 1;
            }
            BackupRecord::Read { room, user, .. } => {
                if !self.rooms.contains(&room.0) || !self.users.contains(&user.0) {
                    return Err(format!(
                        "read mark of user {user} in room {room}, one of which is not in the backup"
                    ));
                }
                if !self.marks.insert((room.0, user.0)) {
                    return Err(format!("a second read mark of user {user} in room {room}"));
                }
                self.counts.reads += 1;
            }
            BackupRecord::Level { room, user, .. } => {
                if !self.rooms.contains(&room.0) || !self.users.contains(&user.0) {
                    return Err(format!("notification level of user {user} in room {room}, one of which is not in the backup"));
                }
                if !self.levels.insert((room.0, user.0)) {
                    return Err(format!(
                        "a second notification level of user {user} in room {room}"
                    ));
                }
                self.counts.levels += 1;
            }
            BackupRecord::Blob(head) => {
                self.files.blob(head)?;
                self.counts.blobs += 1;
            }
            BackupRecord::BlobData(d) => self.bytes = self.files.data(d)?,
            BackupRecord::File(rec) => {
                self.files.file(rec, &self.users, &self.rooms)?;
                if let Some(m) = rec.message_id.filter(|m| !self.message_ids.contains(m.0)) {
                    return Err(format!(
                        "file {} ({:?}) is attached to message {m}, which is not in the backup",
                        rec.id, rec.name
                    ));
                }
                self.counts.files += 1;
            }
            BackupRecord::End(c) => {
                self.files.finish()?;
                self.end = Some((n, c.clone()));
            }
        }
        Ok(())
    }

    /// Once a direct room's member lines are over: two to nine people,
    /// and no other direct room of the same people.
    fn finish_direct(&mut self) -> Result<(), String> {
        let Some((room, people)) = self.direct.take() else {
            return Ok(());
        };
        if !(2..=DIRECT_MAX_OTHERS + 1).contains(&people.len()) {
            return Err(format!(
                "direct room {room} has {} members (a direct room has 2 to {})",
                people.len(),
                DIRECT_MAX_OTHERS + 1
            ));
        }
        if !self.direct_sets.insert(keys::direct(&people)) {
            return Err(format!(
                "direct room {room} has the same members as another direct room"
            ));
        }
        Ok(())
    }

    /// The decoded bytes of the `blobData` line just checked (empty after
    /// any other line).
    pub(super) fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }

    /// The counts, once the whole file was read.
    pub(super) fn finish(self) -> Result<BackupCounts, StoreError> {
        match self.end {
            Some((_, c)) if c == self.counts => Ok(self.counts),
            Some((n, c)) => Err(StoreError::BadBackup(format!(
                "line {n}: the end record counts {} users, {} rooms, {} memberships, {} messages, {} reactions, {} read marks, {} notification levels, {} files and {} blobs, but the file holds {} users, {} rooms, {} memberships, {} messages, {} reactions, {} read marks, {} notification levels, {} files and {} blobs",
                c.users, c.rooms, c.members, c.messages, c.reactions, c.reads, c.levels, c.files, c.blobs,
                self.counts.users, self.counts.rooms, self.counts.members, self.counts.messages, self.counts.reactions, self.counts.reads, self.counts.levels, self.counts.files, self.counts.blobs
            ))),
            None => Err(StoreError::BadBackup(
                "it is truncated (no end record)".into(),
            )),
        }
    }
}

/// What a direct room's own line must be: a name made of usernames, no
/// description, members only.
fn check_direct(room: &Room) -> Result<(), String> {
    let names_ok = room
        .name
        .split(DIRECT_NAME_SEPARATOR)
        .all(|n| crate::validate::username(n).is_ok());
    if names_ok && room.description.is_empty() && room.private {
        return Ok(());
    }
    Err(format!(
        "direct room {} is not one this program writes (name {:?}, a description, or not private)",
        room.id, room.name
    ))
}

fn kind(rec: &BackupRecord) -> &'static str {
    match rec {
        BackupRecord::Header { .. } => "header",
        BackupRecord::User { .. } => "user",
        BackupRecord::Room(_) => "room",
        BackupRecord::Member { .. } => "membership",
        BackupRecord::Message(_) => "message",
        BackupRecord::Reaction(_) => "reaction",
        BackupRecord::Read { .. } => "read mark",
        BackupRecord::Level { .. } => "notification level",
        BackupRecord::Blob(_) => "blob",
        BackupRecord::BlobData(_) => "blob data",
        BackupRecord::File(_) => "file",
        BackupRecord::End(_) => "end",
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::seeded_backup;
    use crate::store::prelude::*;
    use crate::store::sled::SledStore;
    use crate::store::testing::{seed_history, temp_sled};
    use crate::store::Maintenance;

    /// Asserts that a backup of these lines is refused at line index `i`
    /// (1-based in the message) for a reason that says `why`.
    #[track_caller]
    fn refused_at(lines: &[impl AsRef<str>], i: usize, why: &str) {
        let file: String = lines.iter().map(|l| format!("{}\n", l.as_ref())).collect();
        let err = SledStore::check_backup(&mut file.as_bytes())
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains(&format!("line {}:", i + 1)) && err.contains(why),
            "{err}"
        );
    }

    #[test]
    fn a_reaction_must_follow_its_message() {
        let (store, _dir) = temp_sled();
        let (room, _) = seed_history(&store);
        let (ann, _) = store.user_by_name("ann").expect("get").expect("ann");
        let older = store.latest(room.id, 2).expect("latest").messages[0].id;
        store
            .add_reaction(room.id, older, "👍", ann, "ann")
            .expect("react");
        let mut buf = Vec::new();
        assert_eq!(store.backup(&mut buf).expect("backup").reactions, 1);
        let text = String::from_utf8(buf).expect("utf8");
        assert!(SledStore::check_backup(&mut text.as_bytes()).is_ok());
        let mut lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("{\"reaction\""))
            .expect("a reaction line");
        assert!(
            lines[at - 1].contains(&older.to_string()),
            "after its message"
        );
        // Behind the next message instead.
        lines.swap(at, at + 1);
        refused_at(&lines, at + 1, "does not follow");
    }

    #[test]
    fn a_message_id_used_in_two_rooms_is_refused() {
        let (_store, _dir, buf, _) = seeded_backup();
        let text = String::from_utf8(buf).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        // The first message of the second room's run takes the id of the
        // first message of the first room's run.
        let msgs: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with("{\"message\""))
            .collect();
        let room_of = |i: usize| {
            let v: serde_json::Value = serde_json::from_str(lines[i]).expect("json");
            (
                v["message"]["roomId"].as_str().expect("room").to_owned(),
                v["message"]["id"].as_str().expect("id").to_owned(),
            )
        };
        let (first_room, first_id) = room_of(msgs[0]);
        let second = msgs
            .iter()
            .copied()
            .find(|&i| room_of(i).0 != first_room)
            .expect("two rooms");
        let (_, second_id) = room_of(second);
        let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        changed[second] = changed[second].replace(&second_id, &first_id);
        refused_at(&changed, second, "another room");
    }
}
