//! The command line against the contract (`PROTOCOL.md`, "Command line"):
//! help, start-up errors, bind precedence, the generated secret, `.env`,
//! and signals.
//!
//! Every child runs in a temporary working directory (so no stray `.env`
//! is read) with a clean environment (`common::command`), and every wait
//! is bounded.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{http, register_at, run_bounded, ServeProcess, WAIT};
use serde_json::{json, Value};

/// `chatroom` with a clean environment (the helpers' one spawner), run in `cwd`.
fn chatroom(cwd: &Path) -> Command {
    common::command(cwd)
}

/// Runs a command to its end (bounded); returns its output and duration.
fn run(cmd: Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = run_bounded(cmd, b"", WAIT).unwrap_or_else(|e| panic!("{e}"));
    (out, started.elapsed())
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `serve` with a data directory under `cwd` and the message limit off.
fn serve_cmd(cwd: &Path) -> Command {
    let mut cmd = chatroom(cwd);
    cmd.arg("serve").arg("--data-dir").arg(cwd.join("data"));
    cmd
}

/// Asserts a start-up failure: non-zero at once, exactly one line on stderr.
fn assert_fails_with_one_line(what: &str, cmd: Command) -> String {
    let (out, took) = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !out.status.success(),
        "{what}: exit status {:?}, stderr {stderr:?}",
        out.status
    );
    assert!(
        took < Duration::from_secs(5),
        "{what}: took {took:?} to fail"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: exactly one line on stderr, got {stderr:?}"
    );
    assert!(
        !lines[0].trim().is_empty(),
        "{what}: the line says something"
    );
    assert!(
        !stdout.contains("listening"),
        "{what}: it did not listen: {stdout:?}"
    );
    stderr
}

/// `POST path` with alice's username and password (a registration or a
/// login): the status and the JSON answer.
async fn as_alice(s: &ServeProcess, path: &str) -> (u16, Value) {
    let res = http()
        .post(s.url(path))
        .json(&json!({"username": "alice", "password": "correct horse"}))
        .send()
        .await
        .expect("post");
    let status = res.status().as_u16();
    (status, res.json().await.expect("json"))
}

/// The status of `GET /api/users/me` with `token`.
async fn me_status(s: &ServeProcess, token: &str) -> u16 {
    http()
        .get(s.url("/api/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
        .status()
        .as_u16()
}

// ---------------------------------------------------------------------------

#[test]
fn help_lists_commands_and_serve_options() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cmd = chatroom(tmp.path());
    cmd.arg("--help");
    let (out, _) = run(cmd);
    assert!(out.status.success(), "chatroom --help: {:?}", out.status);
    let top = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "create-admin", "export"] {
        assert!(top.contains(sub), "chatroom --help mentions {sub}:\n{top}");
    }

    let mut cmd = chatroom(tmp.path());
    cmd.args(["serve", "--help"]);
    let (out, _) = run(cmd);
    assert!(
        out.status.success(),
        "chatroom serve --help: {:?}",
        out.status
    );
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--bind",
        "--data-dir",
        "--jwt-secret",
        "--message-rate",
        "--message-burst",
        "--registration",
        "--allowed-origin",
    ] {
        assert!(help.contains(opt), "serve --help mentions {opt}:\n{help}");
    }
    // Every option also reads an environment variable: the help says which.
    for var in [
        "CHATROOM_BIND",
        "PORT",
        "CHATROOM_DATA_DIR",
        "JWT_SECRET",
        "CHATROOM_MESSAGE_RATE",
        "CHATROOM_MESSAGE_BURST",
        "CHATROOM_REGISTRATION",
        "CHATROOM_ALLOWED_ORIGINS",
    ] {
        assert!(help.contains(var), "serve --help mentions {var}:\n{help}");
    }
    assert!(
        !tmp.path().join("chatroom-data").exists(),
        "--help creates no data directory"
    );
}

