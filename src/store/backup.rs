//! The backup dump and its restore.
//!
//! A backup is JSON lines in a fixed order: the header, every user, every
//! room each followed by its memberships, every message (room by room, each
//! room's in id order), and an end record with the counts. `backup` writes
//! exactly that order and stops at the message cutoff taken when it starts,
//! so it is a consistent prefix of every room's history.
//!
//! `restore` trusts nothing in the file: a [`Checker`] sees every record
//! before it is applied and refuses the first inconsistency (duplicate ids
//! or names, references to users or rooms not in the file, names the
//! registration rules refuse, message ids that leave no room for new ones,
//! counts that differ) with its line number. Lines are read with a cap, so
//! a file of one huge line is refused without being held.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read, Write};

use serde::{Deserialize, Serialize};

use super::idset::IdSet;
use super::{from_json, keys, to_json, Store, StoreError};
use crate::model::{Message, Room, RoomId, UserId, UserRecord};

/// Longest line a backup may hold. The longest real one, a message of 4000
/// characters each escaped as `\uXXXX`, is under 30 KiB; a longer line is
/// not a backup this program wrote, and is refused without being held.
pub const MAX_LINE: usize = 1024 * 1024;

/// Largest message id a backup may hold. Restored ids carry on from the
/// largest one, so an id near `u64::MAX` would leave no ids for new
/// messages; this bound leaves at least 2^63.
pub const MAX_MESSAGE_ID: u64 = (1 << 63) - 1;

const BACKUP_FORMAT: &str = "chatroom-backup";

/// How many records of each kind a backup holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCounts {
    pub users: u64,
    pub rooms: u64,
    pub members: u64,
    pub messages: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum BackupRecord {
    Header { format: String, schema: u32 },
    User { id: UserId, record: UserRecord },
    Room(Room),
    Member { room: RoomId, user: UserId },
    Message(Message),
    End(BackupCounts),
}

impl Store {
    /// Writes a complete, consistent copy of the database as JSON lines.
    /// The last line counts the records, so a truncated file is detected
    /// at restore.
    pub fn backup(&self, out: &mut dyn Write) -> Result<BackupCounts, StoreError> {
        let cutoff = self.message_cutoff();
        let mut line = |rec: &BackupRecord| -> Result<(), StoreError> {
            let mut v = to_json(rec)?;
            v.push(b'\n');
            out.write_all(&v).map_err(StoreError::BackupOutput)
        };
        line(&BackupRecord::Header {
            format: BACKUP_FORMAT.into(),
            schema: super::SCHEMA_VERSION,
        })?;
        let mut counts = BackupCounts::default();
        for kv in self.inner.users.iter() {
            let (k, v) = kv?;
            let id =
                UserId(keys::read_u64(&k).ok_or_else(|| StoreError::Corrupt("user key".into()))?);
            line(&BackupRecord::User {
                id,
                record: from_json(&v)?,
            })?;
            counts.users += 1;
        }
        let rooms = self.all_rooms()?;
        for room in &rooms {
            line(&BackupRecord::Room(room.clone()))?;
            counts.rooms += 1;
            for user in self.members(room.id)? {
                line(&BackupRecord::Member {
                    room: room.id,
                    user,
                })?;
                counts.members += 1;
            }
        }
        for room in &rooms {
            let mut last = None;
            'room: loop {
                let page = self.page_from(room.id, last, super::export::PAGE)?;
                for m in &page.messages {
                    if m.id >= cutoff {
                        break 'room;
                    }
                    line(&BackupRecord::Message(m.clone()))?;
                    counts.messages += 1;
                }
                last = page.messages.last().map(|m| m.id);
                if !page.has_more || last.is_none() {
                    break;
                }
            }
        }
        line(&BackupRecord::End(counts.clone()))?;
        out.flush().map_err(StoreError::BackupOutput)?;
        Ok(counts)
    }

    /// Reads a whole backup and checks it (header, every record, the end
    /// record's counts) without writing anything. `restore` writes only
    /// after this passed, so a truncated or damaged file leaves the data
    /// directory untouched.
    pub fn check_backup(input: &mut dyn BufRead) -> Result<BackupCounts, StoreError> {
        read_backup(input, |_| Ok(()))
    }

    /// Loads a backup into this store, which must be empty. Every record is
    /// checked again before it is written (the file may have changed since
    /// [`Store::check_backup`]); the caller removes a database a failed
    /// load started. Indexes (names, memberships by user) are rebuilt from
    /// the records.
    pub fn restore(&self, input: &mut dyn BufRead) -> Result<BackupCounts, StoreError> {
        let t = &self.inner;
        if !t.users.is_empty() || !t.rooms.is_empty() || !t.messages.is_empty() {
            return Err(StoreError::Refused(
                "the data directory already holds data; restore into a new, empty one".into(),
            ));
        }
        let counts = read_backup(input, |rec| {
            match rec {
                BackupRecord::User { id, record } => {
                    t.usernames
                        .insert(keys::fold_name(&record.username), &keys::id(id.0))?;
                    t.users.insert(keys::id(id.0), to_json(&record)?)?;
                }
                BackupRecord::Room(room) => {
                    t.room_names
                        .insert(keys::fold_name(&room.name), &keys::id(room.id.0))?;
                    t.rooms.insert(keys::id(room.id.0), to_json(&room)?)?;
                }
                BackupRecord::Member { room, user } => {
                    t.members.insert(keys::member(room, user), &[])?;
                    t.user_rooms.insert(keys::user_room(user, room), &[])?;
                }
                BackupRecord::Message(m) => {
                    t.messages
                        .insert(keys::message(m.room_id, m.id), super::messages::encode(&m)?)?;
                    // The checker bounds ids by MAX_MESSAGE_ID: no overflow.
                    t.next_message_id
                        .fetch_max(m.id.0 + 1, std::sync::atomic::Ordering::Relaxed);
                }
                BackupRecord::Header { .. } | BackupRecord::End(_) => {}
            }
            Ok(())
        })?;
        self.flush()?;
        Ok(counts)
    }
}

