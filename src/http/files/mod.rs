//! Files (additions to the contract, documented in
//! docs/protocol-additions.md): `POST /api/rooms/{roomId}/files` uploads
//! one ([`upload`]), `GET /api/files/{fileId}` and its `/thumbnail` serve
//! one ([`serve`]), `POST /api/files/links` signs links that fetch them
//! without a token (for `<img>` and `<video>`).

pub mod preview;
mod range;
mod serve;
mod upload;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use warp::{Filter, Rejection, Reply};

use super::{body, caller, reply};
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::files::links::{unix_now, LINK_LIFETIME};
use crate::files::Sha256;
use crate::model::FileId;
use crate::store::FileRecord;

/// Most files one `POST /api/files/links` may ask for.
const MAX_LINKS: usize = 100;

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let links = warp::path!("files" / "links")
        .and(warp::post())
        .and(caller(app.clone()))
        .and(body::json::<LinksBody>(body::Limits::of(&app.settings)))
        .and_then(|app, user, b| async move { reply(links(app, user, b).await) });
    upload::route(app.clone()).or(links).or(serve::routes(app))
}

/// A file as the upload answers it and a message lists it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo<'a> {
    pub id: FileId,
    pub name: &'a str,
    pub size: u64,
    #[serde(rename = "type")]
    pub content_type: &'a str,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl<'a> FileInfo<'a> {
    pub fn of(rec: &'a FileRecord) -> FileInfo<'a> {
        FileInfo {
            id: rec.id,
            name: &rec.name,
            size: rec.size,
            content_type: &rec.content_type,
            sha256: rec.sha256.to_string(),
            width: rec.width,
            height: rec.height,
        }
    }
}

/// The record of a file `user` may see: one of a room the user can see
/// now (the rules of `App::visible_room`); `not_found` otherwise, never
/// `forbidden`, so that a file's existence is not revealed.
pub async fn visible_file(app: &App, user: &AuthUser, id: &str) -> Result<FileRecord, ApiError> {
    let id: FileId = id.parse().map_err(|_| ApiError::NotFound)?;
    let rec = app
        .read(move |store| store.file(id)?.ok_or(ApiError::NotFound))
        .await?;
    app.visible_room(user, &rec.room_id.to_string()).await?;
    Ok(rec)
}

/// Removes from disk the blobs among `candidates` that no record refers
/// to any more, once the change that dropped them is durable (a room's
/// deletion). Blocking work, on the blocking pool; a crash before it
/// leaves blobs nothing refers to, which waste space only.
pub async fn remove_blobs(app: &App, candidates: Vec<Sha256>) {
    if candidates.is_empty() {
        return;
    }
    let (store, blobs) = (app.store.clone(), app.blobs.clone());
    let removed = tokio::task::spawn_blocking(move || {
        blobs.remove_unreferenced(&candidates, |sha| store.blob_referenced(sha));
    })
    .await;
    if let Err(e) = removed {
        tracing::warn!(error = %e, "removing unused files failed");
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinksBody {
    ids: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Link {
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_url: Option<String>,
}

/// Signed links, valid for [`LINK_LIFETIME`], to the files of `ids` the
/// caller can see; the others are left out, as if they did not exist.
async fn links(app: App, user: AuthUser, b: LinksBody) -> Result<impl Reply, ApiError> {
    if b.ids.len() > MAX_LINKS {
        return Err(ApiError::validation(format!(
            "at most {MAX_LINKS} files a request"
        )));
    }
    let exp = unix_now() + LINK_LIFETIME;
    let mut out = BTreeMap::new();
    for id in b.ids {
        let rec = match visible_file(&app, &user, &id).await {
            Ok(rec) => rec,
            Err(ApiError::NotFound) => continue,
            Err(e) => return Err(e),
        };
        let query = app.file_links.query(user.id, rec.id, exp);
        let link = Link {
            url: format!("/api/files/{}?{query}", rec.id),
            thumbnail_url: rec
                .thumb_sha256
                .map(|_| format!("/api/files/{}/thumbnail?{query}", rec.id)),
        };
        out.insert(rec.id.to_string(), link);
    }
    Ok(warp::reply::json(&serde_json::json!({ "links": out })))
}
