//! The backup dump and its restore.
//!
//! A backup is JSON lines in a fixed order: the header, every user, every
//! room each followed by its memberships, every message (room by room, each
//! room's in id order) each followed by its reactions, every read mark
//! and notification level, every uploaded file each after the blobs it names (see [`files`]),
//! and an end record with the counts. The read counters are not in it:
//! restore counts them again. Nor are push subscriptions: they are bound
//! to this server's VAPID key, which stays in the data directory like the
//! JWT secret and is not in a backup either. `backup` writes
//! exactly that order and stops at the message cutoff taken when it starts,
//! so it is a consistent prefix of every room's history.
//!
//! `restore` trusts nothing in the file: a [`Checker`] sees every record
//! before it is applied and refuses the first inconsistency (duplicate ids
//! or names, references to users or rooms not in the file, names the
//! registration rules refuse, message ids that leave no room for new ones,
//! counts that differ) with its line number. Lines are read with a cap, so
//! a file of one huge line is refused without being held.

mod check;
mod files;

use std::io::{BufRead, Write};

use super::{from_json, keys, to_json, SledStore, StoreError};
use crate::files::Blobs;
use crate::lines::{read_line, Line};
use crate::model::{UserId, UserRecord};
pub use crate::store::backup_format::MAX_LINE;
use crate::store::backup_format::{BackupRecord, BackupWriter, BACKUP_FORMAT, MAX_MESSAGE_ID};
use crate::store::prelude::*;
use crate::store::BackupCounts;
use check::Checker;
pub(crate) use files::FilesRestore;

impl SledStore {
    /// Writes a complete, consistent copy of the database as JSON lines,
    /// with the files of `blobs` when given. The last line counts the
    /// records, so a truncated file is detected at restore.
    pub(super) fn backup_with(
        &self,
        blobs: Option<&Blobs>,
        out: &mut dyn Write,
    ) -> Result<BackupCounts, StoreError> {
        let cutoff = self.message_cutoff();
        let mut w = BackupWriter::new(out)?;
        for kv in self.inner.users.iter() {
            let (k, v) = kv?;
            let id =
                UserId(keys::read_u64(&k).ok_or_else(|| StoreError::Corrupt("user key".into()))?);
            w.record(&BackupRecord::User {
                id,
                record: from_json(&v)?,
            })?;
        }
        let rooms = self.all_rooms()?;
        for room in &rooms {
            w.record(&BackupRecord::Room(room.clone()))?;
            for user in self.members(room.id)? {
                w.record(&BackupRecord::Member {
                    room: room.id,
                    user,
                })?;
            }
        }
        for room in &rooms {
            let mut last = None;
            'room: loop {
                let page = self.page_from(room.id, last, super::export::PAGE)?;
                let mut reactions = match (page.messages.first(), page.messages.last()) {
                    (Some(a), Some(b)) => self.reaction_records(room.id, a.id, b.id)?,
                    _ => Vec::new(),
                }
                .into_iter()
                .peekable();
                for m in &page.messages {
                    if m.id >= cutoff {
                        break 'room;
                    }
                    w.record(&BackupRecord::Message(m.clone()))?;
                    // Those of messages not read (quarantined) are passed over.
                    while let Some(r) = reactions.next_if(|r| r.message <= m.id) {
                        if r.message == m.id {
                            w.record(&BackupRecord::Reaction(r))?;
                        }
                    }
                }
                last = page.messages.last().map(|m| m.id);
                if !page.has_more || last.is_none() {
                    break;
                }
            }
        }
        for room in &rooms {
            for (user, last) in self.read_marks(room.id)? {
                w.record(&BackupRecord::Read {
                    room: room.id,
                    user,
                    last,
                })?;
            }
            for (user, level) in self.notification_levels(room.id)? {
                let room = room.id;
                w.record(&BackupRecord::Level { room, user, level })?;
            }
        }
        if let Some(blobs) = blobs {
            files::write_files(self, blobs, &mut w)?;
        }
        w.finish()
    }

    /// Reads a whole backup and checks it (header, every record, the end
    /// record's counts) without writing anything. `restore` writes only
    /// after this passed, so a truncated or damaged file leaves the data
    /// directory untouched.
    pub fn check_backup(input: &mut dyn BufRead) -> Result<BackupCounts, StoreError> {
        read_backup(input, |_, _| Ok(()))
    }

    /// Loads a backup into this store, which must be empty. Every record is
    /// checked again before it is written (the file may have changed since
    /// [`SledStore::check_backup`]); the caller removes a database a failed
    /// load started. Indexes (names, memberships by user, direct rooms by
    /// their people, public rooms, files by blob and room, bytes used) are
    /// rebuilt from the records. Blobs are written through `blobs`.
    pub(super) fn restore_with(
        &self,
        blobs: Option<&Blobs>,
        input: &mut dyn BufRead,
    ) -> Result<BackupCounts, StoreError> {
        let t = &self.inner;
        let mut files = blobs.map(FilesRestore::new);
        let mut usage: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
        if !t.users.is_empty() || !t.rooms.is_empty() || !t.messages.is_empty() {
            return Err(StoreError::Refused(
                "the data directory already holds data; restore into a new, empty one".into(),
            ));
        }
        let counts = read_backup(input, |rec, bytes| {
            match rec {
                BackupRecord::User { id, record } => {
                    t.usernames
                        .insert(keys::fold_name(&record.username), &keys::id(id.0))?;
                    t.users.insert(keys::id(id.0), to_json(&record)?)?;
                }
                BackupRecord::Room(room) => {
                    if !room.is_direct() {
                        t.room_names
                            .insert(keys::fold_name(&room.name), &keys::id(room.id.0))?;
                    }
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
                BackupRecord::Reaction(r) => {
                    // The checker saw the user's line: it is restored.
                    let user: UserRecord = match t.users.get(keys::id(r.user.0))? {
                        Some(v) => from_json(&v)?,
                        None => return Err(StoreError::Corrupt("a reaction's user".into())),
                    };
                    self.restore_reaction(&r, &user.username)?;
                }
                BackupRecord::Read { room, user, last } => self.restore_mark(room, user, last)?,
                BackupRecord::Level { room, user, level } => {
                    self.set_notification_level(room, user, level)?
                }
                BackupRecord::Blob(head) => files::needed(&mut files)?.blob(&head)?,
                BackupRecord::BlobData(_) => files::needed(&mut files)?.data(&bytes)?,
                BackupRecord::File(rec) => {
                    let used = usage.entry(rec.uploader_id.0).or_default();
                    *used = used.saturating_add(rec.size);
                    self.restore_file(&rec)?;
                }
                BackupRecord::Header { .. } | BackupRecord::End(_) => {}
            }
            Ok(())
        })?;
        self.restore_usage(&usage)?;
        self.rebuild_direct_index()?;
        self.rebuild_public_index()?;
        self.recount_all()?;
        self.flush()?;
        Ok(counts)
    }
}