#[test]
fn bad_bind_address_fails_at_once_with_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for bad in ["nonsense", "127.0.0.1", "127.0.0.1:99999", ":::"] {
        let mut cmd = serve_cmd(tmp.path());
        cmd.args(["--bind", bad]);
        assert_fails_with_one_line(&format!("--bind {bad}"), cmd);
    }
    // The same from the environment.
    let mut cmd = serve_cmd(tmp.path());
    cmd.env("CHATROOM_BIND", "nonsense");
    assert_fails_with_one_line("CHATROOM_BIND=nonsense", cmd);
    let mut cmd = serve_cmd(tmp.path());
    cmd.env("PORT", "http");
    assert_fails_with_one_line("PORT=http", cmd);
}

#[test]
fn port_in_use_fails_at_once_with_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let mut cmd = serve_cmd(tmp.path());
    cmd.args(["--bind", &addr]);
    let line = assert_fails_with_one_line(&format!("--bind {addr} (in use)"), cmd);
    let port = addr.rsplit(':').next().expect("port");
    assert!(line.contains(port), "the line names the address: {line}");
    drop(taken);
}

#[test]
fn unusable_data_directory_fails_at_once_with_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    for dir in [file.join("x"), file.clone()] {
        let mut cmd = chatroom(tmp.path());
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&dir);
        assert_fails_with_one_line(&format!("--data-dir {}", dir.display()), cmd);
    }
}

#[test]
fn bind_flag_wins_over_env_which_wins_over_port() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (p1, p2, p3) = (free_port(), free_port(), free_port());

    let mut cmd = serve_cmd(tmp.path());
    cmd.args(["--bind", &format!("127.0.0.1:{p1}")])
        .env("CHATROOM_BIND", format!("127.0.0.1:{p2}"))
        .env("PORT", p3.to_string());
    let s = ServeProcess::start(cmd);
    assert_eq!(s.addr, format!("127.0.0.1:{p1}"), "--bind wins");
    drop(s);

    let mut cmd = serve_cmd(tmp.path());
    cmd.env("CHATROOM_BIND", format!("127.0.0.1:{p2}"))
        .env("PORT", p3.to_string());
    let s = ServeProcess::start(cmd);
    assert_eq!(
        s.addr,
        format!("127.0.0.1:{p2}"),
        "CHATROOM_BIND wins over PORT"
    );
    drop(s);

    let mut cmd = serve_cmd(tmp.path());
    cmd.env("PORT", p3.to_string());
    let s = ServeProcess::start(cmd);
    assert_eq!(
        s.addr,
        format!("0.0.0.0:{p3}"),
        "PORT alone means 0.0.0.0:$PORT"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", p3)).is_ok(),
        "it listens on all addresses"
    );
    drop(s);
}

/// A secret given to `serve`, by flag or by environment.
const GIVEN_SECRET: &str = "a-secret-given-on-the-command-line-0123456789";

#[tokio::test]
async fn generated_secret_is_kept_with_mode_0600() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let secret_file = tmp.path().join("data").join("jwt-secret");
    let serve = || {
        let mut cmd = serve_cmd(tmp.path());
        cmd.args(["--bind", "127.0.0.1:0", "--message-rate", "0"]);
        cmd
    };

    let s = ServeProcess::start(serve());
    let token = register_at(&s.url(""), "alice").await.token;
    assert_eq!(me_status(&s, &token).await, 200);
    let meta = std::fs::metadata(&secret_file)
        .expect("the generated secret is in the data directory as jwt-secret");
    assert!(meta.is_file());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "jwt-secret has mode 0600"
    );
    let secret = std::fs::read(&secret_file).expect("read");
    assert!(!secret.is_empty());
    s.stop();

    // Restarted: the same secret, and the token still works.
    let s = ServeProcess::start(serve());
    assert_eq!(
        me_status(&s, &token).await,
        200,
        "a token stays valid across a restart"
    );
    assert_eq!(
        std::fs::read(&secret_file).expect("read"),
        secret,
        "the secret is stable"
    );
    assert_eq!(
        std::fs::metadata(&secret_file)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    s.stop();

    // With --jwt-secret, tokens of the generated secret no longer verify,
    // and tokens of the given secret do.
    let mut cmd = serve();
    cmd.args(["--jwt-secret", GIVEN_SECRET]);
    let s = ServeProcess::start(cmd);
    let what = "a token of the generated secret after --jwt-secret";
    assert_eq!(me_status(&s, &token).await, 401, "{what}");
    let (status, given) = as_alice(&s, "/api/users/login").await;
    assert_eq!(status, 200);
    let given = given["token"].as_str().expect("token").to_owned();
    assert_eq!(me_status(&s, &given).await, 200);
    s.stop();

    // JWT_SECRET in the environment does the same as the flag.
    let mut cmd = serve();
    cmd.env("JWT_SECRET", GIVEN_SECRET);
    let s = ServeProcess::start(cmd);
    let what = "JWT_SECRET = the same secret as the flag";
    assert_eq!(me_status(&s, &given).await, 200, "{what}");
    assert_eq!(me_status(&s, &token).await, 401);
    s.stop();
}

