//! `POST /api/rooms/{roomId}/files`: one file, as the raw body (its name
//! in `X-Filename`, percent-encoded) or as the one file part of a
//! `multipart/form-data` body (what a browser's `FormData` sends).
//!
//! The bytes go to disk as they arrive ([`crate::files::blobs`]): memory
//! does not grow with the file. A declared length over the limit or the
//! quota is refused before a byte is read; a body without one is counted
//! as it comes. The time allowed grows with the size (see
//! [`time_allowed`]), and a pause longer than the body timeout ends it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use warp::http::header::{self, HeaderMap};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::FileInfo;
use crate::app::{App, AuthUser};
use crate::error::ApiError;
use crate::files::blobs::{Finished, Upload, HEAD_BYTES};
use crate::files::{kind, name};
use crate::http::{caller, reply};
use crate::store::{FileCreated, NewFile};

/// Slowest sustained upload rate a file is given time for, in bytes a
/// second: a 25 MiB file may take seven minutes (plus the body timeout).
const MIN_UPLOAD_RATE: u64 = 64 * 1024;

/// What a multipart body may hold besides the file's bytes (boundaries,
/// part headers, small fields before the file): a declared length is
/// refused only beyond the file limit plus this.
const MULTIPART_SLACK: u64 = 64 * 1024;

/// The request header that names a raw upload.
const FILENAME_HEADER: &str = "x-filename";

/// A chunk of the body as it arrives.
type Chunk = Result<Bytes, warp::Error>;

pub fn route(app: App) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("rooms" / String / "files")
        .and(warp::post())
        .and(caller(app))
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and_then(|room: String, app, user, headers, body| async move {
            reply(upload(app, user, &room, headers, boxed(body)).await)
        })
}

/// The body as a stream of [`Bytes`] (no copy: warp's chunks are `Bytes`).
fn boxed<S, B>(body: S) -> Pin<Box<dyn Stream<Item = Chunk> + Send>>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    Box::pin(body.map(|c| c.map(|mut b| b.copy_to_bytes(b.remaining()))))
}

/// Time an upload of `len` bytes may take: the body timeout, plus the
/// time to send `len` bytes at [`MIN_UPLOAD_RATE`].
pub fn time_allowed(body_timeout: Duration, len: u64) -> Duration {
    body_timeout + Duration::from_secs(len / MIN_UPLOAD_RATE)
}

async fn upload(
    app: App,
    user: AuthUser,
    room: &str,
    headers: HeaderMap,
    body: Pin<Box<dyn Stream<Item = Chunk> + Send>>,
) -> Result<impl Reply, ApiError> {
    let room = app.visible_room(&user, room).await?.id;
    let limits = app.settings.uploads;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        })
        .map(|ct| {
            multer::parse_boundary(ct).map_err(|_| {
                ApiError::validation("a multipart body needs multipart/form-data with a boundary")
            })
        })
        .transpose()?;
    let slack = if boundary.is_some() {
        MULTIPART_SLACK
    } else {
        0
    };
    if declared.is_some_and(|n| n > limits.max_file + slack) {
        return Err(ApiError::FileTooLarge {
            limit: limits.max_file,
        });
    }
    let uploader = user.id;
    let used = app
        .read(move |store| Ok(store.file_usage(uploader)?))
        .await?;
    let room_left = limits.quota.map(|q| q.saturating_sub(used));
    if room_left.is_some_and(|left| declared.is_some_and(|n| n.saturating_sub(slack) > left)) {
        return Err(over_quota());
    }
    let named = match headers.get(FILENAME_HEADER) {
        None => None,
        Some(v) => Some(filename_header(v.as_bytes())?),
    };
    // Counted once the checks that read nothing passed: each upload that
    // follows writes a file and flushes a record, whatever its outcome.
    app.write_limits
        .upload(uploader)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let sink = Sink {
        upload: app
            .blobs
            .upload()
            .await
            .map_err(|e| ApiError::Internal(format!("cannot start an upload: {e}")))?,
        max_file: limits.max_file,
        room_left,
    };
    let deadline = time_allowed(
        app.settings.body_timeout,
        declared.unwrap_or(limits.max_file + slack),
    );
    let gap = app.settings.body_timeout;
    let received = async {
        match boundary {
            None => {
                let name = named.ok_or_else(|| {
                    ApiError::validation("a raw upload names its file in X-Filename")
                })?;
                Ok((name, raw(sink, body, gap).await?))
            }
            Some(b) => multipart(sink, body, &b, named, gap).await,
        }
    };
    let (name, done) = tokio::time::timeout(deadline, received)
        .await
        .map_err(|_| ApiError::RequestTimeout)??;
    let content_type = kind::sniff(&done.head, done.size <= HEAD_BYTES as u64).to_owned();
    let new = NewFile {
        room_id: room,
        uploader_id: uploader,
        name,
        size: done.size,
        content_type,
        sha256: done.sha256,
    };
    let record = keep(&app, done, new).await?;
    let record = super::preview::add(&app, record).await;
    let body = serde_json::to_vec(&FileInfo::of(&record))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(warp::reply::with_status(
        warp::reply::with_header(body, header::CONTENT_TYPE, "application/json"),
        StatusCode::CREATED,
    ))
}

