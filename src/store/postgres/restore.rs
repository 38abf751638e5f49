//! The restore: a backup (of either store) loaded into an empty database
//! in one transaction, so that a load that fails anywhere, a truncated
//! file included, leaves nothing behind.
//!
//! Every record passes the same checks as sled's restore (`read_backup`)
//! before it is written. The rows are sent in batches of [`BATCH`]
//! statements on the restore's [`Session`], the last with the commit, so
//! memory holds one batch, never the file.
//!
//! The transaction first locks `users`, `rooms` and `messages` against
//! writes and only then checks that they are empty: two restores, or a
//! restore and a node's writes, cannot interleave. What a backup does not
//! hold is made again from what it does: the index of direct rooms from
//! the direct rooms' members, the usage counters from the files, and the
//! message counter from the largest id. The blobs of the files are written
//! through the blob store as their lines come, as sled does; a load that
//! fails after some were written leaves those blobs, which `files gc`
//! removes since no record refers to them.

use std::collections::HashMap;
use std::io::BufRead;

use super::backup::level_word;
use super::direct::{direct_name_key, people_key};
use super::session::{Param, Session, Stmt};
use super::{db_id, PgStore};
use crate::files::Blobs;
use crate::model::{Message, RoomId, RoomKind, UserId};
use crate::store::backup_format::{read_backup, BackupRecord, FilesRestore, ReactionRecord};
use crate::store::{fold_name, BackupCounts, StoreError};

/// Statements sent at once.
const BATCH: usize = 256;

/// How the restore's transaction starts: the tables a restore must find
/// empty are locked against writers (and other restores) until it ends.
const BEGIN: &str = "LOCK TABLE users, rooms, messages IN SHARE ROW EXCLUSIVE MODE";

/// What a restore carries from one record to the next.
struct Load<'s> {
    session: &'s Session,
    batch: Vec<Stmt>,
    /// Usernames by id, for the reactions' rows.
    names: HashMap<u64, String>,
    /// The reactions of the message just read: inserted in the order of
    /// their times, so that their `seq` orders them as the times did.
    reactions: Vec<ReactionRecord>,
    /// The direct room whose members are being read, and its members.
    direct: Option<(RoomId, Vec<u64>)>,
    usage: HashMap<u64, u64>,
    /// Each attached file's place in its message's list, from the
    /// messages' lines: the files' rows keep it (`attached_place`), the
    /// order a message shows its attachments in.
    places: HashMap<u64, i16>,
    next_id: u64,
}