#[test]
fn dot_env_is_read_and_real_env_wins() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (p1, p2) = (free_port(), free_port());
    std::fs::write(
        tmp.path().join(".env"),
        format!("# settings\nCHATROOM_BIND=127.0.0.1:{p1}\n"),
    )
    .expect("write .env");

    let s = ServeProcess::start(serve_cmd(tmp.path()));
    assert_eq!(
        s.addr,
        format!("127.0.0.1:{p1}"),
        ".env is read from the working directory"
    );
    drop(s);

    let mut cmd = serve_cmd(tmp.path());
    cmd.env("CHATROOM_BIND", format!("127.0.0.1:{p2}"));
    let s = ServeProcess::start(cmd);
    assert_eq!(
        s.addr,
        format!("127.0.0.1:{p2}"),
        "a real variable wins over .env"
    );
    drop(s);

    // And a flag wins over both.
    let p3 = free_port();
    let mut cmd = serve_cmd(tmp.path());
    cmd.env("CHATROOM_BIND", format!("127.0.0.1:{p2}"))
        .args(["--bind", &format!("127.0.0.1:{p3}")]);
    let s = ServeProcess::start(cmd);
    assert_eq!(s.addr, format!("127.0.0.1:{p3}"));
    drop(s);
}

#[tokio::test]
async fn env_configures_serve_and_flags_win() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // CHATROOM_DATA_DIR and CHATROOM_REGISTRATION from the environment.
    let data = tmp.path().join("from-env");
    let mut cmd = chatroom(tmp.path());
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .env("CHATROOM_DATA_DIR", &data)
        .env("CHATROOM_REGISTRATION", "closed");
    let s = ServeProcess::start(cmd);
    let (status, body) = as_alice(&s, "/api/users/register").await;
    assert_eq!(status, 403, "CHATROOM_REGISTRATION=closed");
    assert_eq!(body["error"]["code"], "registration_closed");
    assert!(
        data.join("jwt-secret").exists(),
        "CHATROOM_DATA_DIR is used"
    );
    drop(s);

    // The flag wins over the variable.
    let mut cmd = chatroom(tmp.path());
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--registration", "open"])
        .env("CHATROOM_DATA_DIR", &data)
        .env("CHATROOM_REGISTRATION", "closed");
    let s = ServeProcess::start(cmd);
    register_at(&s.url(""), "alice").await;
    drop(s);
}

#[test]
fn sigterm_and_sigint_exit_zero() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for sig in ["TERM", "INT"] {
        let mut cmd = serve_cmd(tmp.path());
        cmd.args(["--bind", "127.0.0.1:0"]);
        let mut s = ServeProcess::start(cmd);
        // It answers, then stops cleanly.
        let mut conn = std::net::TcpStream::connect(&s.addr).expect("connect");
        std::io::Write::write_all(
            &mut conn,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
        let mut answer = String::new();
        conn.set_read_timeout(Some(WAIT)).expect("timeout");
        std::io::Read::read_to_string(&mut conn, &mut answer).expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let started = Instant::now();
        s.signal(sig);
        assert_eq!(
            s.wait_exit(Duration::from_secs(8)),
            Some(0),
            "exit status after SIG{sig}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "SIG{sig} took {:?}",
            started.elapsed()
        );
    }
}
