//! The test helpers start every `chatroom` from a clean environment: a
//! caller whose shell sets `CHATROOM_*`, `JWT_SECRET` or `PORT`, or whose
//! working directory holds a `.env`, sees the same servers as anyone else.
//!
//! A hostile caller is a whole process: its variables and its working
//! directory. So each hostile test runs twice: in the suite, it starts
//! this same test binary again as a child, with the hostile variables set
//! and a hostile `.env` in the child's working directory, asks it to run
//! only that test, and checks that it ran and passed; in the child (which
//! [`CHILD`] marks), it starts servers and admin commands through the
//! helpers of `tests/common` and checks what they see.

use std::process::Command;
use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

/// Values that would each change what a test sees, were a server to read
/// them: a closed registration, a crawling rate limit, a tiny body limit,
/// one-second tokens, one connection, a server somewhere else.
const HOSTILE: &[(&str, &str)] = &[
    ("CHATROOM_REGISTRATION", "closed"),
    ("CHATROOM_MESSAGE_RATE", "0.001"),
    ("CHATROOM_MESSAGE_BURST", "1"),
    ("CHATROOM_BODY_LIMIT", "1024"),
    ("CHATROOM_TOKEN_TTL", "1"),
    ("CHATROOM_MAX_CONNECTIONS", "1"),
    ("CHATROOM_MAX_USER_CONNECTIONS", "1"),
    ("CHATROOM_REGISTRATION_RATE", "1"),
    ("CHATROOM_LOGIN_FAILURES", "1"),
    ("CHATROOM_ROOM_QUOTA", "1"),
    ("CHATROOM_ROOM_CREATE_RATE", "1"),
    ("CHATROOM_JOIN_RATE", "0.001"),
    ("CHATROOM_DATA_DIR", "/nonexistent/hostile-data"),
    ("CHATROOM_BIND", "nonsense"),
    ("CHATROOM_STORE", "postgres://hostile@nonexistent.invalid/x"),
    ("CHATROOM_BUS", "nats://nonexistent.invalid:1"),
    ("CHATROOM_FILES_DIR", "/nonexistent/hostile-files"),
    ("JWT_SECRET", "x"),
    ("PORT", "1"),
    ("RUST_LOG", "trace"),
];

/// Set in the child process that plays the hostile caller.
const CHILD: &str = "CHATROOM_TEST_HOSTILE_CHILD";

