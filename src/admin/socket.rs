//! Both ends of the admin socket.

use std::io::{BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

use super::ops::{self, OpError};
use super::{socket_path, Request, DONE, FAIL};
use crate::chat::hub::Hub;
use crate::files::Blobs;
use crate::lines::{read_line, Line};
use crate::memory::release_free_memory;
use crate::search::Search;
use crate::store::Store;

/// Time a client has to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that stops reading for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest admin request line. Real requests are a few hundred bytes (the
/// longest, `createAdmin`, carries a password hash).
const MAX_REQUEST_LINE: usize = 64 * 1024;
/// Longest line the client accepts from the server: the longest line of a
/// backup, which a restore accepts.
const MAX_REPLY_LINE: usize = crate::store::MAX_BACKUP_LINE;

/// Binds the admin socket of `data_dir`, mode 0600. The caller holds the
/// database lock, so a socket file already there is a crashed server's:
/// it is replaced.
pub fn listen(data_dir: &Path) -> std::io::Result<UnixListener> {
    let path = socket_path(data_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => tracing::info!("replaced a stale admin socket"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves admin clients until `stop`; each runs on the blocking pool (they
/// are rare, and their work is disk-bound). The hub is there to close the
/// WebSockets of a user whose password `create-admin` reset.
pub async fn serve(
    listener: UnixListener,
    store: Store,
    blobs: Blobs,
    hub: Hub,
    search: Search,
    stop: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let (store, blobs, hub, search) =
            (store.clone(), blobs.clone(), hub.clone(), search.clone());
        let std_stream = match stream
            .into_std()
            .and_then(|s| s.set_nonblocking(false).map(|()| s))
        {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "admin connection setup failed");
                continue;
            }
        };
        tokio::task::spawn_blocking(move || {
            handle(&Ops(&store, &blobs, &hub, &search), std_stream)
        });
    }
}

/// What the operations act on.
struct Ops<'a>(&'a Store, &'a Blobs, &'a Hub, &'a Search);

fn handle(ops: &Ops<'_>, stream: UnixStream) {
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut out = std::io::BufWriter::with_capacity(
        64 * 1024,
        TrimEvery {
            inner: &stream,
            written: 0,
        },
    );
    let result = match read_request(&stream) {
        Ok(req) => run(ops, req, &mut out),
        Err(e) => Err(e),
    };
    let last = match result {
        Ok(summary) => format!("{DONE}{summary}\n"),
        Err(e) => format!("{FAIL}{}\n", e.0.replace('\n', " ")),
    };
    let _ = out.write_all(last.as_bytes()).and_then(|()| out.flush());
    // A scan of the whole history (export, backup) leaves freed pages in
    // this blocking thread's malloc arena; give them back to the OS so the
    // server's footprint returns to its idle figure.
    release_free_memory();
}

/// Output bytes between two [`release_free_memory`] calls during a long
/// answer: often enough that a scan's freed pages do not pile up, rarely
/// enough that the calls cost nothing next to the scan.
const TRIM_EVERY_BYTES: u64 = 16 * 1024 * 1024;

/// A writer that gives freed memory back every [`TRIM_EVERY_BYTES`]: an
/// export or backup evicts and reloads database pages all along, and what
/// it frees would otherwise stay in this thread's arena until it ends.
struct TrimEvery<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for TrimEvery<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        if self.written >= TRIM_EVERY_BYTES {
            self.written = 0;
            release_free_memory();
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the one request line, at most [`MAX_REQUEST_LINE`] bytes: a
/// longer line is refused without being held (the connection is closed
/// after the answer, and the rest is never read).
fn read_request(stream: &UnixStream) -> Result<Request, OpError> {
    let mut line = Vec::with_capacity(1024);
    let read = read_line(&mut BufReader::new(stream), &mut line, MAX_REQUEST_LINE)
        .map_err(|e| OpError(format!("reading the admin request: {e}")))?;
    if read == Line::TooLong {
        return Err(OpError(format!(
            "bad admin request: longer than {} KiB",
            MAX_REQUEST_LINE / 1024
        )));
    }
    serde_json::from_slice::<Request>(&line).map_err(|e| OpError(format!("bad admin request: {e}")))
}

fn run(ops: &Ops<'_>, req: Request, out: &mut dyn Write) -> Result<String, OpError> {
    let Ops(store, blobs, hub, search) = *ops;
    match req {
        Request::CreateAdmin {
            username,
            password_hash,
            password,
        } => {
            crate::validate::username(&username).map_err(OpError)?;
            let password = password.as_ref().map(|p| p.0.as_str());
            let done = ops::create_admin(store, &username, &password_hash, password)?;
            if let Some(id) = done.reset {
                hub.kill_user(id, crate::auth::CLOSE_CREDENTIALS_CHANGED);
            }
            Ok(done.summary)
        }
        Request::Export { room, since } => {
            let n = ops::export(
                store,
                room.as_deref(),
                since.map(crate::model::Timestamp),
                out,
            )?;
            Ok(n.to_string())
        }
        Request::Backup => ops::backup(store, blobs, out),
        Request::FilesGc { dry_run } => ops::files_gc(store, blobs, dry_run),
        Request::Reindex => super::reindex::serve(search, out),
    }
}

/// Connects to the server holding `data_dir`, if one listens there.
pub fn connect(data_dir: &Path) -> Option<UnixStream> {
    UnixStream::connect(socket_path(data_dir)).ok()
}

/// Like [`connect`], but a socket the caller may not use is an error that
/// says so, not "no server".
pub fn try_connect(data_dir: &Path) -> Result<Option<UnixStream>, String> {
    let path = socket_path(data_dir);
    match UnixStream::connect(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(format!(
            "cannot use the admin socket {} ({e}); run the command as the data's owner",
            path.display()
        )),
        Err(_) => Ok(None),
    }
}

/// Sends a request and copies the data lines to `out`. Returns the
/// server's summary, or its error.
pub fn request(stream: UnixStream, req: &Request, out: &mut dyn Write) -> Result<String, OpError> {
    let mut text = serde_json::to_string(req).map_err(|e| OpError(e.to_string()))?;
    text.push('\n');
    (&stream)
        .write_all(text.as_bytes())
        .map_err(|e| OpError(format!("talking to the server: {e}")))?;
    let mut reader = BufReader::with_capacity(64 * 1024, &stream);
    let mut line = Vec::with_capacity(1024);
    loop {
        match read_line(&mut reader, &mut line, MAX_REPLY_LINE)
            .map_err(|e| OpError(format!("reading from the server: {e}")))?
        {
            Line::Read => {}
            Line::TooLong => {
                return Err(OpError(format!(
                    "the server sent a line longer than {} KiB; is it a chatroom server?",
                    MAX_REPLY_LINE / 1024
                )))
            }
            Line::End => {
                return Err(OpError(
                    "the server closed the admin channel before finishing; try again".into(),
                ))
            }
        }
        if line.first() == Some(&b'{') {
            out.write_all(&line)?;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if let Some(summary) = text.strip_prefix(DONE) {
            return Ok(summary.to_owned());
        }
        return Err(OpError(text.strip_prefix(FAIL).unwrap_or(text).to_owned()));
    }
}
