//! The Web Push sender: hands notifications to the browsers' push services
//! without ever making its caller wait for one.
//!
//! [`PushSender::try_send`] checks a notification, puts it in a bounded
//! queue and returns; a small pool of tasks encrypts, signs and posts the
//! queued ones (`send_request`), within timeouts. A full queue drops and
//! counts; an endpoint answered 404 or 410 is handed to the caller's
//! `on_gone`, so that it can delete the subscription.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hyper::Uri;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use super::queue::PushStats;
use super::queue::{self, Counters, LogEvery, Pool, LOG_EVERY};
use super::send_request::{Delivery, Outcome};
use super::send_vapid::{origin, Vapid};

/// Largest payload before encryption: what every push service accepts
/// (4096 bytes on the wire, less the encryption's header and tag).
pub const MAX_PAYLOAD: usize = 3 * 1024;

/// Time-to-live when the caller has no better idea: a notification older
/// than a day is news no more.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How soon the push service should wake the device for it (RFC 8030 5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    /// Direct messages and mentions: deliver now, even on a sleeping phone.
    High,
    /// The rest: the push service may wait for a better moment.
    Normal,
}

impl Urgency {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Urgency::High => "high",
            Urgency::Normal => "normal",
        }
    }
}

/// One notification for one subscription, as the browser gave it.
#[derive(Clone, Debug)]
pub struct PushJob {
    /// The push resource URL (`https:`).
    pub endpoint: String,
    /// The subscription's P-256 public key, base64url.
    pub p256dh: String,
    /// The subscription's 16-byte authentication secret, base64url.
    pub auth: String,
    /// What the service worker receives, at most [`MAX_PAYLOAD`] bytes.
    pub payload: Vec<u8>,
    pub urgency: Urgency,
    /// How long the push service keeps it for a device that is offline.
    pub ttl: Duration,
}

impl PushJob {
    /// A job of normal urgency kept for [`DEFAULT_TTL`].
    pub fn new(endpoint: &str, p256dh: &str, auth: &str, payload: Vec<u8>) -> PushJob {
        PushJob {
            endpoint: endpoint.to_string(),
            p256dh: p256dh.to_string(),
            auth: auth.to_string(),
            payload,
            urgency: Urgency::Normal,
            ttl: DEFAULT_TTL,
        }
    }
}

/// A job checked and decoded, ready to encrypt.
pub(crate) struct ReadyJob {
    pub(crate) endpoint: Uri,
    pub(crate) endpoint_text: String,
    pub(crate) ua_public: p256::PublicKey,
    pub(crate) auth: web_push_native::Auth,
    pub(crate) payload: Vec<u8>,
    pub(crate) urgency: Urgency,
    pub(crate) ttl: Duration,
}

/// Why [`PushSender::try_send`] did not take a job.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    #[error("payload of {0} bytes is over the {MAX_PAYLOAD}-byte limit")]
    TooLarge(usize),
    #[error("endpoint is not an absolute https URL")]
    BadEndpoint,
    #[error("http endpoints are not allowed")]
    HttpNotAllowed,
    #[error("endpoint names a private or local address")]
    PrivateAddress,
    #[error("p256dh is not a base64url P-256 public key")]
    BadP256dh,
    #[error("auth is not a base64url 16-byte secret")]
    BadAuth,
    #[error("the push queue is full; the notification was dropped")]
    QueueFull,
    #[error("the push sender has stopped")]
    Stopped,
}

/// Why a sender could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the VAPID subject must be a mailto: or https: URI, not {0:?}")]
    Subject(String),
    #[error("unusable VAPID key: {0}")]
    Key(String),
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// The sender's settings; [`SenderConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// The operator's contact in every VAPID token (`mailto:` or `https:`).
    pub subject: String,
    /// Jobs waiting for a free request slot; more are dropped.
    pub queue: usize,
    /// Requests in flight at once.
    pub workers: usize,
    /// Longest wait for a TCP connection to a push service.
    pub connect_timeout: Duration,
    /// Longest a whole request may take: connection, TLS, answer.
    pub request_timeout: Duration,
    /// At shutdown, how long requests in flight may take to finish.
    pub shutdown_grace: Duration,
    /// Accept `http:` endpoints: for tests with a local push service only.
    pub allow_http: bool,
}

impl SenderConfig {
    pub fn new(subject: &str) -> SenderConfig {
        SenderConfig {
            subject: subject.to_string(),
            queue: 1024,
            workers: 4,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(2),
            allow_http: false,
        }
    }
}