/// Puts the blob in place and records the file (flushed) under the blob's
/// lock, on the blocking pool; the quota is checked again, atomically with
/// the count, in the record's transaction.
async fn keep(
    app: &App,
    done: Finished,
    new: NewFile,
) -> Result<crate::store::FileRecord, ApiError> {
    let (store, blobs) = (app.store.clone(), app.blobs.clone());
    let quota = app.settings.uploads.quota;
    tokio::task::spawn_blocking(move || {
        blobs.keep(done, || {
            store.change(|s| match s.create_file(new, quota)? {
                FileCreated::Created(rec) => Ok(rec),
                FileCreated::OverQuota => Err(over_quota()),
            })
        })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("file task: {e}")))?
    .map_err(|e| ApiError::Internal(format!("cannot store the file: {e}")))?
}

fn over_quota() -> ApiError {
    ApiError::QuotaExceeded("this file would take your uploads past your quota")
}

/// The name of `X-Filename`: percent-decoded UTF-8, cleaned.
fn filename_header(raw: &[u8]) -> Result<String, ApiError> {
    let decoded = percent_encoding::percent_decode(raw)
        .decode_utf8()
        .map_err(|_| ApiError::validation("X-Filename must be percent-encoded UTF-8"))?;
    name::clean(&decoded).map_err(ApiError::Validation)
}

/// Where the bytes go, with the limits they are held to as they come.
struct Sink {
    upload: Upload,
    max_file: u64,
    room_left: Option<u64>,
}

impl Sink {
    async fn take(&mut self, data: &[u8]) -> Result<(), ApiError> {
        let total = self.upload.size() + data.len() as u64;
        if total > self.max_file {
            return Err(ApiError::FileTooLarge {
                limit: self.max_file,
            });
        }
        if self.room_left.is_some_and(|left| total > left) {
            return Err(over_quota());
        }
        self.upload
            .write(data)
            .await
            .map_err(|e| ApiError::Internal(format!("cannot write an upload: {e}")))
    }

    async fn finish(self) -> Result<Finished, ApiError> {
        self.upload
            .finish()
            .await
            .map_err(|e| ApiError::Internal(format!("cannot finish an upload: {e}")))
    }
}

/// The next item of `next`, or 408 when none comes within `gap`.
async fn within<T>(
    gap: Duration,
    next: impl std::future::Future<Output = T>,
) -> Result<T, ApiError> {
    tokio::time::timeout(gap, next)
        .await
        .map_err(|_| ApiError::RequestTimeout)
}

fn unreadable() -> ApiError {
    ApiError::validation("could not read the request body")
}

