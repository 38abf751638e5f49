//! Uploaded files' records (`files`) and the bytes each user stores
//! (`file_usage`). Attaching them to messages is in `attachments.rs`.
//!
//! # Locks
//!
//! Several nodes change these rows at once, so every change that reads
//! before it writes holds row locks or advisory locks until its commit,
//! always taken in one order so that two changes never wait on each other
//! in a cycle: a room's row (`FOR KEY SHARE`, only by a claim), then file
//! rows (`FOR UPDATE`, in id order), then blobs' advisory locks (in byte
//! order), then `file_usage` rows (in user order), then the message
//! counter (only by a claim).
//!
//! A blob's advisory lock ([`BLOB_LOCK_CLASS`], keyed by the blob's first
//! bytes) is taken by every change that adds or removes a reference to the
//! blob, so that a deletion's answer "no record refers to this blob any
//! more" is still true when it commits: two deletions of the last two
//! records of one blob cannot each see the other's record and both keep
//! the blob, and a record of the blob created meanwhile is either seen by
//! the deletion or created after it.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{db_id, id_of, PgStore};
use crate::files::Sha256;
use crate::model::{FileId, RoomId, Timestamp, UserId};
use crate::store::{FileCreated, FileRecord, FileStore, NewFile, StoreError};

/// The class of the advisory locks of blobs (the key is the blob's first
/// four bytes: two blobs sharing them only wait for each other).
const BLOB_LOCK_CLASS: i32 = 0x626c_6f62;

/// The columns a [`FileRecord`] is read from, by [`record`].
const FILE: &str = "id, room_id, uploader_id, name, size, content_type, sha256, width, height, \
                    thumb_sha256, created_at, message_id";

impl FileStore for PgStore {
    /// Records a new file and adds its size to its uploader's usage in one
    /// transaction. The usage is one upsert whose `WHERE` holds the quota:
    /// it locks the uploader's row, so creations on every node at once are
    /// counted one after the other and all stop at the quota.
    fn create_file(&self, new: NewFile, quota: Option<u64>) -> Result<FileCreated, StoreError> {
        let size = i64::try_from(new.size)
            .map_err(|_| StoreError::Refused("a file of 2^63 bytes or more".into()))?;
        if quota.is_some_and(|q| new.size > q) {
            return Ok(FileCreated::OverQuota);
        }
        // A quota past what a BIGINT holds is no quota.
        let quota: Option<i64> = quota.and_then(|q| i64::try_from(q).ok());
        let record = FileRecord {
            id: FileId(crate::store::random_id()?),
            room_id: new.room_id,
            uploader_id: new.uploader_id,
            name: new.name,
            size: new.size,
            content_type: new.content_type,
            sha256: new.sha256,
            width: None,
            height: None,
            thumb_sha256: None,
            created_at: Timestamp::now(),
            message_id: None,
        };
        let rec = record.clone();
        let created = self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            lock_blobs(&tx, vec![rec.sha256]).await?;
            let counted = tx
                .query_opt(
                    "INSERT INTO file_usage AS u (user_id, bytes) VALUES ($1, $2)
                     ON CONFLICT (user_id) DO UPDATE SET bytes = u.bytes + EXCLUDED.bytes
                     WHERE $3::BIGINT IS NULL OR u.bytes <= $3 - EXCLUDED.bytes
                     RETURNING bytes",
                    &[&db_id(rec.uploader_id.0), &size, &quota],
                )
                .await?;
            if counted.is_none() {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO files (id, room_id, uploader_id, name, size, content_type,
                     sha256, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &db_id(rec.id.0),
                    &db_id(rec.room_id.0),
                    &db_id(rec.uploader_id.0),
                    &rec.name,
                    &size,
                    &rec.content_type,
                    &rec.sha256.0.as_slice(),
                    &rec.created_at.0,
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })?;
        Ok(match created {
            true => FileCreated::Created(record),
            false => FileCreated::OverQuota,
        })
    }

    fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError> {
        self.run(move |client| async move {
            let sql = format!("SELECT {FILE} FROM files WHERE id = $1");
            let row = client.query_opt(&sql, &[&db_id(id.0)]).await?;
            row.as_ref().map(record).transpose()
        })
    }

