//! JSON request bodies: a size limit checked before and while reading, and
//! serde errors told apart (not JSON at all vs. wrong fields).

use bytes::Buf;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use warp::{Filter, Rejection};

use crate::error::ApiError;

/// The bounds of a request body: its size and the time it may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub bytes: u64,
    pub time: std::time::Duration,
}

impl Limits {
    /// The bounds `serve` was configured with.
    pub fn of(settings: &crate::config::Settings) -> Limits {
        Limits {
            bytes: settings.body_limit,
            time: settings.body_timeout,
        }
    }
}

/// Reads a JSON body within `limits` into `T`.
///
/// A declared `Content-Length` over the limit is refused before a byte is
/// read (so a client waiting on `Expect: 100-continue` gets 413 at once);
/// a chunked body is counted as it arrives. A body still incomplete after
/// `limits.time` is 408 (and the connection is closed): a client trickling
/// bytes would otherwise hold its connection and buffer for ever.
pub fn json<T: DeserializeOwned + Send>(
    limits: Limits,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    let limit = limits.bytes;
    let time = limits.time;
    warp::header::optional::<u64>("content-length")
        .and_then(move |len: Option<u64>| async move {
            match len {
                Some(n) if n > limit => {
                    Err(warp::reject::custom(ApiError::PayloadTooLarge { limit }))
                }
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::stream())
        .and_then(move |stream| async move {
            tokio::time::timeout(time, read_limited(stream, limit))
                .await
                .map_err(|_| warp::reject::custom(ApiError::RequestTimeout))?
        })
}

async fn read_limited<T, S, B>(stream: S, limit: u64) -> Result<T, Rejection>
where
    T: DeserializeOwned,
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut stream = std::pin::pin!(stream);
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            warp::reject::custom(ApiError::InvalidJson(
                "could not read the request body".into(),
            ))
        })?;
        let chunk: &[u8] = chunk.chunk();
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(warp::reject::custom(ApiError::PayloadTooLarge { limit }));
        }
        buf.extend_from_slice(chunk);
    }
    parse::<T>(&buf).map_err(warp::reject::custom)
}

/// Parses a body: syntax errors are `invalid_json`; well-formed JSON that
/// is not an object, or has missing or mistyped fields, is
/// `validation_failed`. (serde would also accept an array in field order;
/// the contract's bodies are objects only.)
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let syntax = |e: serde_json::Error| {
        ApiError::InvalidJson(format!("request body is not valid JSON: {e}"))
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(syntax)?;
        return Err(ApiError::validation("request body must be a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Validation(e.to_string()),
        _ => syntax(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct T {
        name: String,
    }

    #[test]
    fn syntax_and_shape_errors_differ() {
        assert!(matches!(parse::<T>(b"{"), Err(ApiError::InvalidJson(_))));
        assert!(matches!(parse::<T>(b""), Err(ApiError::InvalidJson(_))));
        assert!(matches!(parse::<T>(b"{}"), Err(ApiError::Validation(_))));
        assert!(matches!(
            parse::<T>(b"{\"name\": 5}"),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(parse::<T>(b"[]"), Err(ApiError::Validation(_))));
        assert!(matches!(
            parse::<T>(b"[\"x\"]"),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            parse::<T>(b" \"x\""),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(parse::<T>(b"[1,"), Err(ApiError::InvalidJson(_))));
        assert!(parse::<T>(b"{\"name\": \"x\"}").is_ok());
    }
}
