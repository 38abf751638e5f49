//! One push request: encrypt the payload for the subscription (RFC 8291,
//! by web-push-native), sign for the push service (VAPID), POST it over
//! HTTPS within the timeouts, and say what the answer means.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, AUTHORIZATION};
use hyper::{Request, StatusCode};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use web_push_native::WebPushBuilder;

use super::public_addr::PublicResolver;
use super::send::{ReadyJob, SenderConfig, StartError};
use super::send_vapid::Vapid;

/// At most this much of an error answer is read, for the log line.
const ERROR_BODY_LIMIT: usize = 1024;

/// What a push service's answer means for the subscription.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Accepted (2xx): the browser gets it when it is next online.
    Sent,
    /// 404 or 410: the subscription expired or was withdrawn.
    Gone,
    /// Any other answer, with what the push service said about it.
    Refused(StatusCode, String),
    /// No answer: unreachable, broken connection, or the timeout.
    Failed(String),
}

/// Sorts a status into what the sender does about it. No status is
/// retried: a push service asking to slow down (429) or failing (5xx) is
/// not helped by more requests, and a notification late is worth little.
pub(crate) fn outcome_of(status: StatusCode, body: String) -> Outcome {
    match status.as_u16() {
        200..=299 => Outcome::Sent,
        404 | 410 => Outcome::Gone,
        _ => Outcome::Refused(status, body),
    }
}

/// The HTTPS client and the VAPID identity every request uses.
pub(crate) struct Delivery {
    client: Client<HttpsConnector<HttpConnector<PublicResolver>>, Full<Bytes>>,
    vapid: Vapid,
    request_timeout: Duration,
}

impl Delivery {
    /// A client on rustls with the `ring` provider and the Mozilla roots,
    /// which connects to public addresses only, and speaks `http:` (to
    /// any address) only when `config.allow_http` (tests).
    pub(crate) fn new(config: &SenderConfig, vapid: Vapid) -> Result<Delivery, StartError> {
        let mut tcp = HttpConnector::new_with_resolver(PublicResolver {
            any: config.allow_http,
        });
        tcp.set_connect_timeout(Some(config.connect_timeout));
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let tls = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| StartError::Tls(e.to_string()))?;
        let schemes = if config.allow_http {
            tls.https_or_http()
        } else {
            tls.https_only()
        };
        let connector = schemes.enable_http1().wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(config.workers.max(1))
            .build(connector);
        Ok(Delivery {
            client,
            vapid,
            request_timeout: config.request_timeout,
        })
    }

    /// Sends `job` and reads the answer, all within the request timeout.
    pub(crate) async fn deliver(&self, job: &ReadyJob) -> Outcome {
        let request = match self.request(job) {
            Ok(request) => request.map(|body| Full::new(Bytes::from(body))),
            Err(e) => return Outcome::Failed(e),
        };
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| error_chain(&e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(Outcome::Sent);
            }
            let body = match Limited::new(response.into_body(), ERROR_BODY_LIMIT)
                .collect()
                .await
            {
                Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
                Err(_) => String::new(),
            };
            Ok(outcome_of(status, body))
        };
        match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Outcome::Failed(e),
            Err(_) => Outcome::Failed(format!(
                "no answer within {} ms",
                self.request_timeout.as_millis()
            )),
        }
    }

    /// The encrypted, signed request with its `TTL` and `Urgency`.
    fn request(&self, job: &ReadyJob) -> Result<Request<Vec<u8>>, String> {
        let mut request = WebPushBuilder::new(job.endpoint.clone(), job.ua_public, job.auth)
            .with_valid_duration(job.ttl)
            .build(job.payload.clone())
            .map_err(|e| format!("cannot encrypt: {e}"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let authorization = self.vapid.authorization(&job.endpoint, now)?;
        let headers = request.headers_mut();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&authorization).map_err(|e| e.to_string())?,
        );
        headers.insert("urgency", HeaderValue::from_static(job.urgency.as_str()));
        Ok(request)
    }
}

/// An error with its causes, which hyper keeps apart ("client error
/// (Connect)" alone does not say the address was refused).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_gone_and_the_rest() {
        let s = |code| StatusCode::from_u16(code).expect("status");
        assert_eq!(outcome_of(s(201), String::new()), Outcome::Sent);
        assert_eq!(outcome_of(s(202), String::new()), Outcome::Sent);
        assert_eq!(outcome_of(s(404), String::new()), Outcome::Gone);
        assert_eq!(outcome_of(s(410), String::new()), Outcome::Gone);
        for code in [400, 403, 413, 429, 500, 503] {
            assert!(matches!(
                outcome_of(s(code), String::new()),
                Outcome::Refused(..)
            ));
        }
    }
}
