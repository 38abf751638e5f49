//! The admin commands as run from a shell: each talks to the server that
//! holds the data directory, or opens the store itself when none does.

use std::fs::File;
use std::io::{BufRead, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::local::{store_url, LocalStore};
use super::ops::{self, OpError};
use super::socket;
use super::Request;
use crate::cli::{BackupArgs, CreateAdminArgs, ExportArgs, ExportFormat, GcArgs, StoreArg};
use crate::files::Blobs;
use crate::model::Timestamp;
use crate::store::{Store, StoreError};

/// Page cache of a store opened by a command: small, it only streams.
pub(super) const COMMAND_CACHE_BYTES: u64 = 4 * 1024 * 1024;
/// How long a command keeps trying while a server is starting or stopping
/// (the database is locked but the socket is not up yet, or gone).
const SETTLE: Duration = Duration::from_secs(10);

/// Where a command's operation runs.
pub(super) enum Target {
    Server(UnixStream),
    Local(LocalStore),
}

/// The server's admin socket if one answers, else the store opened here:
/// the cluster's database when `--store` names one, else the data
/// directory's.
pub(super) fn open_target(
    data_dir: &Path,
    create: bool,
    store: &StoreArg,
) -> Result<Target, String> {
    let deadline = Instant::now() + SETTLE;
    if let Err(e) = std::fs::read_dir(data_dir) {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(format!(
                "cannot read {} ({e}); run the command as the data's owner, e.g. sudo -u chatroom",
                data_dir.display()
            ));
        }
    }
    loop {
        match socket::try_connect(data_dir) {
            Ok(Some(stream)) => return Ok(Target::Server(stream)),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
        if let Some(url) = store_url(store) {
            return LocalStore::postgres(url).map(Target::Local);
        }
        if !create && !data_dir.join("db").exists() {
            return Err(format!(
                "no chatroom data in {}; pass the server's --data-dir",
                data_dir.display()
            ));
        }
        if create {
            crate::config::ensure_data_dir(data_dir).map_err(|e| e.to_string())?;
        }
        match Store::open(data_dir, COMMAND_CACHE_BYTES) {
            Ok(store) => return Ok(Target::Local(LocalStore::embedded(store))),
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(StoreError::Locked { .. }) => {
                return Err(format!(
                    "the data directory {} is locked by a process that does not answer on its admin socket; is an older chatroom running?",
                    data_dir.display()
                ))
            }
            Err(e) => return Err(format!("cannot open the database in {}: {e}", data_dir.display())),
        }
    }
}

/// The files of a data directory whose store this process holds (so no
/// upload is under way: what is left in their `tmp` is removed).
pub(super) fn local_blobs(data_dir: &Path) -> Result<Blobs, OpError> {
    Blobs::open(data_dir).map_err(|e| {
        OpError(format!(
            "cannot open the files directory in {}: {e}",
            data_dir.display()
        ))
    })
}

/// The files a command opened `store` for: those of `--files-dir` (which
/// running nodes may share: nothing is tidied), else the data directory's
/// own, tidied only when it is the embedded store's (which this process
/// then holds).
fn command_blobs(
    data_dir: &Path,
    files_dir: Option<&Path>,
    store: &StoreArg,
) -> Result<Blobs, OpError> {
    if files_dir.is_some() || store_url(store).is_some() {
        Ok(Blobs::at_in(data_dir, files_dir))
    } else {
        local_blobs(data_dir)
    }
}

/// `create-admin`.
pub fn create_admin(args: CreateAdminArgs) -> Result<(), String> {
    crate::validate::username(&args.username)?;
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password(format!("Password for {}: ", args.username))
            .map_err(|e| {
                format!("cannot prompt for a password ({e}); pipe it in with --password-stdin")
            })?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("cannot prompt for a password ({e})"))?;
        if first != again {
            return Err("the two passwords differ; nothing was changed".into());
        }
        first
    };
    crate::validate::password(&password)?;
    let hash = crate::auth::hash_password_blocking(&password).map_err(|e| e.to_string())?;
    let summary = match open_target(&args.data.data_dir, true, &args.store)? {
        Target::Server(stream) => socket::request(
            stream,
            &Request::CreateAdmin {
                username: args.username,
                password_hash: hash,
                password: Some(super::Password(password)),
            },
            &mut std::io::sink(),
        ),
        Target::Local(store) => {
            ops::create_admin(&store, &args.username, &hash, Some(&password)).map(|c| c.summary)
        }
    }
    .map_err(|e| e.0)?;
    println!("{summary}");
    Ok(())
}

/// `export`.
pub fn export(args: ExportArgs) -> Result<(), String> {
    let since = match &args.since {
        Some(s) => Some(Timestamp::parse(s).ok_or_else(|| {
            format!("--since {s:?} is not an RFC 3339 time or a date such as 2026-11-24")
        })?),
        None => None,
    };
    let target = open_target(&args.data.data_dir, false, &args.store)?;
    let result = match &args.output {
        Some(path) => {
            let file =
                File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            let r = write_export(
                target,
                &args,
                since,
                BufWriter::with_capacity(256 * 1024, file),
            );
            if r.is_err() {
                let _ = std::fs::remove_file(path);
            }
            r
        }
        None => write_export(
            target,
            &args,
            since,
            BufWriter::with_capacity(256 * 1024, std::io::stdout().lock()),
        ),
    };
    result.map(|_| ()).map_err(|e| e.0)
}

