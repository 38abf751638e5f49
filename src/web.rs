//! The web client, embedded at compile time from `static/`.
//!
//! Files are served with their type, an ETag (their SHA-256) and
//! `Cache-Control: no-cache`, so browsers revalidate cheaply and never run
//! a stale client against a newer server. They are gzip-compressed only for
//! clients that say they accept gzip (`curl` without `--compressed` gets the
//! file as it is), and every answer says `Vary: Accept-Encoding` so caches
//! keep the two forms apart.
//!
//! `sw.js`, the service worker that lets the page open while the server is
//! unreachable, is the one file not served as stored: its placeholders get
//! this build's id and the list of the client's files, so that a new build
//! is a new worker script (the browser installs it and refills its cache)
//! and the worker knows what to keep without a list kept by hand.

use std::sync::OnceLock;

use rust_embed::RustEmbed;
use warp::http::{header, HeaderValue, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::path::Tail;
use warp::{Filter, Rejection, Reply};

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

pub fn routes() -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let gzip = accepts_gzip()
        .and(files())
        .with(warp::compression::gzip())
        .map(Reply::into_response);
    let plain = files().map(Reply::into_response);
    gzip.or(plain)
        .unify()
        .map(|r| warp::reply::with_header(r, header::VARY, "Accept-Encoding"))
}

/// The embedded files, uncompressed.
fn files() -> impl Filter<Extract = (Response<Bytes>,), Error = Rejection> + Clone {
    warp::get()
        .or(warp::head())
        .unify()
        .and(warp::path::tail())
        .and(warp::header::optional::<String>("if-none-match"))
        .and_then(
            |tail: Tail, inm: Option<String>| async move { serve(tail.as_str(), inm.as_deref()) },
        )
}

/// Passes only requests whose `Accept-Encoding` allows gzip; the others
/// fall through to the uncompressed files.
fn accepts_gzip() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("accept-encoding")
        .and_then(|v: Option<String>| async move {
            if v.as_deref().is_some_and(gzip_allowed) {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
}

/// Whether an `Accept-Encoding` value allows gzip (RFC 9110 12.5.3): named
/// with a non-zero weight, or not named and `*` with a non-zero weight.
fn gzip_allowed(accept: &str) -> bool {
    let mut star = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return weight > 0.0,
            "*" => star = Some(weight > 0.0),
            _ => {}
        }
    }
    star.unwrap_or(false)
}

/// The service worker's path, and the placeholders filled in when it is served.
const WORKER: &str = "sw.js";
const BUILD_MARK: &str = "__CHATROOM_BUILD__";
const FILES_MARK: &str = "[\"__CHATROOM_FILES__\"]";

/// This build's id: a hash of every embedded file's path and content hash,
/// so it changes whenever any of them does (FNV-1a; no secret, no collision
/// attack to fear, only "did anything change").
fn build_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let mut names: Vec<_> = Assets::iter().collect();
        names.sort();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for name in names {
            let hash = Assets::get(&name).map(|f| f.metadata.sha256_hash());
            let bytes = name.as_bytes().iter().chain(hash.iter().flatten());
            for b in bytes.chain(std::iter::once(&0u8)) {
                h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        format!("{h:016x}")
    })
}

/// The worker script of this build: placeholders replaced by the build id
/// and a JSON array of the client's files (the worker itself left out).
fn worker_script(raw: &[u8]) -> Vec<u8> {
    let files: Vec<String> = Assets::iter()
        .filter(|n| n != WORKER)
        .map(|n| n.into_owned())
        .collect();
    let list = serde_json::to_string(&files).unwrap_or_else(|_| "[]".into());
    String::from_utf8_lossy(raw)
        .replace(BUILD_MARK, build_id())
        .replace(FILES_MARK, &list)
        .into_bytes()
}

fn serve(path: &str, if_none_match: Option<&str>) -> Result<Response<Bytes>, Rejection> {
    let path = if path.is_empty() { "index.html" } else { path };
    let file = Assets::get(path).ok_or_else(warp::reject::not_found)?;
    let tag = if path == WORKER {
        build_id().to_owned()
    } else {
        file.metadata
            .sha256_hash()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let etag = format!("\"{tag}\"");
    let mime = file.metadata.mimetype();
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_str(mime)
                .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
    let body = if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        Bytes::new()
    } else if path == WORKER {
        Bytes::from(worker_script(&file.data))
    } else {
        Bytes::from(file.data.into_owned())
    };
    builder.body(body).map_err(|_| warp::reject::not_found())
}

#[cfg(test)]
mod tests {
    use super::gzip_allowed;

    #[test]
    fn gzip_only_when_accepted() {
        assert!(gzip_allowed("gzip"));
        assert!(gzip_allowed("gzip, deflate, br"));
        assert!(gzip_allowed("br;q=1.0, GZIP;q=0.5"));
        assert!(gzip_allowed("*"));
        assert!(!gzip_allowed(""));
        assert!(!gzip_allowed("identity"));
        assert!(!gzip_allowed("br, deflate"));
        assert!(!gzip_allowed("gzip;q=0"));
        assert!(!gzip_allowed("gzip; q=0.000"));
        assert!(!gzip_allowed("*;q=0"));
        assert!(!gzip_allowed("gzip;q=0, *"));
    }
}
