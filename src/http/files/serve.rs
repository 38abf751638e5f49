//! `GET /api/files/{fileId}` and `GET /api/files/{fileId}/thumbnail`: a
//! file's bytes, streamed from its blob (never read whole into memory),
//! to a caller who can see its room, with a bearer token or a signed link.
//!
//! Every answer is safe to open in the page's origin: the type is the one
//! recognised from the bytes, `Content-Disposition` makes all but images,
//! audio and video a download, `nosniff` keeps the browser from guessing
//! better, and `Content-Security-Policy: sandbox` takes scripts and the
//! origin away from whatever a browser shows anyway.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use warp::http::header::{self, HeaderMap, HeaderValue};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::range::{names_etag, requested, Part};
use super::visible_file;
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::files::links::{unix_now, LinkQuery};
use crate::files::{kind, name, Sha256};
use crate::http::{reply, with_app};
use crate::model::FileId;

/// How long a browser may keep a file: its bytes never change (the URL
/// names them), but access can end, so not for long, and only for the
/// one user (`private`).
const CACHE_CONTROL: &str = "private, max-age=3600, immutable";

/// The policy of every file answer, in place of the page's.
const FILE_CSP: &str = "sandbox";

/// Bytes read from the blob at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Which of a file's blobs a request wants.
#[derive(Clone, Copy)]
enum Which {
    Original,
    Thumbnail,
}

pub fn routes(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let request = warp::get()
        .and(with_app(app))
        .and(warp::header::headers_cloned())
        .and(warp::query::<LinkQuery>());
    let original = warp::path!("files" / String).and(request.clone()).and_then(
        |id: String, app, headers, link| async move {
            reply(serve(app, &id, headers, link, Which::Original).await)
        },
    );
    let thumbnail = warp::path!("files" / String / "thumbnail")
        .and(request)
        .and_then(|id: String, app, headers, link| async move {
            reply(serve(app, &id, headers, link, Which::Thumbnail).await)
        });
    original.or(thumbnail)
}

/// The caller: the bearer token when there is one, else the signed link
/// (a link for another user or file, expired or altered is 401).
async fn viewer(
    app: &App,
    headers: &HeaderMap,
    link: &LinkQuery,
    id: &str,
) -> Result<AuthUser, ApiError> {
    let bearer = headers.get(header::AUTHORIZATION);
    if bearer.is_some() || !link.is_present() {
        let bearer = bearer
            .map(|v| v.to_str().map_err(|_| ApiError::Unauthorized))
            .transpose()?;
        return app.authenticate_header(bearer).await;
    }
    let file: FileId = id.parse().map_err(|_| ApiError::Unauthorized)?;
    let user = app
        .file_links
        .verify(link, file, unix_now())
        .ok_or(ApiError::Unauthorized)?;
    let rec = app
        .read(move |store| Ok(store.user(user)?))
        .await?
        .filter(|rec| !rec.disabled)
        .ok_or(ApiError::Unauthorized)?;
    Ok(AuthUser {
        id: user,
        username: rec.username,
        role: rec.role,
        token_version: rec.token_version,
    })
}

async fn serve(
    app: App,
    id: &str,
    headers: HeaderMap,
    link: LinkQuery,
    which: Which,
) -> Result<Response, ApiError> {
    let user = viewer(&app, &headers, &link, id).await?;
    let rec = visible_file(&app, &user, id).await?;
    let (sha, content_type) = match which {
        Which::Original => (rec.sha256, rec.content_type.clone()),
        Which::Thumbnail => {
            let sha = rec.thumb_sha256.ok_or(ApiError::NotFound)?;
            (sha, thumbnail_type(&app, &sha).await?)
        }
    };
    let mut file = app.blobs.open_read(&sha).await.map_err(|e| {
        ApiError::Internal(format!(
            "the blob {sha} of file {} is unreadable: {e}",
            rec.id
        ))
    })?;
    let size = file
        .metadata()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .len();
    let etag = format!("\"{sha}\"");
    let text = |name: &header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let mut res = if text(&header::IF_NONE_MATCH).is_some_and(|v| names_etag(v, &etag)) {
        let mut res = Response::new(Bytes::new().into());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        let stale = text(&header::IF_RANGE).is_some_and(|v| v.trim() != etag);
        let part = if stale {
            Part::Whole
        } else {
            requested(text(&header::RANGE), size)
        };
        let (start, end, status) = match part {
            Part::Whole => (0, size.saturating_sub(1), StatusCode::OK),
            Part::Range { start, end } => (start, end, StatusCode::PARTIAL_CONTENT),
            Part::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
        };
        let len = if size == 0 { 0 } else { end - start + 1 };
        file.seek(io::SeekFrom::Start(start))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut res = warp::reply::stream(chunks(file, len)).into_response();
        *res.status_mut() = status;
        let h = res.headers_mut();
        set(h, header::CONTENT_LENGTH, &len.to_string());
        if status == StatusCode::PARTIAL_CONTENT {
            set(
                h,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{size}"),
            );
        }
        res
    };
    let h = res.headers_mut();
    let served = if content_type == kind::TEXT_PLAIN {
        "text/plain; charset=utf-8"
    } else {
        &content_type
    };
    set(h, header::CONTENT_TYPE, served);
    let inline = kind::is_inline(&content_type);
    set(
        h,
        header::CONTENT_DISPOSITION,
        &name::content_disposition(inline, &rec.name),
    );
    set(h, header::ETAG, &etag);
    set(h, header::CACHE_CONTROL, CACHE_CONTROL);
    set(h, header::ACCEPT_RANGES, "bytes");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::CONTENT_SECURITY_POLICY, FILE_CSP);
    Ok(res)
}

/// Sets a header whose value we built; one that is not a valid value
/// (never: names are percent-encoded) is left out rather than failing.
fn set(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// A thumbnail's type, from its first bytes (it is made by the server, as
/// WebP or JPEG).
async fn thumbnail_type(app: &App, sha: &Sha256) -> Result<String, ApiError> {
    let mut file = app
        .blobs
        .open_read(sha)
        .await
        .map_err(|e| ApiError::Internal(format!("the thumbnail {sha} is unreadable: {e}")))?;
    let mut head = [0u8; 64];
    let n = file
        .read(&mut head)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(kind::sniff(&head[..n], n < head.len()).to_owned())
}

/// The next `len` bytes of `file`, a bounded chunk at a time.
fn chunks(
    file: tokio::fs::File,
    len: u64,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + Sync + 'static {
    futures_util::stream::try_unfold((file, len), |(mut file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; READ_CHUNK.min(usize::try_from(left).unwrap_or(READ_CHUNK))];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the blob is shorter than it was",
            ));
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), (file, left - n as u64))))
    })
}
