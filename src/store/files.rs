//! Uploaded files' records and the bytes each user stores.

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::files::Sha256;
use crate::model::{FileId, MessageId, RoomId, Timestamp, UserId};

/// One uploaded file, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRecord {
    pub id: FileId,
    pub room_id: RoomId,
    pub uploader_id: UserId,
    /// The name its uploader gave, cleaned (`crate::files::name`).
    pub name: String,
    pub size: u64,
    /// The type recognised from its bytes (`crate::files::kind`), one of
    /// the allowlist or `application/octet-stream`.
    #[serde(rename = "type")]
    pub content_type: String,
    pub sha256: Sha256,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// The blob of its thumbnail, for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_sha256: Option<Sha256>,
    pub created_at: Timestamp,
    /// The message it is attached to, once it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
}

/// A file to record: everything but what the store decides.
#[derive(Clone, Debug)]
pub struct NewFile {
    pub room_id: RoomId,
    pub uploader_id: UserId,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub sha256: Sha256,
}

/// What recording a file did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileCreated {
    Created(FileRecord),
    /// The uploader's files would then take more than the quota.
    OverQuota,
}

/// Files' records, their indexes (by blob, by room) and each uploader's
/// usage. The blobs themselves live on disk (`crate::files::Blobs`).
pub trait FileStore {
    /// Records a new file and adds its size to its uploader's usage,
    /// atomically, unless that would take the usage past `quota` bytes
    /// (`None`: no quota). Not yet durable: the caller flushes.
    fn create_file(&self, new: NewFile, quota: Option<u64>) -> Result<FileCreated, StoreError>;

    /// One file's record.
    fn file(&self, id: FileId) -> Result<Option<FileRecord>, StoreError>;

    /// Every file of a room, oldest id first (ids are random: no order
    /// worth relying on).
    fn room_files(&self, room: RoomId) -> Result<Vec<FileRecord>, StoreError>;

    /// Bytes of the files `user` uploaded that are still stored.
    fn file_usage(&self, user: UserId) -> Result<u64, StoreError>;

    /// Whether any record refers to the blob `sha` (as its file or its
    /// thumbnail).
    fn blob_referenced(&self, sha: &Sha256) -> Result<bool, StoreError>;

    /// Deletes the records of `ids` (those that exist) and gives their
    /// uploaders their bytes back, atomically. Returns the blobs that no
    /// record refers to any more: the caller removes them from disk once
    /// this change is durable. Not yet durable.
    fn delete_files(&self, ids: &[FileId]) -> Result<Vec<Sha256>, StoreError>;

    /// Records an image's dimensions and its thumbnail's blob (referred to
    /// like the file's own, so it is removed with the last record using
    /// it). False when the file is gone. Not yet durable.
    fn set_file_image(
        &self,
        id: FileId,
        width: u32,
        height: u32,
        thumb: Option<Sha256>,
    ) -> Result<bool, StoreError>;

    /// Deletes the records of files never attached and created before
    /// `cutoff`, and of files attached to a message that is gone. A record
    /// attached meanwhile must be kept. Returns the blobs nothing refers to
    /// any more, to remove once this is durable. Not yet durable.
    fn sweep_files(&self, cutoff: Timestamp) -> Result<Vec<Sha256>, StoreError>;
}