/// The handle to the running sender; cheap to clone.
#[derive(Clone)]
pub struct PushSender(Arc<Inner>);

struct Inner {
    jobs: mpsc::Sender<ReadyJob>,
    allow_http: bool,
    counters: Arc<Counters>,
    /// Rate limit of the "queue full" warning.
    full_warning: LogEvery,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
    shutdown_bound: Duration,
}

impl PushSender {
    /// Starts the pool (on the current tokio runtime) with the server's
    /// VAPID key. `on_gone` gets each endpoint a push service answered 404
    /// or 410; it runs on a pool task, so it should only hand the endpoint
    /// on (to a channel or a spawned task), not wait.
    pub fn start(
        vapid_key: &p256::SecretKey,
        config: SenderConfig,
        on_gone: impl Fn(String) + Send + Sync + 'static,
    ) -> Result<PushSender, StartError> {
        let vapid = Vapid::new(vapid_key, &config.subject)?;
        let delivery = Arc::new(Delivery::new(&config, vapid)?);
        let (jobs, queued) = mpsc::channel(config.queue.max(1));
        let counters = Arc::new(Counters::default());
        let stop = CancellationToken::new();
        let on_gone = Arc::new(on_gone);
        let failures = Arc::new(LogEvery::new(LOG_EVERY));
        let c = counters.clone();
        let handle = move |job: ReadyJob| {
            let (delivery, counters) = (delivery.clone(), c.clone());
            let (on_gone, failures) = (on_gone.clone(), failures.clone());
            async move {
                let outcome = delivery.deliver(&job).await;
                report(&job, outcome, &counters, &failures, on_gone.as_ref());
            }
        };
        let pool = Pool {
            workers: config.workers,
            grace: config.shutdown_grace,
        };
        let task = tokio::spawn(queue::run(
            queued,
            pool,
            stop.clone(),
            counters.clone(),
            handle,
        ));
        Ok(PushSender(Arc::new(Inner {
            jobs,
            allow_http: config.allow_http,
            counters,
            full_warning: LogEvery::new(LOG_EVERY),
            stop,
            task: Mutex::new(Some(task)),
            shutdown_bound: config.shutdown_grace + Duration::from_secs(1),
        })))
    }

    /// Checks `job` and queues it; never waits. A full queue drops it
    /// (counted in [`PushStats::dropped`]) and says so.
    pub fn try_send(&self, job: PushJob) -> Result<(), SendError> {
        let ready = check(job, self.0.allow_http)?;
        match self.0.jobs.try_send(ready) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                let dropped = Counters::add(&self.0.counters.dropped);
                if let Some(held) = self.0.full_warning.allow() {
                    tracing::warn!(
                        dropped_total = dropped,
                        dropped_since_last_warning = held + 1,
                        "push queue full: notifications dropped (push services slow or unreachable?)"
                    );
                }
                Err(SendError::QueueFull)
            }
            Err(TrySendError::Closed(_)) => Err(SendError::Stopped),
        }
    }

    /// What became of the notifications so far.
    pub fn stats(&self) -> PushStats {
        self.0.counters.snapshot()
    }

    /// Stops taking jobs, drops those queued, gives those in flight the
    /// shutdown grace, and returns within about that bound.
    pub async fn shutdown(&self) {
        self.0.stop.cancel();
        let task = self.0.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(self.0.shutdown_bound, task)
                .await
                .is_err()
            {
                abort.abort();
            }
            let s = self.stats();
            tracing::info!(
                sent = s.sent,
                gone = s.gone,
                failed = s.failed,
                dropped = s.dropped,
                "push sender stopped"
            );
        }
    }
}

/// Counts the outcome, reports a gone endpoint, and logs a failure when
/// the last such line is a minute old.
fn report(
    job: &ReadyJob,
    outcome: Outcome,
    counters: &Counters,
    failures: &LogEvery,
    on_gone: &(dyn Fn(String) + Send + Sync),
) {
    let service = origin(&job.endpoint).unwrap_or_default();
    match outcome {
        Outcome::Sent => {
            Counters::add(&counters.sent);
        }
        Outcome::Gone => {
            Counters::add(&counters.gone);
            tracing::debug!(%service, "push subscription gone");
            on_gone(job.endpoint_text.clone());
        }
        Outcome::Refused(status, body) => {
            let failed = Counters::add(&counters.failed);
            if let Some(held) = failures.allow() {
                tracing::warn!(%service, status = status.as_u16(), answer = %body.trim(),
                    failed_total = failed, held_back = held, "push service refused a notification");
            }
        }
        Outcome::Failed(error) => {
            let failed = Counters::add(&counters.failed);
            if let Some(held) = failures.allow() {
                tracing::warn!(%service, %error, failed_total = failed, held_back = held,
                    "push notification not delivered");
            }
        }
    }
}