/// Runs the test `name` of this module as a hostile caller: in the child,
/// returns true (the caller goes on with the test's body); in the suite,
/// runs the child, checks it ran that one test and passed, and returns
/// false.
fn as_hostile_caller(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let cwd = tempfile::tempdir().expect("tempdir");
    let mut env_file = String::new();
    for (k, v) in HOSTILE {
        env_file.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(cwd.path().join(".env"), env_file).expect("write the hostile .env");
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = Command::new(exe);
    child
        .args([&format!("clean_env::{name}"), "--exact", "--test-threads=1"])
        .current_dir(cwd.path())
        .env(CHILD, "1");
    for (k, v) in HOSTILE {
        child.env(k, v);
    }
    let out = run_bounded(child, b"", Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the hostile caller failed:\n{stdout}\n{stderr}"
    );
    false
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

#[test]
fn servers_started_by_the_helpers_ignore_the_callers_variables_and_env_file() {
    if !as_hostile_caller(
        "servers_started_by_the_helpers_ignore_the_callers_variables_and_env_file",
    ) {
        return;
    }
    // No `--message-rate` flag: the default limit (5 a second, bursts of 20)
    // applies, not the caller's.
    let s = Server::start_with(&[]);
    runtime().block_on(async {
        let (ip, port) = s.addr.rsplit_once(':').expect("host:port");
        assert_eq!(ip, "127.0.0.1", "listens where told, not on PORT");
        assert_ne!(port, "1");
        assert!(
            s.dir.join("jwt-secret").is_file(),
            "the secret is generated, not JWT_SECRET"
        );

        // Registration is open and not limited per address.
        let alice = register(&s, "alice").await;
        let _bob = register(&s, "bob").await;
        let _carol = register(&s, "carol").await;

        // Failed logins: the default allowance, not one.
        for _ in 0..3 {
            assert_eq!(login(&s, "alice", "wrong password").await.0, 401);
        }

        // A 2 KB body is within the default limit; three rooms are within
        // the default quota and creation rate.
        let padded = format!(
            "{{\"name\": \"padded\",{}\"description\": \"x\"}}",
            " ".repeat(2000)
        );
        let res = http()
            .post(s.url("/api/rooms"))
            .bearer_auth(&alice.token)
            .header("content-type", "application/json")
            .body(padded)
            .send()
            .await
            .expect("create room");
        assert_eq!(res.status(), 201, "a 2 KB body is accepted");
        let room: Value = res.json().await.expect("room");
        let room_id = id_of(&room);
        create_room(&s, &alice, "second", false).await;
        create_room(&s, &alice, "third", false).await;

        // Several connections of one user; ten messages within the default
        // burst; joins at the default rate.
        let mut a = Client::connect(&s, &alice).await;
        let mut b = Client::connect(&s, &alice).await;
        let mut c = Client::connect(&s, &alice).await;
        for cl in [&mut b, &mut c] {
            assert_eq!(
                cl.call("joinRoom", json!({"roomId": room_id})).await["event"],
                "ack"
            );
        }
        assert_eq!(
            a.call("joinRoom", json!({"roomId": room_id})).await["event"],
            "ack"
        );
        let texts: Vec<String> = (0..10).map(|i| format!("message {i}")).collect();
        let (answers, _) = a.send_pipelined(Some(&room_id), &texts).await;
        for (i, ans) in answers.iter().enumerate() {
            assert_eq!(ans["event"], "ack", "message {i}: {ans}");
        }

        // Tokens live for the default week, not one second.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let (status, me) = get(&s, &alice, "/api/users/me").await;
        assert_eq!(status, 200, "{me}");
    });
}

#[test]
fn admin_commands_run_by_the_helpers_ignore_the_callers_variables_and_env_file() {
    if !as_hostile_caller(
        "admin_commands_run_by_the_helpers_ignore_the_callers_variables_and_env_file",
    ) {
        return;
    }
    let s = Server::start();
    let dir = s.dir.to_str().expect("UTF-8 path").to_owned();
    let run = |args: &[&str], stdin: &str| {
        let out = run_bounded(
            admin_command(args),
            stdin.as_bytes(),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Through the running server's admin socket: quiet (no trace logs),
    // and on the data directory given, not CHATROOM_DATA_DIR.
    let (code, out, err) = run(
        &[
            "create-admin",
            "--username",
            "root",
            "--password-stdin",
            "--data-dir",
            &dir,
        ],
        "correct horse\n",
    );
    assert_eq!(code, Some(0), "create-admin: {err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(err, "", "no logs on stderr");
    let (code, out, err) = run(&["export", "--data-dir", &dir], "");
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));

    // Without `--data-dir` the default directory of an empty working
    // directory is used: one line naming it, and nothing created.
    let (code, _, err) = run(&["export"], "");
    assert_ne!(code, Some(0));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("hostile"), "{err}");
    assert!(err.contains("chatroom-data"), "{err}");

    // The admin can log in with the password it was given.
    runtime().block_on(async {
        assert_eq!(login(&s, "root", "correct horse").await.0, 200);
    });
}

#[test]
fn a_env_file_above_the_working_directory_is_not_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let below = tmp.path().join("below");
    std::fs::create_dir(&below).expect("mkdir");
    // `export` names the data directory it looked in: the default one,
    // unless the parent's `.env` were read.
    std::fs::write(
        tmp.path().join(".env"),
        "CHATROOM_DATA_DIR=/nonexistent-from-parent-env\n",
    )
    .expect("write");
    let out = command(&below).arg("export").output().expect("run export");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        !stderr.contains("nonexistent-from-parent-env"),
        "a parent directory's .env was read: {stderr}"
    );
    assert!(
        stderr.contains("chatroom-data"),
        "the default data directory is used: {stderr}"
    );
}