fn write_export<W: Write>(
    target: Target,
    args: &ExportArgs,
    since: Option<Timestamp>,
    out: W,
) -> Result<String, OpError> {
    let mut out = match args.format {
        ExportFormat::Jsonl => Lines::Plain(out),
        ExportFormat::Json => Lines::Array(JsonArray {
            inner: out,
            first: true,
            at_start: true,
        }),
    };
    let summary = match target {
        Target::Server(stream) => socket::request(
            stream,
            &Request::Export {
                room: args.room.clone(),
                since: since.map(|t| t.0),
            },
            &mut out,
        )?,
        Target::Local(store) => {
            ops::export(&store, args.room.as_deref(), since, &mut out)?.to_string()
        }
    };
    out.finish()?;
    Ok(summary)
}

/// Output of `export`: lines as they come, or the same objects as one JSON array.
enum Lines<W: Write> {
    Plain(W),
    Array(JsonArray<W>),
}

impl<W: Write> Lines<W> {
    fn finish(self) -> std::io::Result<()> {
        match self {
            Lines::Plain(mut w) => w.flush(),
            Lines::Array(a) => a.finish(),
        }
    }
}

impl<W: Write> Write for Lines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Lines::Plain(w) => w.write(buf),
            Lines::Array(a) => a.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Lines::Plain(w) => w.flush(),
            Lines::Array(a) => a.flush(),
        }
    }
}

/// Turns JSON lines into one JSON array while streaming.
struct JsonArray<W: Write> {
    inner: W,
    first: bool,
    at_start: bool,
}

impl<W: Write> JsonArray<W> {
    fn finish(mut self) -> std::io::Result<()> {
        self.inner
            .write_all(if self.first { b"[]\n" } else { b"\n]\n" })?;
        self.inner.flush()
    }
}

impl<W: Write> Write for JsonArray<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            if self.at_start {
                self.inner
                    .write_all(if self.first { b"[\n" } else { b",\n" })?;
                self.first = false;
                self.at_start = false;
            }
            match rest.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.inner.write_all(&rest[..i])?;
                    self.at_start = true;
                    rest = &rest[i + 1..];
                }
                None => {
                    self.inner.write_all(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// `backup`: written to a temporary file, synced, then renamed into place,
/// so a backup file that exists is complete.
pub fn backup(args: BackupArgs) -> Result<(), String> {
    let dir = &args.data.data_dir;
    let target = open_target(dir, false, &args.store)?;
    let files_dir = args.files.files_dir.as_deref();
    let summary = write_backup(target, &args.output, |store, out| {
        let blobs = command_blobs(dir, files_dir, &args.store)?;
        ops::backup(store, &blobs, out)
    })?;
    eprintln!("backup written to {}: {summary}", args.output.display());
    Ok(())
}

/// Writes a backup from `target` to `output`: to a temporary file beside
/// it, synced, then renamed into place, so that a backup file that exists
/// is complete. `local` writes it from a store opened here. Returns the
/// counts, as the summary the command prints.
pub(super) fn write_backup(
    target: Target,
    output: &Path,
    local: impl FnOnce(&Store, &mut dyn Write) -> Result<String, OpError>,
) -> Result<String, String> {
    let tmp = output.with_extension("partial");
    let file = File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let result = match target {
        Target::Server(stream) => socket::request(stream, &Request::Backup, &mut out),
        Target::Local(store) => local(&store, &mut out),
    };
    let finish = result.and_then(|summary| {
        let file = out
            .into_inner()
            .map_err(|e| OpError(format!("cannot write the backup: {e}")))?;
        file.sync_all()?;
        std::fs::rename(&tmp, output)?;
        Ok(summary)
    });
    finish.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        e.0
    })
}

/// `files gc`: run by the server when one holds the data directory (its
/// uploads and the check before removing a blob share the blob's lock),
/// else here, on the store opened by this process, which no upload can
/// then write to. The report's lines go to standard output.
pub fn files_gc(args: GcArgs) -> Result<(), String> {
    let dir = &args.data.data_dir;
    let summary = match open_target(dir, false, &args.store)? {
        Target::Server(stream) => socket::request(
            stream,
            &Request::FilesGc {
                dry_run: args.dry_run,
            },
            &mut std::io::sink(),
        ),
        // Not `Blobs::open`: it would empty `tmp` before the report.
        Target::Local(store) => ops::files_gc(
            &store,
            &Blobs::at_in(dir, args.files.files_dir.as_deref()),
            args.dry_run,
        ),
    }
    .map_err(|e| e.0)?;
    let report: crate::files::gc::GcReport = serde_json::from_str(&summary).map_err(|e| {
        format!("the server's report is not understood ({e}); is it the same version?")
    })?;
    let mut out = std::io::stdout().lock();
    for line in report.lines() {
        writeln!(out, "{line}").map_err(|e| format!("cannot write the report: {e}"))?;
    }
    Ok(())
}