/// A raw body: every byte is the file's.
async fn raw(
    mut sink: Sink,
    mut body: Pin<Box<dyn Stream<Item = Chunk> + Send>>,
    gap: Duration,
) -> Result<Finished, ApiError> {
    while let Some(chunk) = within(gap, body.next()).await? {
        sink.take(&chunk.map_err(|_| unreadable())?).await?;
    }
    sink.finish().await
}

/// A multipart body: the first part with a file name is the file (parts
/// before it are skipped, within [`MULTIPART_SLACK`]); nothing may follow
/// it. `X-Filename`, when given, names the file in place of its part.
async fn multipart(
    mut sink: Sink,
    body: Pin<Box<dyn Stream<Item = Chunk> + Send>>,
    boundary: &str,
    named: Option<String>,
    gap: Duration,
) -> Result<(String, Finished), ApiError> {
    let paced = Paced::new(body);
    let budget = paced.budget.clone();
    let max_file = sink.max_file;
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(max_file + MULTIPART_SLACK));
    let mut form = multer::Multipart::with_constraints(paced, boundary, constraints);
    let broken = |e: multer::Error| match e {
        multer::Error::StreamSizeExceeded { .. } => ApiError::FileTooLarge { limit: max_file },
        other => ApiError::validation(format!("not a usable multipart body: {other}")),
    };
    budget.store(MULTIPART_SLACK, Ordering::Relaxed);
    let mut field = loop {
        let Some(field) = within(gap, form.next_field()).await?.map_err(broken)? else {
            return Err(ApiError::validation(
                "the multipart body holds no file part",
            ));
        };
        if field.file_name().is_some() {
            break field;
        }
    };
    budget.store(UNLIMITED, Ordering::Relaxed);
    let name = match named {
        Some(n) => n,
        None => name::clean(field.file_name().unwrap_or_default()).map_err(ApiError::Validation)?,
    };
    while let Some(chunk) = within(gap, field.chunk()).await?.map_err(broken)? {
        sink.take(&chunk).await?;
    }
    drop(field);
    budget.store(MULTIPART_SLACK, Ordering::Relaxed);
    if within(gap, form.next_field())
        .await?
        .map_err(broken)?
        .is_some()
    {
        return Err(ApiError::validation(
            "a multipart upload holds one file part only",
        ));
    }
    Ok((name, sink.finish().await?))
}

/// A budget that is never used up.
const UNLIMITED: u64 = u64::MAX;

/// The body as multer reads it: one chunk per poll (multer takes every
/// chunk that is ready before it parses, so without this a fast client
/// would fill its buffer with the whole file), and no more than `budget`
/// bytes (and the chunk that crosses it) while the parser is not inside
/// the file part (its buffer grows until a part's headers end).
struct Paced {
    inner: Pin<Box<dyn Stream<Item = Chunk> + Send>>,
    yielded: bool,
    budget: Arc<AtomicU64>,
}

impl Paced {
    fn new(inner: Pin<Box<dyn Stream<Item = Chunk> + Send>>) -> Paced {
        Paced {
            inner,
            yielded: false,
            budget: Arc::new(AtomicU64::new(UNLIMITED)),
        }
    }
}

/// Why the body was cut short for multer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Cut(&'static str);

impl Stream for Paced {
    type Item = Result<Bytes, Cut>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.yielded {
            self.yielded = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let chunk = match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(_))) => {
                return Poll::Ready(Some(Err(Cut("could not read the request body"))))
            }
            Poll::Ready(Some(Ok(chunk))) => chunk,
        };
        // A chunk is let through while some budget is left, so one that
        // holds both a part's headers and its first bytes passes.
        let left = self.budget.load(Ordering::Relaxed);
        if left == 0 {
            return Poll::Ready(Some(Err(Cut("too much outside the file part"))));
        }
        if left != UNLIMITED {
            let len = chunk.len() as u64;
            self.budget
                .store(left.saturating_sub(len), Ordering::Relaxed);
        }
        self.yielded = true;
        Poll::Ready(Some(Ok(chunk)))
    }
}
