//! What an uploaded image gets once its bytes are stored: its width and
//! height, and a thumbnail kept as a blob of its own (indexed in
//! `file_blobs` like the file's, so it goes with the last record using
//! it). The work runs on the blocking pool, [`IMAGE_WORKERS`] at a time.
//!
//! An image that cannot be read (broken, cut short, not an image after
//! all) stays a plain file. One too large to decode safely (over
//! `image::MAX_PIXELS`, or over `image::DECODE_BUDGET` of memory: a
//! decompression bomb among them) keeps the size its header claims but
//! gets no thumbnail: the upload is still accepted, since the file itself
//! is harmless to store and to download, and only its preview would cost
//! the server. The log says why.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::app::App;
use crate::files::image::{self, ImageError};
use crate::files::Blobs;
use crate::store::{FileRecord, Store};

/// Longest side of a thumbnail, in pixels (the bound).
pub const THUMBNAIL_SIDE: u32 = 400;

/// Images decoded at once. Each may hold up to `image::DECODE_BUDGET`
/// (256 MiB) while it is decoded, so one at a time bounds the server's
/// memory; a thumbnail takes well under a second.
pub const IMAGE_WORKERS: usize = 1;

/// The permits of [`IMAGE_WORKERS`], held in the app.
pub fn image_permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(IMAGE_WORKERS))
}

/// `rec` with its image's size and thumbnail recorded (durably), when it
/// is an image that allows it; `rec` unchanged otherwise. Never fails the
/// upload: a problem here is logged and the file stays a plain file.
pub async fn add(app: &App, rec: FileRecord) -> FileRecord {
    if !rec.content_type.starts_with("image/") {
        return rec;
    }
    let Ok(_permit) = app.image_permits.clone().acquire_owned().await else {
        return rec;
    };
    let (store, blobs, fallback) = (app.store.clone(), app.blobs.clone(), rec.clone());
    match tokio::task::spawn_blocking(move || measure(&store, &blobs, rec)).await {
        Ok(rec) => rec,
        Err(e) => {
            tracing::warn!(file = %fallback.id, error = %e, "the image task failed");
            fallback
        }
    }
}

/// The blocking part of [`add`].
fn measure(store: &Store, blobs: &Blobs, mut rec: FileRecord) -> FileRecord {
    let path = blobs.path(&rec.sha256);
    let info = match image::probe(&path) {
        Ok(Some(info)) => info,
        Ok(None) => return rec,
        Err(e) => {
            log_unusable(&rec, &e);
            return rec;
        }
    };
    let (width, height) = (info.width, info.height);
    let thumb = match image::thumbnail(&path, THUMBNAIL_SIDE) {
        Ok(t) => Some(t),
        Err(e) => {
            log_unusable(&rec, &e);
            None
        }
    };
    let (id, mut thumb_sha) = (rec.id, None);
    let recorded = match thumb {
        None => store
            .change(|s| s.set_file_image(id, width, height, None))
            .map_err(|e| e.to_string()),
        Some(t) => {
            let kept = blobs.keep_bytes(&t.bytes, |sha| {
                match store.change(|s| s.set_file_image(id, width, height, Some(sha))) {
                    Ok(true) => Ok(sha),
                    // Gone meanwhile: the new blob is removed again.
                    Ok(false) => Err(None),
                    Err(e) => Err(Some(e.to_string())),
                }
            });
            match kept {
                Ok(Ok(sha)) => {
                    thumb_sha = Some(sha);
                    Ok(true)
                }
                Ok(Err(None)) => Ok(false),
                Ok(Err(Some(e))) => Err(e),
                Err(e) => Err(format!("cannot store its thumbnail: {e}")),
            }
        }
    };
    match recorded {
        Ok(true) => {
            (rec.width, rec.height, rec.thumb_sha256) = (Some(width), Some(height), thumb_sha)
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(file = %id, error = %e, "cannot record an image's size"),
    }
    rec
}

fn log_unusable(rec: &FileRecord, e: &ImageError) {
    match e {
        ImageError::Io(_) => tracing::warn!(file = %rec.id, error = %e, "cannot read an image"),
        ImageError::TooLarge(_) => {
            tracing::info!(file = %rec.id, reason = %e, "an image too large for a thumbnail");
        }
        ImageError::NotAnImage | ImageError::Invalid(_) => {
            tracing::info!(file = %rec.id, reason = %e, "an image kept as a plain file");
        }
    }
}