/// Checks the size, the endpoint and the keys of `job`.
fn check(job: PushJob, allow_http: bool) -> Result<ReadyJob, SendError> {
    if job.payload.len() > MAX_PAYLOAD {
        return Err(SendError::TooLarge(job.payload.len()));
    }
    let endpoint: Uri = job.endpoint.parse().map_err(|_| SendError::BadEndpoint)?;
    match endpoint.scheme_str() {
        Some("https") => {}
        Some("http") if allow_http => {}
        Some("http") => return Err(SendError::HttpNotAllowed),
        _ => return Err(SendError::BadEndpoint),
    }
    match endpoint.host() {
        None | Some("") => return Err(SendError::BadEndpoint),
        Some(host) if !allow_http && !super::public_addr::host_allowed(host) => {
            return Err(SendError::PrivateAddress)
        }
        Some(_) => {}
    }
    let point = base64url(&job.p256dh).ok_or(SendError::BadP256dh)?;
    let ua_public = p256::PublicKey::from_sec1_bytes(&point).map_err(|_| SendError::BadP256dh)?;
    let auth: [u8; 16] = base64url(&job.auth)
        .and_then(|a| a.try_into().ok())
        .ok_or(SendError::BadAuth)?;
    Ok(ReadyJob {
        endpoint,
        endpoint_text: job.endpoint,
        ua_public,
        auth: web_push_native::Auth::from(auth),
        payload: job.payload,
        urgency: job.urgency,
        ttl: job.ttl,
    })
}

/// Decodes base64url with or without padding, as browsers may give it.
fn base64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    /// A job for a valid subscription key at `endpoint`.
    fn job(endpoint: &str, payload: usize) -> PushJob {
        let key = p256::SecretKey::from_slice(&[9u8; 32]).expect("key");
        let point = key.public_key().to_encoded_point(false);
        let p256dh = URL_SAFE_NO_PAD.encode(point.as_bytes());
        let auth = URL_SAFE_NO_PAD.encode([1u8; 16]);
        PushJob::new(endpoint, &p256dh, &auth, vec![b'x'; payload])
    }

    #[test]
    fn a_full_size_payload_passes_and_one_byte_more_does_not() {
        assert!(check(job("https://push.example/a", MAX_PAYLOAD), false).is_ok());
        assert_eq!(
            check(job("https://push.example/a", MAX_PAYLOAD + 1), false).err(),
            Some(SendError::TooLarge(MAX_PAYLOAD + 1))
        );
    }

    #[test]
    fn http_only_when_allowed_and_never_a_relative_or_odd_url() {
        let plain = "http://127.0.0.1:9/a";
        assert_eq!(
            check(job(plain, 10), false).err(),
            Some(SendError::HttpNotAllowed)
        );
        assert!(check(job(plain, 10), true).is_ok());
        for bad in ["/a", "ftp://push.example/a", "not a url", "https:///a"] {
            assert_eq!(
                check(job(bad, 10), true).err(),
                Some(SendError::BadEndpoint),
                "{bad}"
            );
        }
    }

    #[test]
    fn keys_are_checked_and_padding_is_tolerated() {
        let mut j = job("https://push.example/a", 10);
        j.auth.push_str("==");
        j.p256dh.push('=');
        assert!(check(j, false).is_ok());

        let mut j = job("https://push.example/a", 10);
        j.auth = URL_SAFE_NO_PAD.encode([1u8; 12]);
        assert_eq!(check(j, false).err(), Some(SendError::BadAuth));

        let mut j = job("https://push.example/a", 10);
        j.p256dh = URL_SAFE_NO_PAD.encode([4u8; 65]);
        assert_eq!(check(j, false).err(), Some(SendError::BadP256dh));

        let mut j = job("https://push.example/a", 10);
        j.p256dh = "not base64!".into();
        assert_eq!(check(j, false).err(), Some(SendError::BadP256dh));
    }

    #[test]
    fn urgency_header_values() {
        assert_eq!(Urgency::High.as_str(), "high");
        assert_eq!(Urgency::Normal.as_str(), "normal");
    }
}
