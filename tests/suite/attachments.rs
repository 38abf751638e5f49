//! Files attached to messages (docs/protocol-additions.md, "Attachments
//! on messages"): `sendMessage` with `attachments` on both doors, the
//! message object's `attachments` wherever a message is served, every
//! refusal, two sends racing for one file, a message's deletion taking
//! its files, the sweep of files never attached, and `export`, `backup`
//! and `restore` with attachments.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::socketio::Sio;
use crate::thumbnails::upload;
use common::*;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use serde_json::{json, Value};

const CMD_WAIT: Duration = Duration::from_secs(60);

/// A small PNG photo: it gets a size and a thumbnail.
fn photo() -> Vec<u8> {
    let pixels = RgbImage::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(pixels)
        .write_to(&mut out, ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

/// Uploads `bytes` to `room` as `u`; the file's id.
async fn up(s: &Server, u: &User, room: &str, name: &str, bytes: &[u8]) -> String {
    id_of(&upload(s, u, room, name, bytes).await)
}

/// `sendMessage` with attachments; the answer (ack or error).
async fn send(c: &mut Client, room: &str, text: &str, files: &[&str]) -> Value {
    c.call(
        "sendMessage",
        json!({"roomId": room, "message": text, "attachments": files}),
    )
    .await
}

/// The code of an error answer, and its message.
fn refusal(answer: &Value) -> (String, String) {
    assert_eq!(answer["event"], "error", "expected a refusal: {answer}");
    (
        str_of(&answer["data"]["code"]),
        str_of(&answer["data"]["message"]),
    )
}

/// The status of `GET /api/files/{id}` for `u`.
async fn file_status(s: &Server, u: &User, id: &str) -> u16 {
    get(s, u, &format!("/api/files/{id}")).await.0
}

/// Where the blob of `bytes` lives under the server's data directory.
fn blob_path(s: &Server, bytes: &[u8]) -> PathBuf {
    let h = chatroom::files::Sha256::of(bytes).to_string();
    s.dir.join("files").join(&h[0..2]).join(&h[2..4]).join(&h)
}

/// The newest messages of `room`, oldest first.
async fn history(s: &Server, u: &User, room: &str) -> Vec<Value> {
    let (status, page) = get(s, u, &format!("/api/rooms/{room}/messages")).await;
    assert_eq!(status, 200, "{page}");
    page["messages"].as_array().expect("messages").clone()
}

/// Checks `m`'s attachments: the photo `img` (with its size and
/// thumbnail) then the text file `doc`.
#[track_caller]
fn assert_photo_and_doc(m: &Value, img: &str, doc: &str) {
    let a = m["attachments"].as_array().unwrap_or_else(|| panic!("{m}"));
    assert_eq!(a.len(), 2, "{m}");
    assert_eq!(a[0]["id"], img);
    assert_eq!(a[0]["name"], "photo.png");
    assert_eq!(a[0]["type"], "image/png");
    assert_eq!(
        (a[0]["width"].as_u64(), a[0]["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert_eq!(a[0]["url"], format!("/api/files/{img}"));
    assert_eq!(a[0]["thumbnailUrl"], format!("/api/files/{img}/thumbnail"));
    assert_eq!(a[1]["id"], doc);
    assert_eq!(
        (a[1]["name"].as_str(), a[1]["size"].as_u64()),
        (Some("notes.txt"), Some(5))
    );
    assert_eq!(a[1]["type"], "text/plain");
    assert_eq!(a[1]["url"], format!("/api/files/{doc}"));
    assert!(
        a[1].get("thumbnailUrl").is_none() && a[1].get("width").is_none(),
        "{m}"
    );
}

#[tokio::test]
async fn attachments_are_served_live_in_history_in_catch_up_and_after_edits() {
    let (s, [alice, bob], room) = general(["alice", "bob"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let mut b = Client::joined(&s, &bob, &[&room]).await;
    let before = id_of(&a.say(&room, "first").await);
    b.next_event("receiveMessage").await;
    let img = up(&s, &alice, &room, "photo.png", &photo()).await;
    let doc = up(&s, &alice, &room, "notes.txt", b"hello").await;
    let ack = send(&mut a, &room, "", &[&img, &doc]).await;
    let id = id_of(&ack_data(&ack, "send with attachments"));
    let live = b.next_event("receiveMessage").await;
    assert_eq!(live["data"]["id"], id);
    assert_eq!(live["data"]["message"], "");
    assert_photo_and_doc(&live["data"], &img, &doc);

    let page = history(&s, &bob, &room).await;
    assert!(
        page[0].get("attachments").is_none(),
        "omitted when none: {}",
        page[0]
    );
    assert_photo_and_doc(&page[1], &img, &doc);

    let mut c = Client::connect(&s, &bob).await;
    let r = c
        .emit("joinRoom", json!({"roomId": room, "since": before}))
        .await;
    // The ack comes first, then the messages after `since`.
    ack_data(&c.answer(&r, &mut Vec::new()).await, "join with since");
    let resumed = c.next_event("receiveMessage").await;
    assert_eq!(resumed["data"]["id"], id);
    assert_photo_and_doc(&resumed["data"], &img, &doc);

    for text in ["now with words", ""] {
        let (status, edited) = request(
            &s,
            "PATCH",
            &alice,
            &format!("/api/rooms/{room}/messages/{id}"),
            Some(json!({ "message": text })),
        )
        .await;
        assert_eq!(status, 200, "{edited}");
        assert_photo_and_doc(&edited, &img, &doc);
        let event = b.next_event("messageEdited").await;
        assert_photo_and_doc(&event["data"], &img, &doc);
    }
    // A message without attachments still needs words after an edit.
    let (status, _) = request(
        &s,
        "PATCH",
        &alice,
        &format!("/api/rooms/{room}/messages/{before}"),
        Some(json!({ "message": " " })),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(file_status(&s, &bob, &img).await, 200);
}

#[tokio::test]
async fn the_socketio_door_sends_and_refuses_attachments_too() {
    let (s, [alice, bob], room) = general(["alice", "bob"]).await;
    let file = up(&s, &alice, &room, "notes.txt", b"hello").await;
    let mut a = Sio::connect(&s, &alice).await;
    let mut b = Sio::connect(&s, &bob).await;
    a.call(1, "joinRoom", json!({ "roomId": room })).await;
    b.call(1, "joinRoom", json!({ "roomId": room })).await;
    let data = json!({"roomId": room, "message": "", "attachments": [file]});
    let sent = a.call(2, "sendMessage", data.clone()).await;
    assert!(sent["id"].is_string(), "{sent}");
    let live = loop {
        let (name, data) = b.event().await;
        if name == "receiveMessage" {
            break data;
        }
    };
    assert_eq!(live["attachments"][0]["id"], file, "{live}");
    assert_eq!(live["attachments"][0]["url"], format!("/api/files/{file}"));
    let again = a.call(3, "sendMessage", data).await;
    assert_eq!(again["error"]["code"], "invalid_attachment", "{again}");
    let page = history(&s, &bob, &room).await;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["attachments"][0]["name"], "notes.txt");
}

#[tokio::test]
async fn every_unattachable_file_is_refused_saying_which_and_why() {
    let (s, [alice, bob], room) = general(["alice", "bob"]).await;
    let other = room_id(&s, &alice, "other", false).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let mine = up(&s, &alice, &room, "a.txt", b"mine").await;
    let elsewhere = up(&s, &alice, &other, "b.txt", b"elsewhere").await;
    let bobs = up(&s, &bob, &room, "c.txt", b"bob's").await;
    let used = up(&s, &alice, &room, "d.txt", b"used").await;
    ack_data(&send(&mut a, &room, "x", &[&used]).await, "first use");
    let many: Vec<String> = (0..11).map(|i| format!("{i:016x}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let cases: [(&[&str], &str); 7] = [
        (&["00000000deadbeef"], "no such file"),
        (&["not-an-id"], "no such file"),
        (&[&mine, &bobs], "not uploaded by you"),
        (&[&elsewhere], "another room"),
        (&[&used], "already attached"),
        (&many, "too many"),
        (&[&mine, &mine], "duplicate"),
    ];
    for (files, why) in cases {
        let (code, message) = refusal(&send(&mut a, &room, "x", files).await);
        assert_eq!(code, "invalid_attachment", "{files:?}");
        assert!(message.contains(why), "{files:?}: {message:?} says {why:?}");
    }
    // Words are still needed without attachments; not with them.
    let (code, _) = refusal(&send(&mut a, &room, " ", &[]).await);
    assert_eq!(code, "validation_failed");
    // A refused message claimed nothing: its good file is still free.
    ack_data(&send(&mut a, &room, "  ", &[&mine]).await, "after refusals");
    assert_eq!(history(&s, &alice, &room).await.len(), 2);
}

#[tokio::test]
async fn two_sends_racing_for_one_file_attach_it_once_and_a_resend_is_answered_the_same() {
    let (s, [alice], room) = general(["alice"]).await;
    let mut one = Client::joined(&s, &alice, &[&room]).await;
    let mut two = Client::joined(&s, &alice, &[&room]).await;
    for round in 0..8 {
        let file = up(
            &s,
            &alice,
            &room,
            "r.txt",
            format!("round {round}").as_bytes(),
        )
        .await;
        let data = json!({"roomId": room, "message": "", "attachments": [file]});
        let (r1, r2) = tokio::join!(
            one.emit("sendMessage", data.clone()),
            two.emit("sendMessage", data)
        );
        let (mut skipped1, mut skipped2) = (Vec::new(), Vec::new());
        let (x, y) = tokio::join!(
            one.answer(&r1, &mut skipped1),
            two.answer(&r2, &mut skipped2)
        );
        let acks = [&x, &y].iter().filter(|f| f["event"] == "ack").count();
        assert_eq!(acks, 1, "round {round}: {x} {y}");
        let lost = if x["event"] == "ack" { &y } else { &x };
        assert_eq!(refusal(lost).0, "invalid_attachment", "round {round}");
    }
    let file = up(&s, &alice, &room, "k.txt", b"keyed").await;
    let data = json!({"roomId": room, "message": "k", "attachments": [file], "clientId": "c-1"});
    let first = ack_data(&one.call("sendMessage", data.clone()).await, "keyed");
    let again = ack_data(&one.call("sendMessage", data).await, "resent");
    assert_eq!(first["id"], again["id"], "the resend is the same message");
    let page = history(&s, &alice, &room).await;
    assert_eq!(page.len(), 9);
    assert!(page
        .iter()
        .all(|m| m["attachments"].as_array().map(Vec::len) == Some(1)));
}

#[tokio::test]
async fn deleting_a_message_deletes_its_files_and_their_bytes_once_unshared() {
    let (s, [alice, bob], room) = general(["alice", "bob"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let bytes = b"the same bytes, uploaded twice";
    let first = up(&s, &alice, &room, "one.txt", bytes).await;
    let second = up(&s, &alice, &room, "two.txt", bytes).await;
    let m1 = id_of(&ack_data(&send(&mut a, &room, "", &[&first]).await, "m1"));
    let m2 = id_of(&ack_data(&send(&mut a, &room, "", &[&second]).await, "m2"));
    let delete = |m: String| {
        let (s, alice, room) = (&s, &alice, &room);
        async move {
            request(
                s,
                "DELETE",
                alice,
                &format!("/api/rooms/{room}/messages/{m}"),
                None,
            )
            .await
            .0
        }
    };
    assert_eq!(delete(m1).await, 204);
    assert_eq!(file_status(&s, &bob, &first).await, 404);
    assert_eq!(file_status(&s, &bob, &second).await, 200);
    assert!(
        blob_path(&s, bytes).exists(),
        "kept: another file has the bytes"
    );
    assert_eq!(delete(m2).await, 204);
    assert_eq!(file_status(&s, &bob, &second).await, 404);
    assert!(!blob_path(&s, bytes).exists(), "gone with the last file");
}

/// Polls (bounded) until `GET /api/files/{id}` answers `want`.
async fn wait_for_status(s: &Server, u: &User, id: &str, want: u16) {
    let deadline = Instant::now() + WAIT;
    while file_status(s, u, id).await != want {
        assert!(Instant::now() < deadline, "file {id} never answered {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_sweep_removes_files_never_attached_and_keeps_attached_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let first = Server::spawn(&dir, "127.0.0.1:0", &["--message-rate", "0"]);
    let (s, [alice], room) = general_on(first, ["alice"]).await;
    let idle = up(&s, &alice, &room, "idle.txt", b"never attached").await;
    let kept = up(&s, &alice, &room, "kept.txt", b"attached").await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    ack_data(&send(&mut a, &room, "", &[&kept]).await, "attach");
    drop(a);
    // The default (a day) leaves both at the next start's sweep.
    assert_eq!(file_status(&s, &alice, &idle).await, 200);
    drop(s);
    let env = [("CHATROOM_UNATTACHED_FILE_HOURS", "0")];
    let s = Server::spawn_with_env(&dir, "127.0.0.1:0", &["--message-rate", "0"], &env);
    let alice = login_user(&s, "alice", "correct horse").await;
    wait_for_status(&s, &alice, &idle, 404).await;
    assert!(!blob_path(&s, b"never attached").exists());
    assert_eq!(file_status(&s, &alice, &kept).await, 200);
    assert!(blob_path(&s, b"attached").exists());
}

fn run(args: &[&str]) -> Output {
    run_bounded(admin_command(args), b"", CMD_WAIT).unwrap_or_else(|e| panic!("{e}"))
}

fn text(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `chatroom export` or `backup` of `dir` into `out` (`--output`), or
/// `restore` of `out` (`--input`) into `dir`.
fn admin(command: &str, dir: &Path, out: &Path) -> Output {
    let io = if command == "restore" {
        "--input"
    } else {
        "--output"
    };
    run(&[command, "--data-dir", text(dir), io, text(out)])
}

#[tokio::test]
async fn export_lists_each_messages_attachments() {
    let (s, [alice], room) = general(["alice"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    a.say(&room, "plain").await;
    let doc = up(&s, &alice, &room, "notes.txt", b"hello").await;
    ack_data(&send(&mut a, &room, "see", &[&doc]).await, "attach");
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("export.jsonl");
    let out = admin("export", &s.dir, &file);
    assert!(out.status.success(), "export: {out:?}");
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .expect("export")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].get("attachments").is_none(), "{}", lines[0]);
    assert_eq!(
        lines[1]["attachments"],
        json!([{"name": "notes.txt", "size": 5, "type": "text/plain"}])
    );
}

#[tokio::test]
async fn a_backup_restores_messages_with_attachments_and_refuses_a_file_of_a_missing_message() {
    let (s, [alice], room) = general(["alice"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let img = up(&s, &alice, &room, "photo.png", &photo()).await;
    let doc = up(&s, &alice, &room, "notes.txt", b"hello").await;
    ack_data(&send(&mut a, &room, "", &[&img, &doc]).await, "attach");
    let tmp = tempfile::tempdir().expect("tempdir");
    let backup = tmp.path().join("chat.backup");
    let out = admin("backup", &s.dir, &backup);
    assert!(out.status.success(), "backup: {out:?}");

    let target = tmp.path().join("restored");
    let out = admin("restore", &target, &backup);
    assert!(out.status.success(), "restore: {out:?}");
    let r = Server::spawn(&target, "127.0.0.1:0", &[]);
    let alice = login_user(&r, "alice", "correct horse").await;
    assert_photo_and_doc(&history(&r, &alice, &room).await[0], &img, &doc);
    assert_eq!(
        get(&r, &alice, &format!("/api/files/{img}/thumbnail"))
            .await
            .0,
        200
    );
    assert_eq!(file_status(&r, &alice, &doc).await, 200);
    drop(r);

    let lines = std::fs::read_to_string(&backup).expect("backup");
    let mut changed = Vec::new();
    for line in lines.lines() {
        let mut v: Value = serde_json::from_str(line).expect("json");
        if v["file"]["id"] == doc {
            v["file"]["messageId"] = json!("00000000fffffff0");
        }
        changed.push(v.to_string());
    }
    let bad = tmp.path().join("bad.backup");
    std::fs::write(&bad, changed.join("\n") + "\n").expect("write");
    let target = tmp.path().join("refused");
    let out = admin("restore", &target, &bad);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "restore accepted it: {err}");
    assert!(
        err.contains(&format!("file {doc}"))
            && err.contains("attached to message 00000000fffffff0"),
        "{err}"
    );
    assert!(!target.join("db").exists(), "no database was left");
}

#[tokio::test]
async fn a_message_with_files_acked_survives_kill_9_with_its_files_claimed() {
    let mut s = Server::start_process();
    let alice = register(&s, "alice").await;
    let room = room_id(&s, &alice, "general", false).await;
    let img = up(&s, &alice, &room, "photo.png", &photo()).await;
    let doc = up(&s, &alice, &room, "notes.txt", b"hello").await;
    let mut c = Client::joined(&s, &alice, &[&room]).await;
    let ack = ack_data(&send(&mut c, &room, "look", &[&img, &doc]).await, "sent");
    // kill -9 the moment the ack is in: it promised the message and its
    // claims on both files are on disk.
    s.child.kill().expect("SIGKILL");
    s.child.wait().expect("reaped");
    drop(c);
    s.respawn();

    let page = history(&s, &alice, &room).await;
    assert_eq!(page.len(), 1, "{page:?}");
    assert_eq!(page[0]["id"], ack["id"]);
    assert_photo_and_doc(&page[0], &img, &doc);
    for (id, bytes) in [(&img, photo()), (&doc, b"hello".to_vec())] {
        assert_eq!(file_status(&s, &alice, id).await, 200);
        assert!(blob_path(&s, &bytes).exists(), "the bytes of {id}");
    }
    let mut c = Client::joined(&s, &alice, &[&room]).await;
    let again = send(&mut c, &room, "again", &[&doc]).await;
    assert_eq!(refusal(&again).0, "invalid_attachment", "still claimed");
}
