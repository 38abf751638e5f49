//! Streaming reads of the whole history: `export` (merged across rooms by
//! time) and the backup dump and restore. Both read rooms page by page, so
//! memory stays flat whatever the history's size, and both stop at the
//! message cutoff taken when they start, so each is a consistent prefix of
//! every room's history even while messages keep arriving.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use super::{from_json, keys, to_json, Store, StoreError};
use crate::model::{Message, MessageId, Room, RoomId, Timestamp, UserId, UserRecord};

/// Messages read per room and step.
const PAGE: usize = 512;

/// One line of `export`: a message with its room's name.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportLine<'a> {
    pub id: MessageId,
    pub room_id: RoomId,
    pub room: &'a str,
    pub user_id: UserId,
    pub user: &'a str,
    pub message: &'a str,
    pub timestamp: Timestamp,
}

struct Cursor {
    room: Room,
    buf: VecDeque<Message>,
    last: Option<MessageId>,
    done: bool,
}

impl Cursor {
    /// The next message below `cutoff` at or after `since`, reading a page when needed.
    fn peek(
        &mut self,
        store: &Store,
        cutoff: MessageId,
        since: Option<Timestamp>,
    ) -> Result<Option<&Message>, StoreError> {
        loop {
            while let Some(m) = self.buf.front() {
                if m.id >= cutoff {
                    self.buf.clear();
                    self.done = true;
                    break;
                }
                if since.is_some_and(|s| m.timestamp < s) {
                    self.buf.pop_front();
                    continue;
                }
                break;
            }
            if !self.buf.is_empty() || self.done {
                return Ok(self.buf.front());
            }
            let page = store.page_from(self.room.id, self.last, PAGE)?;
            self.last = page.messages.last().map(|m| m.id).or(self.last);
            self.done = !page.has_more;
            if page.messages.is_empty() {
                self.done = true;
            }
            self.buf.extend(page.messages);
        }
    }
}

