//! Processes a test runs by hand: commands run to their end, `serve`
//! processes for what only a process shows (its output, its exit status,
//! limits set before it runs), and their memory as `/proc` reports it.
//! Every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::WAIT;

/// What `serve` prints first: this, then the address it listens on.
pub const LISTENING: &str = "chatroom listening on http://";

/// Runs `cmd` to its end within `limit` with `stdin` as its input, reading
/// its output meanwhile (so that no pipe fills); kills it when it takes
/// longer.
pub fn run_bounded(mut cmd: Command, stdin: &[u8], limit: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let stdout = read_in_background(child.stdout.take().ok_or("no stdout")?);
    let stderr = read_in_background(child.stderr.take().ok_or("no stderr")?);
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    let status = wait_bounded(&mut child, limit)
        .ok_or_else(|| format!("{cmd:?} did not end within {limit:?}"))?;
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Everything `pipe` gives until it ends, read on a thread of its own.
fn read_in_background(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        out
    })
}

/// Waits for `child` to exit within `limit`; kills it (and returns None)
/// when it does not.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A figure of `/proc/PID/status` given in kB (`VmRSS:`, `VmHWM:`), in
/// KiB; None once the process is gone.
pub fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs `cmd` (its output not kept but for standard error) to its end
/// within `limit`, sampling its peak resident set (`VmHWM`) meanwhile.
/// Returns its exit status, standard error, and the peak in KiB.
pub fn run_sampling_peak_rss(mut cmd: Command, limit: Duration) -> (ExitStatus, String, u64) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = read_in_background(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + limit;
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = proc_kib(child.id(), "VmHWM:") {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "command did not finish in time");
        std::thread::sleep(Duration::from_millis(2));
    };
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    (status, stderr, peak)
}

/// A `serve` process started by hand from a command; killed when dropped.
pub struct ServeProcess {
    pub child: Child,
    /// The address of its listening line.
    pub addr: String,
}

impl ServeProcess {
    /// Spawns `cmd` (a `serve`: its standard input closed, its standard
    /// output read here, its standard error as the caller set it) and
    /// waits for its listening line.
    pub fn start(mut cmd: Command) -> ServeProcess {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stdout = child.stdout.take().expect("stdout");
        match listening_addr(stdout) {
            Some(addr) => ServeProcess { child, addr },
            None => {
                let _ = child.kill();
                let status = child.wait();
                panic!("no listening line within {WAIT:?} (exit: {status:?})");
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends the signal `sig` (`TERM`, `INT`, `KILL`...) to the process.
    pub fn signal(&self, sig: &str) {
        send_signal(self.child.id(), sig);
    }

    /// Waits (bounded by `within`) for the exit; returns the exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let status = wait_bounded(&mut self.child, within);
        status
            .unwrap_or_else(|| panic!("the server did not exit within {within:?}"))
            .code()
    }

    /// SIGTERM, and a clean exit.
    pub fn stop(mut self) {
        self.signal("TERM");
        assert_eq!(self.wait_exit(WAIT), Some(0), "exit status after SIGTERM");
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of the listening line `serve` prints first, if it comes
/// within [`WAIT`]. The rest of its output is read to its end on another
/// thread, so the server never writes to a closed pipe.
fn listening_addr(stdout: ChildStdout) -> Option<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let _ = tx.send(lines.next());
        lines.for_each(drop);
    });
    let line = rx.recv_timeout(WAIT).ok().flatten()?;
    let addr = line
        .strip_prefix(LISTENING)
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Some(addr.trim().to_owned())
}

/// Sends the signal `sig` (`TERM`, `INT`, `KILL`...) to process `pid`.
pub fn send_signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{sig}");
}