/// Parses a backup line by line, checks each record against those before
/// it, and hands it to `apply`. Fails on the first bad line, a missing
/// header or end record, or counts that do not match.
fn read_backup(
    input: &mut dyn BufRead,
    mut apply: impl FnMut(BackupRecord) -> Result<(), StoreError>,
) -> Result<BackupCounts, StoreError> {
    let bad = |n: u64, what: &str| StoreError::BadBackup(format!("line {n}: {what}"));
    let mut checker = Checker::default();
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = (&mut *input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| StoreError::BadBackup(format!("cannot read it: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        if buf.len() > MAX_LINE {
            return Err(bad(
                n,
                &format!("longer than {} KiB; not a chatroom backup", MAX_LINE / 1024),
            ));
        }
        let rec: BackupRecord = serde_json::from_slice(&buf).map_err(|e| bad(n, &e.to_string()))?;
        checker.check(n, &rec).map_err(|e| bad(n, &e))?;
        apply(rec)?;
    }
    checker.finish()
}

/// Where in a backup's fixed order a record belongs.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Section {
    #[default]
    Start,
    Users,
    Rooms,
    Messages,
    End,
}

/// What a backup's records must agree with, built as they are read. It
/// holds the ids and folded names of users and rooms (small) and, for
/// messages, each room's last id plus a compact set of all message ids
/// ([`IdSet`], about one bit per id of a dense history), never the
/// messages themselves.
#[derive(Default)]
struct Checker {
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
}

