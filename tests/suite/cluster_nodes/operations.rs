//! Operating a cluster: file bytes in a directory the nodes share, the
//! admin commands against the cluster's database (`--store`), and
//! `migrate` from a single server's data directory.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::Cluster;
use crate::common::cluster::fresh_database;
use crate::common::*;

/// How long one admin command may take.
const CMD_WAIT: Duration = Duration::from_secs(60);

/// `chatroom ARGS` from a clean environment, run to completion (bounded)
/// with `stdin`: its exit status, standard output and standard error.
fn chatroom(args: &[&str], stdin: &str) -> (bool, String, String) {
    let out = run_bounded(admin_command(args), stdin.as_bytes(), CMD_WAIT)
        .unwrap_or_else(|e| panic!("chatroom {args:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`chatroom`] off the async threads; it must succeed. Its stdout.
async fn ok(args: &[&str], stdin: &str) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_owned();
    let (success, out, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        chatroom(&args, &stdin)
    })
    .await
    .expect("command task");
    assert!(success, "the command failed: {err}");
    out
}

/// [`chatroom`] off the async threads; it must fail with one line on
/// standard error, which is returned.
async fn refused(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (success, _, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        chatroom(&args, "")
    })
    .await
    .expect("command task");
    assert!(!success, "the command should have failed");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

/// Uploads `bytes` into `room` on `s`; the file's id.
async fn upload(s: &Server, u: &User, room: &str, bytes: &[u8]) -> String {
    let res = http()
        .post(s.url(&format!("/api/rooms/{room}/files")))
        .bearer_auth(&u.token)
        .header("content-type", "application/octet-stream")
        .header("x-filename", "notes.bin")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.expect("json");
    id_of(&v)
}

/// The bytes of file `id` as `s` serves them to `u`: status and body.
async fn download(s: &Server, u: &User, id: &str) -> (u16, Vec<u8>) {
    let res = http()
        .get(s.url(&format!("/api/files/{id}")))
        .bearer_auth(&u.token)
        .send()
        .await
        .expect("download");
    let status = res.status().as_u16();
    (status, res.bytes().await.expect("body").to_vec())
}

/// The texts of `room`'s whole history as `s` serves it to `u`, oldest
/// first.
async fn texts(s: &Server, u: &User, room: &str) -> Vec<String> {
    all_messages(s, u, room)
        .await
        .iter()
        .map(|v| str_of(&v["message"]))
        .collect()
}

/// Bytes no two tests share.
fn noise(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// Every upload directory of a shared files directory, and what is in them.
fn temp_entries(files: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(files.join("tmp")).expect("tmp").flatten() {
        out.push(dir.file_name().to_string_lossy().into_owned());
        if let Ok(inner) = std::fs::read_dir(dir.path()) {
            out.extend(inner.flatten().map(|e| e.path().display().to_string()));
        }
    }
    out
}

#[tokio::test]
async fn a_file_uploaded_on_one_node_is_served_by_every_node_from_the_shared_files_dir() {
    let shared = tempfile::tempdir().expect("tempdir");
    let files = shared.path().join("files");
    let files_arg = files.to_str().expect("UTF-8");
    let c = Cluster::start_with(2, &["--files-dir", files_arg]);
    let (n0, n1) = (&c.nodes[0], &c.nodes[1]);
    let ann = register(n0, "ann").await;
    let room = id_of(&create_room(n0, &ann, "files", false).await);
    let bytes = noise(300_000, 7);
    let id = upload(n0, &ann, &room, &bytes).await;
    assert_eq!(download(n1, &ann, &id).await, (200, bytes.clone()));
    // The same bytes uploaded on the other node are stored once.
    let again = upload(n1, &ann, &room, &bytes).await;
    assert_ne!(again, id);
    assert_eq!(download(n0, &ann, &again).await, (200, bytes.clone()));
    let blobs = walk_files(&files);
    assert_eq!(blobs.len(), 1, "one blob for identical bytes: {blobs:?}");
    // Each node writes its uploads in a directory of its own, and nothing
    // is left there once they are stored.
    let temp = temp_entries(&files);
    assert_eq!(temp.len(), 2, "{temp:?}");
    assert!(temp.iter().all(|t| t.starts_with("node-")), "{temp:?}");
    // Nothing of the node's data directory holds the bytes.
    assert!(walk_files(&n0.dir.join("files")).is_empty());
}

/// Every regular file under `dir` outside its `tmp`.
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() && e.file_name() != "tmp" {
                todo.push(path);
            } else if path.is_file() {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test]
async fn the_admin_commands_work_against_the_cluster_database() {
    let c = Cluster::start(1);
    let n0 = &c.nodes[0];
    let store = c.store.clone();
    let nowhere = tempfile::tempdir().expect("tempdir");
    let dir = nowhere.path().join("no-node-here");
    let dir = dir.to_str().expect("UTF-8");
    let on_cluster = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--data-dir", dir, "--store", &store].map(str::to_owned));
        v
    };
    let args = on_cluster(&["create-admin", "--username", "root", "--password-stdin"]);
    let out = ok(&as_strs(&args), "root-pw-123\n").await;
    assert!(out.contains("created admin root"), "{out}");
    let root = login_user(n0, "root", "root-pw-123").await;
    let (status, me) = get(n0, &root, "/api/users/me").await;
    assert_eq!((status, me["role"].clone()), (200, "admin".into()), "{me}");
    assert!(
        !Path::new(dir).exists(),
        "no data directory is made for the cluster's commands"
    );
    let room = id_of(&create_room(n0, &root, "ops", false).await);
    let mut client = Client::joined(n0, &root, &[&room]).await;
    client.say(&room, "kept in the cluster").await;

    let lines = ok(&as_strs(&on_cluster(&["export"])), "").await;
    assert_eq!(lines.lines().count(), 1, "{lines}");
    assert!(lines.contains("kept in the cluster"), "{lines}");

    let backup = nowhere.path().join("cluster.backup");
    let backup = backup.to_str().expect("UTF-8");
    ok(&as_strs(&on_cluster(&["backup", "--output", backup])), "").await;
    let (status, _, err) = chatroom(&as_strs(&on_cluster(&["files", "gc", "--dry-run"])), "");
    assert!(status, "files gc: {err}");

    // The backup restores into another, empty database, whose node then
    // has the history; a database with data is refused.
    let other = fresh_database();
    let restore = ["restore", "--input", backup, "--data-dir", dir, "--store"];
    ok(&[&restore[..], &[other.as_str()]].concat(), "").await;
    let err = refused(&[&restore[..], &[other.as_str()]].concat()).await;
    assert!(err.contains("already holds data"), "{err}");
    let restored = Cluster::start_on(1, other, false);
    let m = &restored.nodes[0];
    let root = login_user(m, "root", "root-pw-123").await;
    assert_eq!(texts(m, &root, &room).await, ["kept in the cluster"]);

    // A database that cannot be reached is one line, quickly.
    let err = refused(&[
        "export",
        "--data-dir",
        dir,
        "--store",
        "postgres://nobody:secret@127.0.0.1:1/none",
    ])
    .await;
    assert!(err.contains("cannot open the database"), "{err}");
    assert!(
        !err.contains("secret"),
        "the password is never shown: {err}"
    );
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn migrate_moves_a_single_server_into_the_cluster_database() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("single");
    let mut single = Server::spawn_process(&dir, "127.0.0.1:0", &["--message-rate", "0"]);
    let ann = register(&single, "ann").await;
    let room = id_of(&create_room(&single, &ann, "family", false).await);
    let mut client = Client::joined(&single, &ann, &[&room]).await;
    for text in ["one", "two", "three"] {
        client.say(&room, text).await;
    }
    let bytes = noise(50_000, 3);
    let file = upload(&single, &ann, &room, &bytes).await;
    let data_dir = dir.to_str().expect("UTF-8");
    let to = fresh_database();

    let err = refused(&["migrate", "--from", data_dir, "--to", &to]).await;
    assert!(err.contains("a server is running"), "{err}");
    single.signal("TERM");
    assert_eq!(single.wait_exit(), Some(0));
    let err = refused(&["migrate", "--from", data_dir, "--to", "mysql://x@y/z"]).await;
    assert!(err.contains("PostgreSQL address"), "{err}");

    let shared = tmp.path().join("shared-files");
    let shared_arg = shared.to_str().expect("UTF-8");
    let args = [
        "migrate",
        "--from",
        data_dir,
        "--to",
        &to,
        "--files-dir",
        shared_arg,
    ];
    ok(&args, "").await;
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("data dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("migrate-"))
        .collect();
    assert!(leftovers.is_empty(), "the backup is removed: {leftovers:?}");
    // Into a database that holds data: refused, nothing changed.
    let err = refused(&args).await;
    assert!(err.contains("already holds data"), "{err}");

    let c = Cluster::start_on(0, to, false);
    let mut c = c;
    c.extra = vec!["--files-dir".into(), shared_arg.into()];
    c.add_node(false);
    let node = &c.nodes[0];
    let ann = login_user(node, "ann", "correct horse").await;
    assert_eq!(texts(node, &ann, &room).await, ["one", "two", "three"]);
    assert_eq!(download(node, &ann, &file).await, (200, bytes));
    // New messages continue after the moved ones.
    let mut client = Client::joined(node, &ann, &[&room]).await;
    client.say(&room, "four").await;
    assert_eq!(all_messages(node, &ann, &room).await.len(), 4);
}

#[tokio::test]
async fn a_message_sent_or_edited_on_one_node_is_found_by_a_search_on_another() {
    let c = Cluster::start(2);
    let (n0, n1) = (&c.nodes[0], &c.nodes[1]);
    let ann = register(n0, "ann").await;
    let room = id_of(&create_room(n0, &ann, "lookup", false).await);
    let mut client = Client::joined(n0, &ann, &[&room]).await;
    let sent = client.say(&room, "the zeppelin lands at noon").await;
    let found = found_on(n1, &ann, "zeppelin").await;
    assert_eq!(found["message"]["id"], sent["id"]);
    // An edit made on node 0 is found on node 1 by its new words.
    let path = format!("/api/rooms/{room}/messages/{}", str_of(&sent["id"]));
    let body = serde_json::json!({"message": "the airship lands at noon"});
    let (status, v) = request(n0, "PATCH", &ann, &path, Some(body)).await;
    assert_eq!(status, 200, "{v}");
    let found = found_on(n1, &ann, "airship").await;
    assert_eq!(found["message"]["message"], "the airship lands at noon");
}

/// The first result of `u`'s search for `word` on `s`, waiting for it
/// (bounded by the search tests' bound).
async fn found_on(s: &Server, u: &User, word: &str) -> Value {
    let deadline = std::time::Instant::now() + crate::search::POLL;
    loop {
        let v = crate::search::search(s, u, word).await;
        if let Some(found) = crate::search::results(&v).first() {
            return found.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{word:?} never found: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