/// Parses a backup line by line, checks each record against those before
/// it, and hands it to `apply` (with the decoded bytes of a blob's line).
/// Fails on the first bad line, a missing header or end record, or counts
/// that do not match.
pub(crate) fn read_backup(
    input: &mut dyn BufRead,
    mut apply: impl FnMut(BackupRecord, Vec<u8>) -> Result<(), StoreError>,
) -> Result<BackupCounts, StoreError> {
    let bad = |n: u64, what: &str| StoreError::BadBackup(format!("line {n}: {what}"));
    let mut checker = Checker::default();
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        let read = read_line(input, &mut buf, MAX_LINE)
            .map_err(|e| StoreError::BadBackup(format!("cannot read it: {e}")))?;
        if read == Line::End {
            break;
        }
        n += 1;
        if read == Line::TooLong {
            return Err(bad(
                n,
                &format!("longer than {} KiB; not a chatroom backup", MAX_LINE / 1024),
            ));
        }
        let rec: BackupRecord = serde_json::from_slice(&buf).map_err(|e| bad(n, &e.to_string()))?;
        checker.check(n, &rec).map_err(|e| bad(n, &e))?;
        apply(rec, checker.take_bytes())?;
    }
    checker.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{seed_history, temp_sled};
    use crate::store::Maintenance;

    /// A store holding the seeded history, and its backup.
    pub(super) fn seeded_backup() -> (SledStore, tempfile::TempDir, Vec<u8>, BackupCounts) {
        let (store, dir) = temp_sled();
        seed_history(&store);
        let mut buf = Vec::new();
        let counts = store.backup(&mut buf).expect("backup");
        (store, dir, buf, counts)
    }

    #[test]
    fn backup_restores_into_an_empty_store() {
        let (store, _dir, buf, counts) = seeded_backup();
        assert_eq!(counts.messages, 1200);
        let (fresh, _d2) = temp_sled();
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
        let (other, _d3) = temp_sled();
        assert!(SledStore::check_backup(&mut &buf[..buf.len() - 40]).is_err());
        assert!(SledStore::check_backup(&mut buf.as_slice()).is_ok());
        assert!(other.restore(&mut &buf[..buf.len() - 40]).is_err());
    }

    #[test]
    fn direct_rooms_and_their_index_survive_a_restore() {
        use crate::model::Role;
        use crate::store::Participant;
        let (store, _dir) = temp_sled();
        let people: Vec<Participant> = ["ann", "bea"]
            .iter()
            .map(|n| Participant {
                id: store.create_user(n, "h", Role::User).expect("user").id,
                username: (*n).to_owned(),
            })
            .collect();
        let (room, _) = store.open_direct_room(people[0].id, &people).expect("dm");
        store
            .create_room("ann, bea", "", false, people[0].id)
            .expect("same name, public");
        let mut buf = Vec::new();
        store.backup(&mut buf).expect("backup");
        let (fresh, _d2) = temp_sled();
        fresh.restore(&mut buf.as_slice()).expect("restore");
        let ids: Vec<_> = people.iter().rev().map(|p| p.id).collect();
        assert_eq!(fresh.direct_room(&ids).expect("lookup"), Some(room.clone()));
        let (again, created) = fresh.open_direct_room(people[1].id, &people).expect("dm");
        assert!(!created && again.id == room.id);
        // Two direct rooms of the same people are refused.
        let (id, twin_id) = (room.id.to_string(), "00000000000000ff");
        let text = String::from_utf8(buf).expect("utf8");
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let own: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].contains(&id) && !lines[i].contains("\"message\""))
            .collect();
        let twin: Vec<String> = own
            .iter()
            .map(|&i| lines[i].replace(&id, twin_id))
            .collect();
        let after = own.last().expect("room lines") + 1;
        lines.splice(after..after, twin);
        let end = lines.len() - 1;
        lines[end] = lines[end].replace("\"rooms\":2,\"members\":3", "\"rooms\":3,\"members\":5");
        let doubled = lines.join("\n") + "\n";
        let err = SledStore::check_backup(&mut doubled.as_bytes()).expect_err("refused");
        assert!(err.to_string().contains("same members"), "{err}");
    }
}