impl Checker {
    /// Checks one record (line `n`); the error names the problem.
    fn check(&mut self, n: u64, rec: &BackupRecord) -> Result<(), String> {
        if self.end.is_some() {
            return Err("data after the end record".into());
        }
        let section = match rec {
            BackupRecord::Header { .. } => Section::Start,
            BackupRecord::User { .. } => Section::Users,
            BackupRecord::Room(_) | BackupRecord::Member { .. } => Section::Rooms,
            BackupRecord::Message(_) => Section::Messages,
            BackupRecord::End(_) => Section::End,
        };
        if n == 1 {
            let BackupRecord::Header { format, schema } = rec else {
                return Err("not a chatroom backup".into());
            };
            if format != BACKUP_FORMAT {
                return Err("not a chatroom backup".into());
            }
            if *schema > super::SCHEMA_VERSION {
                return Err(format!(
                    "written by a newer chatroom (schema {schema}, this build knows {}); upgrade chatroom",
                    super::SCHEMA_VERSION
                ));
            }
            return Ok(());
        }
        if section < self.section || section == Section::Start {
            return Err(format!(
                "a {} record out of place (a backup holds users, then rooms each with its memberships, then messages)",
                kind(rec)
            ));
        }
        self.section = section;
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
                match crate::validate::room_name(&room.name) {
                    Ok(t) if t == room.name => {}
                    Ok(_) => return Err(format!("room name {:?} has spaces around it", room.name)),
                    Err(e) => return Err(format!("room {:?}: {e}", room.name)),
                }
                crate::validate::description(&room.description)
                    .map_err(|e| format!("room {:?}: {e}", room.name))?;
                if !self.users.contains(&room.owner_id.0) {
                    return Err(format!(
                        "room {:?} is owned by user {}, who is not in the backup",
                        room.name, room.owner_id
                    ));
                }
                if !self.rooms.insert(room.id.0) {
                    return Err(format!("duplicate room id {}", room.id));
                }
                if !self.room_names.insert(keys::fold_name(&room.name)) {
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
                self.counts.messages += 1;
            }
            BackupRecord::End(c) => self.end = Some((n, c.clone())),
        }
        Ok(())
    }

    /// The counts, once the whole file was read.
    fn finish(self) -> Result<BackupCounts, StoreError> {
        match self.end {
            Some((_, c)) if c == self.counts => Ok(self.counts),
            Some((n, c)) => Err(StoreError::BadBackup(format!(
                "line {n}: the end record counts {} users, {} rooms, {} memberships and {} messages, but the file holds {} users, {} rooms, {} memberships and {} messages",
                c.users, c.rooms, c.members, c.messages,
                self.counts.users, self.counts.rooms, self.counts.members, self.counts.messages
            ))),
            None => Err(StoreError::BadBackup(
                "it is truncated (no end record)".into(),
            )),
        }
    }
}

fn kind(rec: &BackupRecord) -> &'static str {
    match rec {
        BackupRecord::Header { .. } => "header",
        BackupRecord::User { .. } => "user",
        BackupRecord::Room(_) => "room",
        BackupRecord::Member { .. } => "membership",
        BackupRecord::Message(_) => "message",
        BackupRecord::End(_) => "end",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::temp_store;

    fn seed(store: &Store) {
        let (_, b) = crate::store::testing::seed_history(store);
        let ann = store.user_by_name("ann").expect("lookup").expect("ann").0;
        store.add_member(b.id, ann).expect("member");
    }

    #[test]
    fn backup_restores_into_an_empty_store() {
        let (store, _dir) = temp_store();
        seed(&store);
        let mut buf = Vec::new();
        let counts = store.backup(&mut buf).expect("backup");
        assert_eq!(counts.messages, 1200);
        let (fresh, _d2) = temp_store();
        let restored = fresh.restore(&mut buf.as_slice()).expect("restore");
        assert_eq!(restored, counts);
        assert!(fresh.user_by_name("ANN").expect("lookup").is_some());
        assert_eq!(
            fresh.all_rooms().expect("rooms"),
            store.all_rooms().expect("rooms")
        );
        assert!(fresh.message_cutoff() >= store.message_cutoff());
        // Restoring twice, or a truncated file, is refused.
        assert!(fresh.restore(&mut buf.as_slice()).is_err());
        let (other, _d3) = temp_store();
        assert!(Store::check_backup(&mut &buf[..buf.len() - 40]).is_err());
        assert!(Store::check_backup(&mut buf.as_slice()).is_ok());
        assert!(other.restore(&mut &buf[..buf.len() - 40]).is_err());
    }

    #[test]
    fn a_message_id_used_in_two_rooms_is_refused() {
        let (store, _dir) = temp_store();
        seed(&store);
        let mut buf = Vec::new();
        store.backup(&mut buf).expect("backup");
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
        let file = changed.join("\n") + "\n";
        let err = Store::check_backup(&mut file.as_bytes())
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains(&format!("line {}:", second + 1)) && err.contains("another room"),
            "{err}"
        );
    }
}
