//! Finding people and talking to them (docs/protocol-additions.md, "User
//! directory, direct rooms and member lists"): the directory of users,
//! direct rooms (one room a set of people, whoever starts it, invisible to
//! everyone else, admins included), the member list of private and direct
//! rooms, and direct rooms through a backup and a restore.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The password every test user has (the one `register` gives).
const PASSWORD: &str = "correct horse";

/// `POST /api/dms` as `u` naming `names`: the status and the answer.
async fn dm(s: &Server, u: &User, names: &[&str]) -> (u16, Value) {
    request(
        s,
        "POST",
        u,
        "/api/dms",
        Some(json!({ "usernames": names })),
    )
    .await
}

/// Starts (or finds) a direct room, which must succeed; its id.
async fn dm_id(s: &Server, u: &User, names: &[&str]) -> String {
    let (status, v) = dm(s, u, names).await;
    assert!(status == 200 || status == 201, "dm {names:?}: {status} {v}");
    id_of(&v)
}

/// `name` made an admin (through `create-admin`), logged in again.
async fn admin(s: &Server, name: &str) -> User {
    run_create_admin(s, name, PASSWORD);
    login_user(s, name, PASSWORD).await
}

/// The usernames a directory answer lists, checking each entry's shape.
fn usernames(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .map(|e| {
            let keys: Vec<&String> = e.as_object().expect("an object").keys().collect();
            assert_eq!(keys, ["id", "username"], "entry {e}");
            str_of(&e["username"])
        })
        .collect()
}

/// Asserts an error answer: its status and its code.
#[track_caller]
fn assert_refused((status, v): (u16, Value), expected: u16, code: &str) {
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (expected, Some(code)),
        "{v}"
    );
}

/// The room `id` in `u`'s room list, if there.
async fn listed(s: &Server, u: &User, id: &str) -> Option<Value> {
    let (status, rooms) = get(s, u, "/api/rooms").await;
    assert_eq!(status, 200, "{rooms}");
    rooms
        .as_array()
        .expect("rooms")
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
}

