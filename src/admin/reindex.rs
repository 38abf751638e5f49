//! `chatroom reindex`: rebuild the search index, with a progress bar.
//!
//! With a server on the data directory, the server's search thread
//! rebuilds (beside the index it keeps answering from) and streams its
//! progress as data lines; without one, this process opens the store and
//! the index and rebuilds in place.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::commands::{open_target, Target};
use super::ops::OpError;
use super::{socket, Request};
use crate::cli::ReindexArgs;
use crate::search::{Index, Progress, RebuildEvent, Search};

/// One progress line on the admin channel.
#[derive(Serialize, Deserialize)]
pub struct ProgressLine {
    pub messages: u64,
    pub done: u64,
    pub total: u64,
}

impl From<Progress> for ProgressLine {
    fn from(p: Progress) -> Self {
        ProgressLine {
            messages: p.messages,
            done: p.done,
            total: p.total,
        }
    }
}

/// The server's side: asks the search thread to rebuild and relays its
/// progress.
pub fn serve(search: &Search, out: &mut dyn Write) -> Result<String, OpError> {
    let events = search.rebuild().map_err(OpError)?;
    loop {
        match events.recv() {
            Ok(RebuildEvent::Progress(p)) => {
                let line = serde_json::to_string(&ProgressLine::from(p))
                    .map_err(|e| OpError(e.to_string()))?;
                writeln!(out, "{line}")?;
                out.flush()?;
            }
            Ok(RebuildEvent::Done(Ok(n))) => return Ok(n.to_string()),
            Ok(RebuildEvent::Done(Err(e))) => return Err(OpError(e)),
            Err(_) => {
                return Err(OpError(
                    "the search thread stopped during the rebuild".into(),
                ))
            }
        }
    }
}

/// The command.
pub fn reindex(args: ReindexArgs) -> Result<(), String> {
    let dir = &args.data.data_dir;
    let started = Instant::now();
    let mut bar = Bar::new();
    let messages = match open_target(dir, false, &args.store)? {
        Target::Server(stream) => {
            let mut lines = BarLines {
                bar: &mut bar,
                pending: Vec::new(),
            };
            let summary =
                socket::request(stream, &Request::Reindex, &mut lines).map_err(|e| e.0)?;
            summary.trim().parse::<u64>().map_err(|_| {
                format!(
                    "the server's answer {summary:?} is not understood; is it the same version?"
                )
            })?
        }
        Target::Local(store) => {
            if !dir.is_dir() {
                return Err(format!(
                    "no data directory {}; pass the node's --data-dir",
                    dir.display()
                ));
            }
            // No server answers on the data directory, so none writes
            // its index now (the embedded store's lock is held, too).
            let index =
                Index::open(dir).map_err(|e| format!("cannot open the search index: {e}"))?;
            crate::search::indexer::rebuild_offline(&index, &store, &mut |p| bar.show(p.into()))
                .map_err(|e| format!("the rebuild failed: {e}"))?
        }
    };
    bar.end();
    let secs = started.elapsed().as_secs_f64();
    let rate = messages as f64 / secs.max(0.001);
    eprintln!("reindexed {messages} messages in {secs:.1} s ({rate:.0} messages/s)");
    Ok(())
}

/// Progress on standard error: a redrawn bar on a terminal, else a line
/// per tenth.
struct Bar {
    terminal: bool,
    shown_tenth: Option<u64>,
    drawn: bool,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            terminal: std::io::stderr().is_terminal(),
            shown_tenth: None,
            drawn: false,
        }
    }

    fn show(&mut self, p: ProgressLine) {
        let percent = (p.done.saturating_mul(100))
            .checked_div(p.total)
            .unwrap_or(100)
            .min(100);
        if self.terminal {
            let filled = (percent / 5) as usize;
            eprint!(
                "\r[{}{}] {percent:>3}%  {} messages",
                "#".repeat(filled),
                ".".repeat(20 - filled),
                p.messages
            );
            self.drawn = true;
        } else if self.shown_tenth != Some(percent / 10) {
            self.shown_tenth = Some(percent / 10);
            eprintln!("reindexing: {percent}% ({} messages)", p.messages);
        }
    }

    fn end(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}

/// The admin channel's data lines, turned into progress.
struct BarLines<'a> {
    bar: &'a mut Bar,
    pending: Vec<u8>,
}

impl Write for BarLines<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if let Ok(p) = serde_json::from_slice::<ProgressLine>(&line) {
                self.bar.show(p);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