impl PgStore {
    pub(super) fn restore_from(
        &self,
        blobs: Option<&Blobs>,
        input: &mut dyn BufRead,
    ) -> Result<BackupCounts, StoreError> {
        let session = self.session(BEGIN)?;
        let rows = session.query(
            "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM rooms)
                 OR EXISTS (SELECT 1 FROM messages)",
            Vec::new(),
        )?;
        let held: bool = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => false,
        };
        if held {
            return Err(StoreError::Refused(
                "the database already holds data; restore into a new, empty one".into(),
            ));
        }
        let mut files = blobs.map(FilesRestore::new);
        let mut load = Load {
            session: &session,
            batch: Vec::new(),
            names: HashMap::new(),
            reactions: Vec::new(),
            direct: None,
            usage: HashMap::new(),
            places: HashMap::new(),
            next_id: 0,
        };
        let counts = read_backup(input, |rec, bytes| {
            if !matches!(rec, BackupRecord::Reaction(_)) {
                load.end_reactions()?;
            }
            if !matches!(rec, BackupRecord::Member { .. }) {
                load.end_direct();
            }
            match rec {
                BackupRecord::User { id, record } => {
                    load.names.insert(id.0, record.username.clone());
                    load.push(Stmt::new(
                        "INSERT INTO users (id, username_folded, username, role, password_hash,
                             created_at, disabled, token_version)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        vec![
                            Box::new(db_id(id.0)),
                            Box::new(fold_name(&record.username)),
                            Box::new(record.username),
                            Box::new(role_word(record.role)),
                            Box::new(record.password_hash),
                            Box::new(record.created_at),
                            Box::new(record.disabled),
                            Box::new(db_id(record.token_version)),
                        ],
                    ))?;
                }
                BackupRecord::Room(room) => {
                    let folded = if room.is_direct() {
                        direct_name_key(room.id)
                    } else {
                        fold_name(&room.name)
                    };
                    if room.is_direct() {
                        load.direct = Some((room.id, Vec::new()));
                    }
                    load.push(Stmt::new(
                        "INSERT INTO rooms (id, name, name_folded, description, private, kind,
                             owner_id, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        vec![
                            Box::new(db_id(room.id.0)),
                            Box::new(room.name),
                            Box::new(folded),
                            Box::new(room.description),
                            Box::new(room.private),
                            Box::new(room.kind.map(kind_word)),
                            Box::new(db_id(room.owner_id.0)),
                            Box::new(room.created_at),
                        ],
                    ))?;
                }
                BackupRecord::Member { room, user } => {
                    if let Some((_, people)) = &mut load.direct {
                        people.push(user.0);
                    }
                    load.push(pair(
                        "INSERT INTO members (room_id, user_id) VALUES ($1, $2)",
                        room,
                        user,
                    ))?;
                }
                BackupRecord::Message(m) => load.message(m)?,
                BackupRecord::Reaction(r) => load.reactions.push(r),
                BackupRecord::Read { room, user, last } => {
                    let mut stmt = pair(
                        "INSERT INTO read_marks (room_id, user_id, last_read_id)
                         VALUES ($1, $2, $3)",
                        room,
                        user,
                    );
                    stmt.params.push(Box::new(db_id(last.0)));
                    load.push(stmt)?;
                }
                BackupRecord::Level { room, user, level } => {
                    let mut stmt = pair(
                        "INSERT INTO notification_levels (room_id, user_id, level)
                         VALUES ($1, $2, $3)",
                        room,
                        user,
                    );
                    stmt.params.push(Box::new(level_word(level)));
                    load.push(stmt)?;
                }
                BackupRecord::Blob(head) => needed(&mut files)?.blob(&head)?,
                BackupRecord::BlobData(_) => needed(&mut files)?.data(&bytes)?,
                BackupRecord::File(rec) => {
                    let used = load.usage.entry(rec.uploader_id.0).or_default();
                    *used = used.saturating_add(rec.size);
                    let dim = |v: Option<u32>| v.and_then(|v| i32::try_from(v).ok());
                    load.push(Stmt::new(
                        "INSERT INTO files (id, room_id, uploader_id, name, size, content_type,
                             sha256, width, height, thumb_sha256, created_at, message_id,
                             attached_place)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                        vec![
                            Box::new(db_id(rec.id.0)),
                            Box::new(db_id(rec.room_id.0)),
                            Box::new(db_id(rec.uploader_id.0)),
                            Box::new(rec.name.clone()),
                            Box::new(i64::try_from(rec.size).unwrap_or(i64::MAX)),
                            Box::new(rec.content_type.clone()),
                            Box::new(rec.sha256.0.to_vec()),
                            Box::new(dim(rec.width)),
                            Box::new(dim(rec.height)),
                            Box::new(rec.thumb_sha256.map(|s| s.0.to_vec())),
                            Box::new(rec.created_at.0),
                            Box::new(rec.message_id.map(|m| db_id(m.0))),
                            Box::new(load.places.get(&rec.id.0).copied()),
                        ],
                    ))?;
                }
                BackupRecord::Header { .. } | BackupRecord::End(_) => {}
            }
            Ok(())
        })?;
        let mut last = std::mem::take(&mut load.batch);
        for (user, bytes) in &load.usage {
            last.push(Stmt::new(
                "INSERT INTO file_usage (user_id, bytes) VALUES ($1, $2)",
                vec![
                    Box::new(db_id(*user)),
                    Box::new(i64::try_from(*bytes).unwrap_or(i64::MAX)),
                ],
            ));
        }
        // The checker bounds ids below 2^63: the counter fits.
        last.push(Stmt::new(
            "UPDATE message_counter SET next = GREATEST(next, $1)",
            vec![Box::new(db_id(load.next_id))],
        ));
        session.commit(last)?;
        Ok(counts)
    }
}