#[tokio::test]
async fn the_directory_lists_enabled_users_by_prefix_within_the_limit() {
    let s = Server::start();
    let users = register_all(&s, ["alice", "Alfred", "albert", "ALMA", "bob"]).await;
    let root = admin(&s, "alice").await;
    assert_eq!(user_action(&s, &root, &users[2].id, "disable").await.0, 204);
    let dir = |q: &str| format!("/api/users?{q}");

    let (status, v) = get(&s, &users[4], &dir("q=AL")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(usernames(&v), ["Alfred", "alice", "ALMA"]);
    assert_eq!(v[1]["id"], json!(users[0].id));
    let (_, v) = get(&s, &users[4], &dir("q=al&limit=2")).await;
    assert_eq!(usernames(&v), ["Alfred", "alice"]);
    let (_, v) = get(&s, &users[4], "/api/users").await;
    assert_eq!(usernames(&v), ["Alfred", "alice", "ALMA", "bob"]);
    let (_, v) = get(&s, &users[4], &dir("q=alic&limit=500")).await;
    assert_eq!(
        usernames(&v),
        ["alice"],
        "a large limit is clamped, not refused"
    );
    let (_, v) = get(&s, &users[4], &dir("q=zed")).await;
    assert_eq!(v, json!([]));
    let (_, v) = get(&s, &users[4], &dir("q=a%20b")).await;
    assert_eq!(v, json!([]), "a prefix no username can have");

    for bad in ["limit=0", "limit=-1", "limit=ten", "limit=1.5"] {
        assert_refused(
            get(&s, &users[4], &dir(bad)).await,
            400,
            "validation_failed",
        );
    }
    let res = fetch(&s, "/api/users?q=a").await;
    assert_eq!(res.status(), 401);

    // Enabled again, albert is back.
    assert_eq!(user_action(&s, &root, &users[2].id, "enable").await.0, 204);
    let (_, v) = get(&s, &users[4], &dir("q=alb")).await;
    assert_eq!(usernames(&v), ["albert"]);
}

#[tokio::test]
async fn the_directory_gives_twenty_by_default_and_at_most_fifty() {
    let s = Server::start();
    let mut last = None;
    for i in 0..52 {
        last = Some(register(&s, &format!("user{i:02}")).await);
    }
    let u = last.expect("a user");
    let (_, v) = get(&s, &u, "/api/users?q=USER").await;
    let names = usernames(&v);
    assert_eq!(names.len(), 20);
    assert_eq!(
        (names[0].as_str(), names[19].as_str()),
        ("user00", "user19")
    );
    let (_, v) = get(&s, &u, "/api/users?q=user&limit=51").await;
    assert_eq!(usernames(&v).len(), 50);
}

#[tokio::test]
async fn a_direct_room_is_the_same_whoever_starts_it_in_any_order() {
    let s = Server::start();
    let [alice, bob, carol, dave] = register_all(&s, ["alice", "Bob", "carol", "dave"]).await;

    let (status, room) = dm(&s, &alice, &["carol", "bob"]).await;
    assert_eq!(status, 201, "{room}");
    assert_eq!(room["kind"], "direct");
    assert_eq!(room["private"], true);
    assert_eq!(room["name"], "Bob, carol");
    assert_eq!(room["description"], "");
    assert_eq!(room["ownerId"], json!(alice.id));
    let id = id_of(&room);

    let (status, again) = dm(&s, &bob, &["CAROL", "Alice"]).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(id_of(&again), id);
    assert_eq!(again["name"], "alice, carol");
    let (status, again) = dm(&s, &carol, &["bob", "alice"]).await;
    assert_eq!((status, id_of(&again)), (200, id.clone()));
    assert_eq!(dm(&s, &alice, &["bob", "carol"]).await.0, 200);

    // Another set of people is another room: a pair is not the trio.
    let (status, pair) = dm(&s, &bob, &["alice"]).await;
    assert_eq!(status, 201, "{pair}");
    assert_ne!(id_of(&pair), id);
    assert_eq!(pair["name"], "alice");
    assert_eq!(dm_id(&s, &alice, &["BOB"]).await, id_of(&pair));

    // Each participant lists it, named for the others; no one else does.
    for (u, name) in [
        (&alice, "Bob, carol"),
        (&bob, "alice, carol"),
        (&carol, "alice, Bob"),
    ] {
        let r = listed(&s, u, &id).await.expect("listed");
        assert_eq!(
            (r["name"].as_str(), r["kind"].as_str()),
            (Some(name), Some("direct"))
        );
        let (status, shown) = get(&s, u, &format!("/api/rooms/{id}")).await;
        assert_eq!((status, shown["name"].as_str()), (200, Some(name)));
    }
    assert!(listed(&s, &dave, &id).await.is_none());
    // The list stays sorted by the name each caller sees.
    let (_, rooms) = get(&s, &alice, "/api/rooms").await;
    let names: Vec<String> = rooms
        .as_array()
        .expect("rooms")
        .iter()
        .map(|r| str_of(&r["name"]).to_lowercase())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    // Named rooms say their kind too.
    let public = create_room(&s, &dave, "Lobby", false).await;
    let private = create_room(&s, &dave, "Den", true).await;
    assert_eq!(
        (public["kind"].as_str(), private["kind"].as_str()),
        (Some("public"), Some("private"))
    );
}

#[tokio::test]
async fn concurrent_starts_of_one_conversation_give_one_room() {
    let s = Server::start();
    let [alice, bob, carol] = register_all(&s, ["alice", "bob", "carol"]).await;
    for names in [vec!["alice", "bob"], vec!["alice", "bob", "carol"]] {
        let starters = [&alice, &bob, &carol];
        let calls = (0..8).map(|i| {
            let who = starters[i % (names.len())];
            let mut others: Vec<&str> = names.iter().copied().filter(|n| *n != who.name).collect();
            if i % 2 == 1 {
                others.reverse();
            }
            let s = &s;
            async move { dm(s, who, &others).await }
        });
        let answers = futures_util::future::join_all(calls).await;
        let created = answers.iter().filter(|(status, _)| *status == 201).count();
        assert_eq!(created, 1, "{names:?}: {answers:?}");
        assert!(answers
            .iter()
            .all(|(st, v)| (*st == 200 || *st == 201) && v["id"] == answers[0].1["id"]));
        let id = id_of(&answers[0].1);
        let count = |rooms: Value| {
            rooms
                .as_array()
                .expect("rooms")
                .iter()
                .filter(|r| r["kind"] == "direct" && r["id"] == id)
                .count()
        };
        assert_eq!(count(get(&s, &alice, "/api/rooms").await.1), 1);
    }
    let (_, rooms) = get(&s, &alice, "/api/rooms").await;
    assert_eq!(rooms.as_array().map(Vec::len), Some(2), "{rooms}");
}

/// The next text message of an Engine.IO WebSocket other than a ping.
async fn engine_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Text(t))) if t.as_str() != "2" => return t.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("closed: {other:?}"),
        }
    }
}