impl Store {
    /// Calls `each` for every message of `rooms` (all rooms when `None`)
    /// with a timestamp at or after `since`, stored before the call began.
    /// One room: its id order. Several: by timestamp, then room id, then
    /// message id. Returns the number of messages.
    pub fn export<E: From<StoreError>>(
        &self,
        room: Option<RoomId>,
        since: Option<Timestamp>,
        mut each: impl FnMut(&ExportLine<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let cutoff = self.message_cutoff();
        let rooms = match room {
            Some(id) => self.room(id)?.into_iter().collect(),
            None => self.all_rooms()?,
        };
        let mut cursors: Vec<Cursor> = rooms
            .into_iter()
            .map(|room| Cursor {
                room,
                buf: VecDeque::new(),
                last: None,
                done: false,
            })
            .collect();
        let mut heap = BinaryHeap::new();
        for (i, c) in cursors.iter_mut().enumerate() {
            if let Some(m) = c.peek(self, cutoff, since)? {
                heap.push(Reverse((m.timestamp, m.room_id, m.id, i)));
            }
        }
        let mut n = 0;
        while let Some(Reverse((_, _, _, i))) = heap.pop() {
            let c = &mut cursors[i];
            let Some(m) = c.buf.pop_front() else { continue };
            each(&ExportLine {
                id: m.id,
                room_id: m.room_id,
                room: &c.room.name,
                user_id: m.user_id,
                user: &m.user,
                message: &m.message,
                timestamp: m.timestamp,
            })?;
            n += 1;
            if let Some(next) = c.peek(self, cutoff, since)? {
                heap.push(Reverse((next.timestamp, next.room_id, next.id, i)));
            }
        }
        Ok(n)
    }

    /// Writes a complete, consistent copy of the database as JSON lines.
    /// The last line counts the records, so a truncated file is detected
    /// at restore.
    pub fn backup(&self, out: &mut dyn Write) -> Result<BackupCounts, StoreError> {
        let cutoff = self.message_cutoff();
        let io = |e: std::io::Error| StoreError::Corrupt(format!("writing the backup: {e}"));
        let mut line = |rec: &BackupRecord| -> Result<(), StoreError> {
            let mut v = to_json(rec)?;
            v.push(b'\n');
            out.write_all(&v).map_err(io)
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
                let page = self.page_from(room.id, last, PAGE)?;
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
        out.flush().map_err(io)?;
        Ok(counts)
    }

    /// Reads a whole backup and checks it (header, every record, the end
    /// record's counts) without writing anything. `restore` writes only
    /// after this passed, so a truncated or damaged file leaves the data
    /// directory untouched.
    pub fn check_backup(input: &mut dyn BufRead) -> Result<BackupCounts, StoreError> {
        read_backup(input, |_| Ok(()))
    }

    /// Loads a backup (checked first with [`Store::check_backup`]) into this
    /// store, which must be empty. Indexes (names, memberships by user) are
    /// rebuilt from the records.
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

/// Parses a backup line by line, checking its structure, and hands each
/// record to `apply`. Fails on the first bad line, a missing header or end
/// record, or counts that do not match.
fn read_backup(
    input: &mut dyn BufRead,
    mut apply: impl FnMut(BackupRecord) -> Result<(), StoreError>,
) -> Result<BackupCounts, StoreError> {
    let bad = |n: usize, what: &str| StoreError::BadBackup(format!("line {n}: {what}"));
    let mut counts = BackupCounts::default();
    let mut end = None;
    let mut buf = String::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = input
            .read_line(&mut buf)
            .map_err(|e| StoreError::BadBackup(format!("cannot read it: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        if end.is_some() {
            return Err(bad(n, "data after the end record"));
        }
        let rec: BackupRecord = serde_json::from_str(&buf).map_err(|e| bad(n, &e.to_string()))?;
        match &rec {
            BackupRecord::Header { format, schema } => {
                if format != BACKUP_FORMAT || n != 1 {
                    return Err(bad(n, "not a chatroom backup"));
                }
                if *schema > super::SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema { found: *schema });
                }
            }
            _ if n == 1 => return Err(bad(n, "not a chatroom backup")),
            BackupRecord::User { .. } => counts.users += 1,
            BackupRecord::Room(_) => counts.rooms += 1,
            BackupRecord::Member { .. } => counts.members += 1,
            BackupRecord::Message(_) => counts.messages += 1,
            BackupRecord::End(c) => end = Some(c.clone()),
        }
        apply(rec)?;
    }
    match end {
        Some(c) if c == counts => Ok(counts),
        Some(_) => Err(StoreError::BadBackup(
            "its counts do not match its records".into(),
        )),
        None => Err(StoreError::BadBackup(
            "it is truncated (no end record)".into(),
        )),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use crate::store::testing::temp_store;
    use crate::store::NewMessage;

    fn seed(store: &Store) -> (Room, Room) {
        let u = store.create_user("ann", "hash", Role::User).expect("user");
        let a = store.create_room("a", "", false, u.id).expect("room");
        let b = store.create_room("b", "", true, u.id).expect("room");
        for i in 0..1200 {
            let room = if i % 3 == 0 { b.id } else { a.id };
            let m = NewMessage {
                room_id: room,
                user_id: u.id,
                user: "ann".into(),
                message: format!("m{i}"),
                timestamp: Timestamp(1000 + i),
            };
            store.append_batch(vec![m]).expect("append");
        }
        (a, b)
    }

    #[test]
    fn export_merges_rooms_by_time_and_keeps_room_order() {
        let (store, _dir) = temp_store();
        let (a, _) = seed(&store);
        let mut all = Vec::new();
        let n = store.export::<StoreError>(None, None, |l| {
            all.push((l.timestamp, l.message.to_owned()));
            Ok(())
        });
        assert_eq!(n.expect("export"), 1200);
        assert!(all.windows(2).all(|w| w[0].0 <= w[1].0));
        let mut one = Vec::new();
        store
            .export::<StoreError>(Some(a.id), Some(Timestamp(2000)), |l| {
                one.push(l.id);
                Ok(())
            })
            .expect("export room");
        assert_eq!(
            one.len(),
            134,
            "room a holds 2 of every 3 of the 200 from timestamp 2000 on"
        );
        assert!(one.windows(2).all(|w| w[0] < w[1]));
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
}
