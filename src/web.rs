//! The web client, embedded at compile time from `static/`.
//!
//! Files are served with their type, an ETag (their SHA-256) and
//! `Cache-Control: no-cache`, so browsers revalidate cheaply and never run
//! a stale client against a newer server; text is gzip-compressed.

use rust_embed::RustEmbed;
use warp::http::{header, HeaderValue, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::path::Tail;
use warp::{Filter, Rejection, Reply};

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

pub fn routes() -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::get()
        .or(warp::head())
        .unify()
        .and(warp::path::tail())
        .and(warp::header::optional::<String>("if-none-match"))
        .and_then(
            |tail: Tail, inm: Option<String>| async move { serve(tail.as_str(), inm.as_deref()) },
        )
        .with(warp::compression::gzip())
}

fn serve(path: &str, if_none_match: Option<&str>) -> Result<Response<Bytes>, Rejection> {
    let path = if path.is_empty() { "index.html" } else { path };
    let file = Assets::get(path).ok_or_else(warp::reject::not_found)?;
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
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
    } else {
        Bytes::from(file.data.into_owned())
    };
    builder.body(body).map_err(|_| warp::reject::not_found())
}
