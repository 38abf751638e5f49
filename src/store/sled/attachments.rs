//! Files attached to messages.
//!
//! A message and the files it attaches are written in one transaction
//! (the `messages`, `files` and `rooms` trees): each file is checked
//! (it exists, its sender uploaded it to the message's room, it is not
//! attached yet) and its `FileRecord.messageId` set in the same
//! transaction that inserts the message. Two messages naming one file
//! thus never both get it, and a file deleted meanwhile (its room's
//! deletion, the sweep of unattached files) is never named by a message:
//! the sweep deletes a record only if it is still unattached, inside its
//! own transaction on `files`.
//!
//! The descriptors of the attached files are kept in the message's own
//! record: a file never changes once attached, and serving history then
//! needs no lookup per file.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::{client_ids, from_json, keys, messages, to_json, SledStore, StoreError};
use crate::files::Sha256;
use crate::model::{Attachment, FileId, Message, MessageId, Timestamp};
use crate::store::prelude::*;
use crate::store::{Appended, AttachRefused, FileRecord, NewMessage};

/// An attachment as the message record keeps it: short keys, no urls.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredAttachment {
    i: FileId,
    n: String,
    s: u64,
    t: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    w: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    h: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    th: bool,
}

impl From<&Attachment> for StoredAttachment {
    fn from(a: &Attachment) -> StoredAttachment {
        StoredAttachment {
            i: a.id,
            n: a.name.clone(),
            s: a.size,
            t: a.content_type.clone(),
            w: a.width,
            h: a.height,
            th: a.thumbnail,
        }
    }
}

impl From<StoredAttachment> for Attachment {
    fn from(a: StoredAttachment) -> Attachment {
        Attachment {
            id: a.i,
            name: a.n,
            size: a.s,
            content_type: a.t,
            width: a.w,
            height: a.h,
            thumbnail: a.th,
        }
    }
}

/// Why attaching stopped inside the transaction.
enum Abort {
    Refused(String),
    SledStore(StoreError),
}

type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

fn refused<T>(why: String) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(Abort::Refused(why)))
}

fn failed(e: StoreError) -> ConflictableTransactionError<Abort> {
    ConflictableTransactionError::Abort(Abort::SledStore(e))
}

/// Checks and claims each of `files` for `m`, in a transaction: the
/// descriptors of the claimed files.
fn claim(
    files_tree: &TransactionalTree,
    m: &Message,
    files: &[FileId],
) -> TxResult<Vec<Attachment>> {
    let mut out = Vec::with_capacity(files.len());
    for id in files {
        let Some(v) = files_tree.get(keys::id(id.0))? else {
            return refused(format!("attachment {id}: no such file"));
        };
        let mut rec: FileRecord = from_json(&v).map_err(failed)?;
        if rec.uploader_id != m.user_id {
            return refused(format!("attachment {id}: not uploaded by you"));
        }
        if rec.room_id != m.room_id {
            return refused(format!("attachment {id}: uploaded to another room"));
        }
        if rec.message_id.is_some() {
            return refused(format!(
                "attachment {id}: already attached to another message"
            ));
        }
        rec.message_id = Some(m.id);
        files_tree.insert(&keys::id(id.0), to_json(&rec).map_err(failed)?)?;
        out.push(Attachment {
            id: rec.id,
            name: rec.name,
            size: rec.size,
            content_type: rec.content_type,
            width: rec.width,
            height: rec.height,
            thumbnail: rec.thumb_sha256.is_some(),
        });
    }
    Ok(out)
}

impl SledStore {
    /// [`SledStore::append_batch`] for messages that may attach files: each
    /// with files is written with them in one transaction, or refused
    /// (its id is then never used). Messages become visible in id order,
    /// as with `append_batch`. Not yet durable: the caller flushes.
    pub(super) fn append_attaching<I>(&self, new: I) -> Result<Appended, StoreError>
    where
        I: IntoIterator<Item = (NewMessage, Vec<FileId>)>,
        I::IntoIter: ExactSizeIterator,
    {
        let new = new.into_iter();
        let ids = self.reserve_ids(new.len())?;
        let t = &self.inner;
        let mut batch = sled::Batch::default();
        let mut keyed = sled::Batch::default();
        let mut out = Appended {
            stored: Vec::with_capacity(new.len()),
            refused: Vec::new(),
        };
        for (place, (id, (n, files))) in ids.zip(new).enumerate() {
            let client_id = n.client_id.clone();
            let mut m = n.into_message(MessageId(id));
            if files.is_empty() {
                batch.insert(&keys::message(m.room_id, m.id), messages::encode(&m)?);
            } else {
                // The messages before it first: readers see ids in order.
                t.messages.apply_batch(std::mem::take(&mut batch))?;
                let key = keys::message(m.room_id, m.id);
                let room_key = keys::id(m.room_id.0);
                let res = (&t.messages, &t.files, &t.rooms).transaction(|(msgs, ft, rooms)| {
                    if rooms.get(room_key)?.is_none() {
                        return refused("the room was deleted".into());
                    }
                    let attached = claim(ft, &m, &files)?;
                    let mut full = m.clone();
                    full.attachments = attached;
                    msgs.insert(&key, messages::encode(&full).map_err(failed)?)?;
                    Ok(full.attachments)
                });
                match res {
                    Ok(attached) => m.attachments = attached,
                    Err(TransactionError::Abort(Abort::Refused(why))) => {
                        out.refused.push((place, AttachRefused(why)));
                        continue;
                    }
                    Err(TransactionError::Abort(Abort::SledStore(e))) => return Err(e),
                    Err(TransactionError::Storage(e)) => return Err(e.into()),
                }
            }
            if let Some(client_id) = &client_id {
                let (k, v) = client_ids::entry(m.user_id, client_id, m.room_id, m.id)?;
                keyed.insert(k, v);
            }
            out.stored.push(m);
        }
        t.messages.apply_batch(batch)?;
        t.client_ids.apply_batch(keyed)?;
        self.count_appended(&out.stored)?;
        Ok(out)
    }

    /// Deletes the records of files never attached and created before
    /// `cutoff`, and of files attached to a message that is gone (a
    /// message whose write failed, removed at start). A record attached
    /// meanwhile is kept: the deletion re-checks it in its transaction.
    /// Returns the blobs nothing refers to any more, to remove once this
    /// is durable. Not yet durable.
    pub(super) fn sweep_files(&self, cutoff: Timestamp) -> Result<Vec<Sha256>, StoreError> {
        let mut stale = Vec::new();
        let mut orphans = HashSet::new();
        for kv in self.inner.files.iter() {
            let (_, v) = kv?;
            let rec: FileRecord = from_json(&v)?;
            match rec.message_id {
                None if rec.created_at < cutoff => stale.push(rec.id),
                None => {}
                Some(m) if self.message(rec.room_id, m)?.is_none() && !self.hidden(m) => {
                    orphans.insert(rec.id);
                    stale.push(rec.id);
                }
                Some(_) => {}
            }
        }
        if stale.is_empty() {
            return Ok(Vec::new());
        }
        self.delete_files_where(&stale, |rec| {
            rec.message_id.is_none() || orphans.contains(&rec.id)
        })
    }
}

#[cfg(test)]
mod tests;