impl Load<'_> {
    /// Adds a statement to the batch, sending the batch once full.
    fn push(&mut self, stmt: Stmt) -> Result<(), StoreError> {
        self.batch.push(stmt);
        if self.batch.len() >= BATCH {
            self.session.execute(std::mem::take(&mut self.batch))?;
        }
        Ok(())
    }

    fn message(&mut self, m: Message) -> Result<(), StoreError> {
        // Attachments are not stored with the message here: they are the
        // files whose records name it, restored from the files section,
        // each at its place in the message's list (set here when its row
        // came first).
        self.next_id = self.next_id.max(m.id.0.saturating_add(1));
        for (place, a) in m.attachments.iter().enumerate() {
            let place = i16::try_from(place).unwrap_or(i16::MAX);
            self.places.insert(a.id.0, place);
            self.push(Stmt::new(
                "UPDATE files SET attached_place = $2 WHERE id = $1 AND message_id = $3",
                vec![
                    Box::new(db_id(a.id.0)),
                    Box::new(place),
                    Box::new(db_id(m.id.0)),
                ],
            ))?;
        }
        let mentions: Vec<i64> = m.mentions.iter().map(|u| db_id(u.0)).collect();
        self.push(Stmt::new(
            "INSERT INTO messages (room_id, id, user_id, username, body, sent_at, edited_at,
                 mentions)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            vec![
                Box::new(db_id(m.room_id.0)),
                Box::new(db_id(m.id.0)),
                Box::new(db_id(m.user_id.0)),
                Box::new(m.user),
                Box::new(m.message),
                Box::new(m.timestamp.0),
                Box::new(m.edited_at.map(|t| t.0)),
                Box::new(mentions),
            ],
        ))
    }

    /// Writes the reactions of the message before, oldest first (ties by
    /// emoji, then user: the order sled serves them in).
    fn end_reactions(&mut self) -> Result<(), StoreError> {
        let mut reactions = std::mem::take(&mut self.reactions);
        reactions.sort_by(|a, b| (a.at, &a.emoji, a.user.0).cmp(&(b.at, &b.emoji, b.user.0)));
        for r in reactions {
            // The checker saw the user's line: the name is known.
            let name = self.names.get(&r.user.0).cloned().unwrap_or_default();
            self.push(Stmt::new(
                "INSERT INTO reactions (room_id, message_id, emoji, user_id, username)
                 VALUES ($1, $2, $3, $4, $5)",
                vec![
                    Box::new(db_id(r.room.0)),
                    Box::new(db_id(r.message.0)),
                    Box::new(r.emoji),
                    Box::new(db_id(r.user.0)),
                    Box::new(name),
                ],
            ))?;
        }
        Ok(())
    }

    /// Once a direct room's members are read: its entry in the index of
    /// direct rooms.
    fn end_direct(&mut self) {
        let Some((room, people)) = self.direct.take() else {
            return;
        };
        self.batch.push(Stmt::new(
            "INSERT INTO direct_rooms (people, room_id) VALUES ($1, $2)",
            vec![
                Box::new(people_key(
                    &people.into_iter().map(UserId).collect::<Vec<_>>(),
                )),
                Box::new(db_id(room.0)),
            ],
        ));
    }
}

/// A statement that takes a room and a user.
fn pair(sql: &'static str, room: RoomId, user: UserId) -> Stmt {
    let params: Vec<Param> = vec![Box::new(db_id(room.0)), Box::new(db_id(user.0))];
    Stmt::new(sql, params)
}

fn kind_word(kind: RoomKind) -> &'static str {
    match kind {
        RoomKind::Public => "public",
        RoomKind::Private => "private",
        RoomKind::Direct => "direct",
    }
}

fn role_word(role: crate::model::Role) -> &'static str {
    match role {
        crate::model::Role::User => "user",
        crate::model::Role::Admin => "admin",
    }
}

/// The restore's files side, which a backup with files needs.
fn needed<'a, 'b>(
    files: &'a mut Option<FilesRestore<'b>>,
) -> Result<&'a mut FilesRestore<'b>, StoreError> {
    files.as_mut().ok_or_else(|| {
        StoreError::Refused("the backup holds files, but no files directory was given".into())
    })
}