    /// Every file of a room, in the order of their ids as u64 (made here:
    /// SQL would order the BIGINTs by sign).
    fn room_files(&self, room: RoomId) -> Result<Vec<FileRecord>, StoreError> {
        let mut files: Vec<FileRecord> = self.run(move |client| async move {
            let sql = format!("SELECT {FILE} FROM files WHERE room_id = $1");
            let rows = client.query(&sql, &[&db_id(room.0)]).await?;
            rows.iter().map(record).collect()
        })?;
        files.sort_unstable_by_key(|f| f.id.0);
        Ok(files)
    }

    fn file_usage(&self, user: UserId) -> Result<u64, StoreError> {
        self.run(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT bytes FROM file_usage WHERE user_id = $1",
                    &[&db_id(user.0)],
                )
                .await?;
            let bytes: i64 = match row {
                Some(row) => row.try_get(0)?,
                None => 0,
            };
            Ok(u64::try_from(bytes).unwrap_or(0))
        })
    }

    fn blob_referenced(&self, sha: &Sha256) -> Result<bool, StoreError> {
        let sha = *sha;
        self.run(move |client| async move {
            let row = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM files WHERE sha256 = $1)
                         OR EXISTS (SELECT 1 FROM files WHERE thumb_sha256 = $1)",
                    &[&sha.0.as_slice()],
                )
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// Deletes the records of `ids` and gives their uploaders their bytes
    /// back in one transaction, under the rows' locks and their blobs'
    /// (see the module doc), and answers which of their blobs no record
    /// refers to at its commit.
    fn delete_files(&self, ids: &[FileId]) -> Result<Vec<Sha256>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|id| db_id(id.0)).collect();
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let locked = tx
                .query(
                    "SELECT id, sha256, thumb_sha256 FROM files WHERE id = ANY($1)
                     ORDER BY id FOR UPDATE",
                    &[&ids],
                )
                .await?;
            let gone = delete_locked(&tx, &locked).await?;
            tx.commit().await?;
            Ok(gone)
        })
    }

    /// Records an image's dimensions and thumbnail under the file's row
    /// lock and the new thumbnail blob's lock (see the module doc).
    fn set_file_image(
        &self,
        id: FileId,
        width: u32,
        height: u32,
        thumb: Option<Sha256>,
    ) -> Result<bool, StoreError> {
        // Stored as the bit patterns of INTEGERs, read back the same way.
        let (width, height) = (width as i32, height as i32);
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let found = tx
                .query_opt(
                    "SELECT 1 FROM files WHERE id = $1 FOR UPDATE",
                    &[&db_id(id.0)],
                )
                .await?;
            if found.is_none() {
                return Ok(false);
            }
            lock_blobs(&tx, thumb.into_iter().collect()).await?;
            let thumb = thumb.map(|t| t.0.to_vec());
            tx.execute(
                "UPDATE files SET width = $2, height = $3, thumb_sha256 = $4 WHERE id = $1",
                &[&db_id(id.0), &width, &height, &thumb],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Deletes, in one transaction, the records of files never attached
    /// and created before `cutoff` and those attached to a message that is
    /// gone. Rows are taken `FOR UPDATE SKIP LOCKED`: a file a message is
    /// attaching right now is locked by that message's batch, skipped, and
    /// kept. One whose attachment committed after this statement began is
    /// read again by the row lock, and its condition with it
    /// (`message_id IS NULL` fails then). The two kinds are two statements
    /// on purpose: a file attached meanwhile, read again, must never meet
    /// the second condition, whose message the statement cannot see yet.
    fn sweep_files(&self, cutoff: Timestamp) -> Result<Vec<Sha256>, StoreError> {
        self.run(move |mut client| async move {
            let tx = client.transaction().await?;
            let mut locked = tx
                .query(
                    "SELECT id, sha256, thumb_sha256 FROM files
                     WHERE message_id IS NULL AND created_at < $1
                     ORDER BY id FOR UPDATE SKIP LOCKED",
                    &[&cutoff.0],
                )
                .await?;
            let orphans = tx
                .query(
                    "SELECT id, sha256, thumb_sha256 FROM files f
                     WHERE message_id IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = f.message_id)
                     ORDER BY id FOR UPDATE OF f SKIP LOCKED",
                    &[],
                )
                .await?;
            locked.extend(orphans);
            let gone = delete_locked(&tx, &locked).await?;
            tx.commit().await?;
            Ok(gone)
        })
    }
}

