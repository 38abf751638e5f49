//! The data directory's schema (docs/protocol-additions.md, "Data schema
//! 2"): a directory written at schema 1 is upgraded when a server opens
//! it, and everyone's room list (public, private and direct rooms, as a
//! member, a non-member and an admin see them) is the same after the
//! upgrade, after a crash, and after a restore, from a backup of either
//! schema.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// The password every test user has (the one `register` gives).
const PASSWORD: &str = "correct horse";

/// The users of these tests; "dave" is an admin.
const NAMES: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// The room list of `name` (logged in again: the server may have
/// restarted) without the online counts, which a restart resets.
async fn rooms_of(s: &Server, name: &str) -> Vec<Value> {
    let u = login_user(s, name, PASSWORD).await;
    let (status, rooms) = get(s, &u, "/api/rooms").await;
    assert_eq!(status, 200, "{rooms}");
    let mut rooms = rooms.as_array().expect("rooms").clone();
    for room in &mut rooms {
        room.as_object_mut().expect("room").remove("online");
    }
    rooms
}

/// Every user's room list, in [`NAMES`] order.
async fn all_lists(s: &Server) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    for name in NAMES {
        out.push(rooms_of(s, name).await);
    }
    out
}

/// Each user's rooms as (name seen, kind), in [`NAMES`] order.
async fn names_and_kinds(s: &Server) -> Vec<Vec<(String, String)>> {
    let lists = all_lists(s).await;
    lists
        .iter()
        .map(|rooms| {
            rooms
                .iter()
                .map(|r| (str_of(&r["name"]), str_of(&r["kind"])))
                .collect()
        })
        .collect()
}

/// `(name, kind)` pairs, for comparing with [`names_and_kinds`].
fn seen(rooms: &[(&str, &str)]) -> Vec<(String, String)> {
    rooms
        .iter()
        .map(|(n, k)| ((*n).to_owned(), (*k).to_owned()))
        .collect()
}

/// Opens the stopped server's database directly.
fn sled_of(dir: &Path) -> sled::Db {
    // The killed process's lock goes with it; sled may still be letting
    // go of an earlier handle of this test for a moment.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match sled::open(dir.join("db")) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("waiting for the database: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("open the database: {e}"),
        }
    }
}

/// The schema version the stopped server's directory holds.
fn stored_schema(dir: &Path) -> u32 {
    let db = sled_of(dir);
    let meta = db.open_tree("meta").expect("meta");
    let v = meta.get("schema_version").expect("get").expect("a version");
    u32::from_be_bytes(v.as_ref().try_into().expect("4 bytes"))
}

/// Turns the stopped server's directory into what schema 1 wrote: the
/// version 1, and no index of public or direct rooms.
fn make_schema_1(dir: &Path) {
    let db = sled_of(dir);
    let meta = db.open_tree("meta").expect("meta");
    meta.insert("schema_version", &1u32.to_be_bytes())
        .expect("version");
    for tree in ["public_rooms", "direct_rooms"] {
        assert!(db.drop_tree(tree).expect("drop"), "{tree} existed");
    }
    db.flush().expect("flush");
}

/// Runs `chatroom ARGS` (an admin command), which must succeed.
fn chatroom(args: &[&str]) {
    let out = run_bounded(admin_command(args), b"", 6 * WAIT).expect("admin command");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// `POST /api/dms` as `u` with `with`: the status and the answer.
async fn dm(s: &Server, u: &User, with: &str) -> (u16, Value) {
    let body = json!({ "usernames": [with] });
    request(s, "POST", u, "/api/dms", Some(body)).await
}

/// Kills the server (no clean shutdown) and starts it again.
fn crash_and_respawn(s: &mut Server) {
    s.signal("KILL");
    s.wait_exit();
    s.respawn();
}

#[tokio::test]
async fn room_lists_survive_an_upgrade_a_crash_and_a_restore() {
    let mut s = Server::start_process();
    let [alice, _bob, carol] = register_all(&s, ["alice", "bob", "carol"]).await;
    run_create_admin(&s, "dave", PASSWORD);
    let lobby = room_id(&s, &alice, "lobby", false).await;
    let den = room_id(&s, &alice, "den", true).await;
    add_member(&s, &alice, &den, "bob").await;
    let (status, ab) = dm(&s, &alice, "bob").await;
    assert_eq!(status, 201, "{ab}");
    let (status, cd) = dm(&s, &carol, "dave").await;
    assert_eq!(status, 201, "{cd}");
    // Bob a member of the private room, carol of nothing but her direct
    // room, dave an admin in neither the private room nor alice's.
    let expected = vec![
        seen(&[("bob", "direct"), ("den", "private"), ("lobby", "public")]),
        seen(&[("alice", "direct"), ("den", "private"), ("lobby", "public")]),
        seen(&[("dave", "direct"), ("lobby", "public")]),
        seen(&[("carol", "direct"), ("lobby", "public")]),
    ];
    assert_eq!(names_and_kinds(&s).await, expected);
    let before = all_lists(&s).await;

    s.signal("KILL");
    s.wait_exit();
    make_schema_1(&s.dir);
    s.respawn();
    assert_eq!(all_lists(&s).await, before, "after the upgrade");
    let carol = login_user(&s, "carol", PASSWORD).await;
    let (status, again) = dm(&s, &carol, "dave").await;
    assert_eq!((status, id_of(&again)), (200, id_of(&cd)), "{again}");
    // The admin still opens the private room by id, not alice's and bob's.
    let dave = login_user(&s, "dave", PASSWORD).await;
    let room = |id: &str| format!("/api/rooms/{id}");
    assert_eq!(get(&s, &dave, &room(&den)).await.0, 200);
    assert_eq!(get(&s, &dave, &room(&id_of(&ab))).await.0, 404);

    // The index follows rooms created and deleted, through a crash.
    let alice = login_user(&s, "alice", PASSWORD).await;
    room_id(&s, &alice, "agora", false).await;
    assert_eq!(
        request(&s, "DELETE", &alice, &room(&lobby), None).await.0,
        204
    );
    crash_and_respawn(&mut s);
    let expected = vec![
        seen(&[("agora", "public"), ("bob", "direct"), ("den", "private")]),
        seen(&[("agora", "public"), ("alice", "direct"), ("den", "private")]),
        seen(&[("agora", "public"), ("dave", "direct")]),
        seen(&[("agora", "public"), ("carol", "direct")]),
    ];
    assert_eq!(names_and_kinds(&s).await, expected, "after a crash");
    let now = all_lists(&s).await;

    // A backup restores, and so does one that says schema 1.
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("chat.backup");
    chatroom(&["backup", "--data-dir", p(&s.dir), "--output", p(&file)]);
    let text = std::fs::read_to_string(&file).expect("backup");
    let header = r#""schema":2"#;
    assert!(text.lines().next().expect("header").contains(header));
    for schema in [2, 1] {
        let input = tmp.path().join(format!("schema-{schema}.backup"));
        let old = text.replacen(header, &format!(r#""schema":{schema}"#), 1);
        std::fs::write(&input, old).expect("write");
        let restored = tmp.path().join(format!("restored-{schema}"));
        chatroom(&["restore", "--input", p(&input), "--data-dir", p(&restored)]);
        let r = Server::spawn(&restored, "127.0.0.1:0", &["--message-rate", "0"]);
        assert_eq!(all_lists(&r).await, now, "restored from schema {schema}");
    }

    s.signal("TERM");
    assert_eq!(s.wait_exit(), Some(0));
    assert_eq!(stored_schema(&s.dir), 2);
}