/// `joinRoom` of `room` over a Socket.IO session of `u`: the answer.
async fn socketio_join(s: &Server, u: &User, room: &str) -> Value {
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", s.addr);
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("connect");
    assert!(engine_text(&mut ws).await.starts_with("0{"), "engine open");
    let connect = format!("40{}", json!({ "token": u.token }));
    ws.send(Message::text(connect)).await.expect("connect");
    let join = format!("421{}", json!(["joinRoom", { "roomId": room }]));
    ws.send(Message::text(join)).await.expect("join");
    loop {
        let text = engine_text(&mut ws).await;
        if let Some(rest) = text.strip_prefix("431") {
            let args: Value = serde_json::from_str(rest).expect("ack args");
            return args[0].clone();
        }
    }
}

#[tokio::test]
async fn a_direct_room_is_not_found_by_anyone_else_admins_included() {
    let s = Server::start();
    let [alice, bob, carol, _] = register_all(&s, ["alice", "bob", "carol", "eve"]).await;
    let id = dm_id(&s, &alice, &["bob"]).await;
    let mut c = Client::joined(&s, &alice, &[&id]).await;
    let mid = id_of(&c.say(&id, "just us").await);
    let eve = admin(&s, "eve").await;

    for outsider in [&carol, &eve] {
        let routes = [
            ("GET", format!("/api/rooms/{id}"), None),
            ("GET", format!("/api/rooms/{id}/messages"), None),
            ("GET", format!("/api/rooms/{id}/online"), None),
            ("GET", format!("/api/rooms/{id}/members"), None),
            (
                "POST",
                format!("/api/rooms/{id}/members"),
                Some(json!({"username": outsider.name})),
            ),
            ("DELETE", format!("/api/rooms/{id}/members/bob"), None),
            (
                "PATCH",
                format!("/api/rooms/{id}/messages/{mid}"),
                Some(json!({"message": "x"})),
            ),
            ("DELETE", format!("/api/rooms/{id}/messages/{mid}"), None),
            ("DELETE", format!("/api/rooms/{id}"), None),
        ];
        for (method, path, body) in routes {
            let answer = request(&s, method, outsider, &path, body).await;
            assert_refused(answer, 404, "not_found");
        }
        assert!(listed(&s, outsider, &id).await.is_none());
        let mut ws = Client::connect(&s, outsider).await;
        let answer = ws.call("joinRoom", json!({ "roomId": id })).await;
        assert_eq!(answer["event"], "error", "{answer}");
        assert_eq!(answer["data"]["code"], "not_found");
        let answer = ws.send_message(&id, "let me in").await;
        assert_eq!(answer["data"]["code"], "not_joined", "{answer}");
        let answer = socketio_join(&s, outsider, &id).await;
        assert_eq!(answer["error"]["code"], "not_found", "{answer}");
    }
    // Nothing was changed, and the people of the room still see it all.
    let history = all_messages(&s, &bob, &id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["message"], "just us");
    let ack = socketio_join(&s, &bob, &id).await;
    assert_eq!(ack["room"]["name"], "alice", "{ack}");
    assert_eq!(ack["room"]["kind"], "direct");
    // An admin who is one of the people sees it like anyone of them.
    let with_admin = dm_id(&s, &eve, &["carol"]).await;
    assert_eq!(
        get(&s, &eve, &format!("/api/rooms/{with_admin}/messages"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_direct_room_has_fixed_people_and_no_room_name() {
    let s = Server::start();
    let [alice, bob, carol, dave] = register_all(&s, ["alice", "bob", "carol", "dave"]).await;
    let id = dm_id(&s, &alice, &["bob"]).await;

    // Member changes and deletion are refused, to its people too.
    let add = Some(json!({"username": "carol"}));
    let path = format!("/api/rooms/{id}/members");
    let answer = request(&s, "POST", &alice, &path, add).await;
    assert_refused(answer, 400, "validation_failed");
    for (u, who) in [(&alice, "bob"), (&bob, "bob"), (&alice, "alice")] {
        let path = format!("/api/rooms/{id}/members/{who}");
        let answer = request(&s, "DELETE", u, &path, None).await;
        assert_refused(answer, 400, "validation_failed");
    }
    assert_refused(
        request(&s, "DELETE", &alice, &format!("/api/rooms/{id}"), None).await,
        400,
        "validation_failed",
    );
    assert!(listed(&s, &carol, &id).await.is_none());

    // No place in the room names: named rooms may take any of them.
    for name in ["bob", "alice", "alice, bob"] {
        create_room(&s, &dave, name, false).await;
    }

    // Who started it has no say over the other's messages.
    let mut a = Client::joined(&s, &alice, &[&id]).await;
    let mut b = Client::joined(&s, &bob, &[&id]).await;
    let from_bob = id_of(&b.say(&id, "hi alice").await);
    a.next_event("receiveMessage").await;
    let path = format!("/api/rooms/{id}/messages/{from_bob}");
    assert_eq!(request(&s, "DELETE", &alice, &path, None).await.0, 403);

    // A disabled participant leaves the conversation readable, but cannot
    // be named in a new one.
    let root = admin(&s, "dave").await;
    assert_eq!(user_action(&s, &root, &bob.id, "disable").await.0, 204);
    let history = all_messages(&s, &alice, &id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        listed(&s, &alice, &id).await.expect("still listed")["name"],
        "bob"
    );
    assert_refused(dm(&s, &alice, &["bob"]).await, 404, "not_found");
    let (status, members) = get(&s, &alice, &format!("/api/rooms/{id}/members")).await;
    assert_eq!(status, 200);
    assert_eq!(members.as_array().map(Vec::len), Some(2), "{members}");
}

#[tokio::test]
async fn starting_a_direct_room_refuses_bad_lists_of_people() {
    let s = Server::start();
    let [alice, ..] = register_all(&s, ["alice", "bob", "carol"]).await;
    let nine: Vec<String> = (0..9).map(|i| format!("friend{i}")).collect();
    for name in &nine {
        register(&s, name).await;
    }
    let eight: Vec<&str> = nine[..8].iter().map(String::as_str).collect();
    let all_nine: Vec<&str> = nine.iter().map(String::as_str).collect();
    let bad: [(&[&str], u16); 7] = [
        (&[], 400),
        (&all_nine, 400),
        (&["bob", "alice"], 400),
        (&["bob", "ALICE"], 400),
        (&["bob", "carol", "Bob"], 400),
        (&["x"], 400),
        (&["nobody"], 404),
    ];
    for (names, expected) in bad {
        let code = if expected == 400 {
            "validation_failed"
        } else {
            "not_found"
        };
        assert_refused(dm(&s, &alice, names).await, expected, code);
    }
    let (status, v) = dm(&s, &alice, &eight).await;
    assert_eq!(status, 201, "eight others is allowed: {v}");
    let not_a_list = Some(json!({"usernames": "bob"}));
    let answer = request(&s, "POST", &alice, "/api/dms", not_a_list).await;
    assert_refused(answer, 400, "validation_failed");
    let res = http()
        .post(s.url("/api/dms"))
        .json(&json!({"usernames": ["bob"]}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 401);
    // Nothing was created by the refusals.
    let (_, rooms) = get(&s, &alice, "/api/rooms").await;
    assert_eq!(rooms.as_array().map(Vec::len), Some(1), "{rooms}");
}

#[tokio::test]
async fn members_are_listed_for_private_and_direct_rooms() {
    let s = Server::start();
    let [alice, bob, carol, _eve] = register_all(&s, ["alice", "Bob", "carol", "eve"]).await;
    let den = room_id(&s, &alice, "Den", true).await;
    add_member(&s, &alice, &den, "Bob").await;
    let lobby = room_id(&s, &alice, "Lobby", false).await;
    let direct = dm_id(&s, &carol, &["alice", "bob"]).await;
    let eve = admin(&s, "eve").await;
    let path = |room: &str| format!("/api/rooms/{room}/members");

    let expected = json!([
        {"id": alice.id, "username": "alice", "role": "owner"},
        {"id": bob.id, "username": "Bob", "role": "member"},
    ]);
    for who in [&alice, &bob, &eve] {
        let (status, v) = get(&s, who, &path(&den)).await;
        assert_eq!((status, &v), (200, &expected), "as {}", who.name);
    }
    assert_refused(get(&s, &carol, &path(&den)).await, 404, "not_found");

    let (status, v) = get(&s, &bob, &path(&direct)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!([
            {"id": alice.id, "username": "alice", "role": "member"},
            {"id": bob.id, "username": "Bob", "role": "member"},
            {"id": carol.id, "username": "carol", "role": "member"},
        ])
    );
    assert_eq!(get(&s, &eve, &path(&direct)).await.0, 404);

    assert_refused(get(&s, &bob, &path(&lobby)).await, 400, "validation_failed");
    assert_eq!(get(&s, &bob, &path("0123456789abcdef")).await.0, 404);
    assert_eq!(get(&s, &bob, &path("nonsense")).await.0, 404);
    assert_eq!(fetch(&s, &path(&den)).await.status(), 401);
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Runs `chatroom ARGS` (an admin command), which must succeed.
fn chatroom(args: &[&str]) {
    let out = run_bounded(admin_command(args), b"", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `u`'s room list without the online counts (which a restart resets).
async fn rooms_but_online(s: &Server, u: &User) -> Vec<Value> {
    let (status, rooms) = get(s, u, "/api/rooms").await;
    assert_eq!(status, 200, "{rooms}");
    let mut rooms = rooms.as_array().expect("rooms").clone();
    for room in &mut rooms {
        room.as_object_mut().expect("room").remove("online");
    }
    rooms
}

#[tokio::test]
async fn direct_rooms_survive_a_backup_and_a_restore() {
    let s = Server::start();
    let [alice, bob, _carol] = register_all(&s, ["alice", "bob", "carol"]).await;
    let id = dm_id(&s, &alice, &["bob", "carol"]).await;
    let pair = dm_id(&s, &bob, &["alice"]).await;
    let mut c = Client::joined(&s, &alice, &[&id, &pair]).await;
    c.say(&id, "to both").await;
    c.say(&pair, "to bob").await;

    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("chat.backup");
    chatroom(&["backup", "--data-dir", p(&s.dir), "--output", p(&file)]);
    let restored = tmp.path().join("restored");
    chatroom(&["restore", "--input", p(&file), "--data-dir", p(&restored)]);
    let r = Server::spawn(&restored, "127.0.0.1:0", &["--message-rate", "0"]);

    for name in ["alice", "bob", "carol"] {
        let orig = login_user(&s, name, PASSWORD).await;
        let again = login_user(&r, name, PASSWORD).await;
        let before = rooms_but_online(&s, &orig).await;
        assert_eq!(
            before,
            rooms_but_online(&r, &again).await,
            "rooms of {name}"
        );
    }
    // The index came back: the same people find the same rooms.
    let carol = login_user(&r, "carol", PASSWORD).await;
    let (status, v) = dm(&r, &carol, &["bob", "alice"]).await;
    assert_eq!((status, id_of(&v)), (200, id.clone()));
    let bob = login_user(&r, &bob.name, PASSWORD).await;
    let (status, v) = dm(&r, &bob, &["ALICE"]).await;
    assert_eq!((status, id_of(&v)), (200, pair.clone()));
    let history = all_messages(&r, &carol, &id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["message"], "to both");
    assert_eq!(get(&r, &carol, &format!("/api/rooms/{pair}")).await.0, 404);
}