/// Deletes the file rows `locked` (`id, sha256, thumb_sha256`, locked by
/// the caller's transaction), gives their uploaders their bytes back, and
/// returns the blobs no record refers to any more, sorted.
async fn delete_locked(tx: &impl GenericClient, locked: &[Row]) -> Result<Vec<Sha256>, StoreError> {
    if locked.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::with_capacity(locked.len());
    let mut blobs = Vec::with_capacity(locked.len());
    for row in locked {
        ids.push(row.try_get::<_, i64>("id")?);
        blobs.push(sha_of(row.try_get("sha256")?)?);
        if let Some(thumb) = row.try_get::<_, Option<Vec<u8>>>("thumb_sha256")? {
            blobs.push(sha_of(thumb)?);
        }
    }
    let blobs = lock_blobs(tx, blobs).await?;
    let deleted = tx
        .query(
            "DELETE FROM files WHERE id = ANY($1) RETURNING uploader_id, size",
            &[&ids],
        )
        .await?;
    let mut freed: HashMap<i64, i64> = HashMap::new();
    for row in &deleted {
        let bytes = freed.entry(row.try_get("uploader_id")?).or_default();
        *bytes = bytes.saturating_add(row.try_get("size")?);
    }
    let mut users: Vec<(i64, i64)> = freed.into_iter().collect();
    // In user order: see the module doc.
    users.sort_unstable();
    for (user, bytes) in users {
        tx.execute(
            "UPDATE file_usage SET bytes = greatest(bytes - $2, 0) WHERE user_id = $1",
            &[&user, &bytes],
        )
        .await?;
    }
    let shas: Vec<&[u8]> = blobs.iter().map(|s| s.0.as_slice()).collect();
    let rows = tx
        .query(
            "SELECT s FROM unnest($1::BYTEA[]) WITH ORDINALITY AS b(s, n)
             WHERE NOT EXISTS (SELECT 1 FROM files WHERE sha256 = s)
               AND NOT EXISTS (SELECT 1 FROM files WHERE thumb_sha256 = s)
             ORDER BY n",
            &[&shas],
        )
        .await?;
    rows.iter().map(|r| sha_of(r.try_get(0)?)).collect()
}

/// Takes the advisory locks of `blobs` for the caller's transaction, in
/// byte order (see the module doc); returns them sorted, each once.
async fn lock_blobs(
    tx: &impl GenericClient,
    mut blobs: Vec<Sha256>,
) -> Result<Vec<Sha256>, StoreError> {
    blobs.sort_unstable();
    blobs.dedup();
    let mut keys: Vec<i32> = blobs.iter().map(blob_lock_key).collect();
    keys.dedup();
    if !keys.is_empty() {
        // A function scan yields the array in its order, and each row's
        // lock is taken as the row is made: the locks come in key order.
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::INTEGER[]) AS k",
            &[&BLOB_LOCK_CLASS, &keys],
        )
        .await?;
    }
    Ok(blobs)
}

/// A blob's advisory lock key: its first four bytes, so that keys sort
/// like the blobs.
fn blob_lock_key(sha: &Sha256) -> i32 {
    let [a, b, c, d, ..] = sha.0;
    // Flipping the sign bit keeps the byte order as i32 order.
    (u32::from_be_bytes([a, b, c, d]) ^ 0x8000_0000) as i32
}

/// A record read back from the [`FILE`] columns.
fn record(row: &Row) -> Result<FileRecord, StoreError> {
    let thumb: Option<Vec<u8>> = row.try_get("thumb_sha256")?;
    Ok(FileRecord {
        id: FileId(id_of(row.try_get("id")?)),
        room_id: RoomId(id_of(row.try_get("room_id")?)),
        uploader_id: UserId(id_of(row.try_get("uploader_id")?)),
        name: row.try_get("name")?,
        size: size_of(row.try_get("size")?),
        content_type: row.try_get("content_type")?,
        sha256: sha_of(row.try_get("sha256")?)?,
        width: row.try_get::<_, Option<i32>>("width")?.map(|w| w as u32),
        height: row.try_get::<_, Option<i32>>("height")?.map(|h| h as u32),
        thumb_sha256: thumb.map(sha_of).transpose()?,
        created_at: Timestamp(row.try_get("created_at")?),
        message_id: row
            .try_get::<_, Option<i64>>("message_id")?
            .map(|m| crate::model::MessageId(id_of(m))),
    })
}

/// A stored size (never negative: the table checks it).
pub(super) fn size_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A stored hash: 32 bytes, or the record is corrupt.
fn sha_of(bytes: Vec<u8>) -> Result<Sha256, StoreError> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a file's hash is not 32 bytes".into()))?;
    Ok(Sha256(bytes))
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
