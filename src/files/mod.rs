//! Uploaded files outside the database: their bytes on disk, stored once
//! per content ([`blobs`]); what type they are, judged from their own
//! bytes ([`kind`]); and the short-lived signed links that let a browser
//! fetch one without the account token ([`links`]); the size and thumbnail
//! of images ([`image`]); the removal of files never attached to a
//! message ([`sweep`]). Their metadata lives
//! in the store (`store/files.rs`).

pub mod blobs;
pub mod image;
pub mod kind;
pub mod links;
pub mod name;
pub mod sweep;

pub use blobs::{Blobs, Sha256};
