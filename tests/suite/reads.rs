//! Mentions and read state (docs/protocol-additions.md, "Mentions and read
//! state"): who a message mentions, the read mark each user keeps per
//! room across devices, and the unread and mention counts of the room
//! list, over both WebSocket doors, the REST API and a restart.

use crate::common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as Frame;

/// How long a test waits to be sure that a frame does not come.
const QUIET: Duration = Duration::from_millis(300);

/// The room `room` as `u`'s `GET /api/rooms` lists it.
async fn listed(s: &Server, u: &User, room: &str) -> Value {
    let (status, rooms) = get(s, u, "/api/rooms").await;
    assert_eq!(status, 200, "{rooms}");
    let found = rooms
        .as_array()
        .expect("a list")
        .iter()
        .find(|r| r["id"] == room);
    found
        .cloned()
        .unwrap_or_else(|| panic!("{room} is not in {rooms}"))
}

/// A room object's or a read state's `(lastReadId, unread, mentions)`.
fn read_state(v: &Value) -> (Value, Value, Value) {
    (
        v["lastReadId"].clone(),
        v["unread"].clone(),
        v["mentions"].clone(),
    )
}

/// The `mentions` of the messages of `room`, oldest first, as `u` reads
/// the history (`null` where a message mentions nobody).
async fn mentions_in(s: &Server, u: &User, room: &str) -> Vec<Value> {
    let msgs = all_messages(s, u, room).await;
    msgs.iter().map(|m| m["mentions"].clone()).collect()
}

/// `markRead` of `message` in `room` on `c`; the answer (ack or error).
async fn mark(c: &mut Client, room: &str, message: &str) -> Value {
    c.call("markRead", json!({ "roomId": room, "messageId": message }))
        .await
}

/// `POST /api/rooms/{room}/read` as `u`: the status and the body.
async fn mark_rest(s: &Server, u: &User, room: &str, body: Value) -> (u16, Value) {
    let path = format!("/api/rooms/{room}/read");
    request(s, "POST", u, &path, Some(body)).await
}

/// A connection of `u` joined to no room, once the server has it: an
/// upgrade is answered before the session is registered, so a round trip
/// (here a refused `leaveRoom`) makes sure it is there to be told.
async fn registered(s: &Server, u: &User) -> Client {
    let mut c = Client::connect(s, u).await;
    let answer = c.call("leaveRoom", json!({ "roomId": "none" })).await;
    assert_eq!(answer["data"]["code"], "not_joined", "{answer}");
    c
}

/// The `readUpdated` frames among what `c` receives until it is quiet.
async fn read_updates(c: &mut Client) -> Vec<Value> {
    let frames = c.drain(QUIET).await;
    frames
        .into_iter()
        .filter(|f| f["event"] == "readUpdated")
        .collect()
}

/// On `s`, Ann's public room "general" where Bob (joined, his connection
/// kept) said `texts`: the server, Ann and Bob, the room, Bob's
/// connection and the ids of his messages.
async fn bob_said(s: Server, texts: &[&str]) -> (Server, [User; 2], String, Client, Vec<String>) {
    let (s, users, general) = general_on(s, ["ann", "bob"]).await;
    let mut b = Client::joined(&s, &users[1], &[&general]).await;
    let mut ids = Vec::new();
    for text in texts {
        ids.push(id_of(&b.say(&general, text).await));
    }
    (s, users, general, b, ids)
}

#[tokio::test]
async fn mentions_are_recorded_only_for_users_who_can_see_the_room() {
    let (s, [ann, bob, carol, dave], general) = general(["ann", "bob", "carol", "dave"]).await;
    run_create_admin(&s, "root", "correct horse");
    let root = login_user(&s, "root", "correct horse").await;
    assert_eq!(user_action(&s, &root, &dave.id, "disable").await.0, 204);
    let secret = room_id(&s, &ann, "secret", true).await;
    add_member(&s, &ann, &secret, "bob").await;
    let mut a = Client::joined(&s, &ann, &[&general, &secret]).await;

    let text = "hi @bob @Carol @dave @nobody @root";
    let sent = a
        .emit("sendMessage", json!({ "roomId": general, "message": text }))
        .await;
    let mut frames = Vec::new();
    ack_data(&a.answer(&sent, &mut frames).await, "sendMessage");
    let echo = match frames.into_iter().find(|f| f["event"] == "receiveMessage") {
        Some(f) => f,
        None => a.next_event("receiveMessage").await,
    };
    assert_eq!(echo["data"]["mentions"], json!([bob.id, carol.id, root.id]));
    a.say(&secret, "@bob and @carol, and @root").await;
    add_member(&s, &ann, &secret, "carol").await;
    a.say(&secret, "now @carol").await;
    a.say(&secret, "nobody here").await;

    // A disabled user, a name nobody has: nobody. In the private room, an
    // admin who is not a member: nobody either.
    assert_eq!(
        mentions_in(&s, &ann, &general).await,
        [json!([bob.id, carol.id, root.id])]
    );
    assert_eq!(
        mentions_in(&s, &ann, &secret).await,
        [json!([bob.id]), json!([carol.id]), Value::Null]
    );
}

#[tokio::test]
async fn mentions_match_whole_names_without_regard_to_case() {
    let (s, [ann, bob, bobby], general) = general(["ann", "bob", "bobby"]).await;
    let mut a = Client::joined(&s, &ann, &[&general]).await;
    for text in [
        "x@bob and @BOBBY",
        "(@Bob), thanks @bob.",
        "mail bob@example.com or @bobé",
        "@bob@bobby",
    ] {
        a.say(&general, text).await;
    }
    assert_eq!(
        mentions_in(&s, &ann, &general).await,
        [json!([bobby.id]), json!([bob.id]), Value::Null, Value::Null]
    );
}

#[tokio::test]
async fn a_mark_set_on_one_connection_reaches_the_others_of_the_user_and_never_moves_back() {
    let texts = ["one", "two @ann", "three", "four @ANN"];
    let (s, [ann, _], general, mut b, ids) = bob_said(Server::start(), &texts).await;
    let mut phone = Client::joined(&s, &ann, &[&general]).await;
    let mut laptop = registered(&s, &ann).await;
    assert_eq!(
        read_state(&listed(&s, &ann, &general).await),
        (Value::Null, json!(4), json!(2))
    );

    let ack = ack_data(&mark(&mut phone, &general, &ids[1]).await, "markRead");
    let moved = json!({"roomId": general, "lastReadId": ids[1], "unread": 2, "mentions": 1});
    assert_eq!(ack, moved);
    let update = laptop.next_event("readUpdated").await;
    assert_eq!(update["data"], moved);
    assert!(
        read_updates(&mut phone).await.is_empty(),
        "not to the origin"
    );
    assert!(read_updates(&mut b).await.is_empty(), "not to other users");

    // Backwards, or in place: nothing moves, nobody is told.
    for older in [&ids[0], &ids[1]] {
        let ack = ack_data(&mark(&mut laptop, &general, older).await, "markRead");
        assert_eq!(ack, moved);
    }
    assert!(read_updates(&mut phone).await.is_empty());
    assert_eq!(
        read_state(&listed(&s, &ann, &general).await),
        (json!(ids[1]), json!(2), json!(1))
    );

    // Forwards from the other device; the user's own messages never count.
    ack_data(&mark(&mut laptop, &general, &ids[3]).await, "markRead");
    let update = phone.next_event("readUpdated").await;
    assert_eq!(
        read_state(&update["data"]),
        (json!(ids[3]), json!(0), json!(0))
    );
    phone.say(&general, "mine").await;
    b.say(&general, "@ann again").await;
    let listed_now = listed(&s, &ann, &general).await;
    assert_eq!(read_state(&listed_now), (json!(ids[3]), json!(1), json!(1)));
    let joined = phone.join(&general).await;
    assert_eq!(read_state(&joined["room"]), read_state(&listed_now));
}

/// Ann's public room "general" and private room "secret", with Ann
/// joined to both: the server, Ann and Bob, the rooms and her connection.
async fn two_rooms() -> (Server, [User; 2], [String; 2], Client) {
    let (s, users, general) = general(["ann", "bob"]).await;
    let secret = room_id(&s, &users[0], "secret", true).await;
    let a = Client::joined(&s, &users[0], &[&general, &secret]).await;
    (s, users, [general, secret], a)
}

#[tokio::test]
async fn mark_read_is_refused_like_join_room() {
    let (s, [_, bob], [general, secret], mut a) = two_rooms().await;
    let in_general = id_of(&a.say(&general, "hello").await);
    let in_secret = id_of(&a.say(&secret, "psst").await);
    let mut b = Client::connect(&s, &bob).await;
    let code = |f: Value| f["data"]["code"].as_str().map(str::to_owned);
    let missing = b.call("markRead", json!({ "roomId": general })).await;
    assert_eq!(code(missing).as_deref(), Some("validation_failed"));
    for (room, message, want) in [
        ("0000000000000001", in_general.as_str(), "not_found"),
        ("nope", in_general.as_str(), "not_found"),
        (secret.as_str(), in_secret.as_str(), "not_found"),
        (general.as_str(), in_secret.as_str(), "validation_failed"),
        (general.as_str(), "not-an-id", "validation_failed"),
    ] {
        let answer = mark(&mut b, room, message).await;
        assert_eq!(code(answer).as_deref(), Some(want), "{room} {message}");
    }
    // Visible is enough: bob never joined the public room.
    let ack = ack_data(&mark(&mut b, &general, &in_general).await, "markRead");
    assert_eq!(ack["lastReadId"], json!(in_general));
}

#[tokio::test]
async fn the_rest_read_endpoint_marks_and_tells_every_connection() {
    let (s, [_, bob], [general, secret], mut a) = two_rooms().await;
    let first = id_of(&a.say(&general, "one @bob").await);
    let second = id_of(&a.say(&general, "two").await);
    let in_secret = id_of(&a.say(&secret, "psst").await);
    let mut b = registered(&s, &bob).await;

    let (status, body) = mark_rest(&s, &bob, &general, json!({ "messageId": second })).await;
    assert_eq!((status, body), (204, Value::Null));
    let update = b.next_event("readUpdated").await;
    let moved = json!({"roomId": general, "lastReadId": second, "unread": 0, "mentions": 0});
    assert_eq!(update["data"], moved);
    assert_eq!(
        mark_rest(&s, &bob, &general, json!({ "messageId": first }))
            .await
            .0,
        204
    );
    assert!(
        read_updates(&mut b).await.is_empty(),
        "a mark never moves back"
    );
    let (status, room) = get(&s, &bob, &format!("/api/rooms/{general}")).await;
    assert_eq!((status, read_state(&room)), (200, read_state(&moved)));

    for (room, body, want, code) in [
        (&general, json!({}), 400, "validation_failed"),
        (
            &general,
            json!({ "messageId": "zz" }),
            400,
            "validation_failed",
        ),
        (
            &general,
            json!({ "messageId": in_secret }),
            400,
            "validation_failed",
        ),
        (&secret, json!({ "messageId": in_secret }), 404, "not_found"),
        (
            &"0000000000000001".to_owned(),
            json!({ "messageId": first }),
            404,
            "not_found",
        ),
    ] {
        let (status, v) = mark_rest(&s, &bob, room, body.clone()).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (want, Some(code)),
            "{room} {body}"
        );
    }
    let anonymous = http()
        .post(s.url(&format!("/api/rooms/{general}/read")))
        .json(&json!({ "messageId": second }))
        .send()
        .await
        .expect("post");
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_deleted_message_is_no_longer_counted() {
    let texts = ["@ann one", "@ann two", "three"];
    let (s, [ann, bob], general, _, ids) = bob_said(Server::start(), &texts).await;
    let (doomed, kept) = (&ids[0], &ids[1]);
    let mut a = Client::connect(&s, &ann).await;
    ack_data(&mark(&mut a, &general, doomed).await, "markRead");
    let path = format!("/api/rooms/{general}/messages/{kept}");
    assert_eq!(request(&s, "DELETE", &bob, &path, None).await.0, 204);
    assert_eq!(
        read_state(&listed(&s, &ann, &general).await),
        (json!(doomed), json!(1), json!(0))
    );
    let path = format!("/api/rooms/{general}/messages/{doomed}");
    assert_eq!(request(&s, "DELETE", &bob, &path, None).await.0, 204);
    assert_eq!(
        read_state(&listed(&s, &ann, &general).await),
        (json!(doomed), json!(1), json!(0)),
        "a mark whose message went stays where it was"
    );
}

#[tokio::test]
async fn counts_are_right_after_a_restart_and_a_kill() {
    let texts = ["a", "b @ann", "c", "d @ann", "e"];
    let (mut s, [ann, bob], general, _, mut ids) = bob_said(Server::start_process(), &texts).await;
    let mut a = Client::connect(&s, &ann).await;
    ack_data(&mark(&mut a, &general, &ids[0]).await, "markRead");
    let before = read_state(&listed(&s, &ann, &general).await);
    assert_eq!(before, (json!(ids[0]), json!(4), json!(2)));

    s.restart();
    assert_eq!(read_state(&listed(&s, &ann, &general).await), before);
    let mut b = Client::joined(&s, &bob, &[&general]).await;
    ids.push(id_of(&b.say(&general, "f @ann").await));
    let (status, _) = mark_rest(&s, &ann, &general, json!({ "messageId": ids[2] })).await;
    assert_eq!(status, 204);

    // An answered mark is on disk.
    s.child.kill().expect("kill -9");
    s.child.wait().expect("reap");
    s.respawn();
    assert_eq!(
        read_state(&listed(&s, &ann, &general).await),
        (json!(ids[2]), json!(3), json!(2))
    );
    assert_eq!(
        read_state(&listed(&s, &bob, &general).await),
        (Value::Null, json!(0), json!(0))
    );
}

/// A Socket.IO client on the engine's WebSocket transport: enough of it
/// to send events with acknowledgement ids and read events.
struct SocketIo(Ws);

impl SocketIo {
    async fn connect(s: &Server, u: &User) -> SocketIo {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", s.addr);
        let connect = tokio_tungstenite::connect_async(url);
        let (ws, _) = tokio::time::timeout(WAIT, connect)
            .await
            .expect("in time")
            .expect("connected");
        let mut sio = SocketIo(ws);
        assert!(sio.packet().await.starts_with('0'), "the engine opens");
        sio.put(format!("40{}", json!({ "token": u.token }))).await;
        assert!(
            sio.packet().await.starts_with("40"),
            "the namespace is joined"
        );
        sio
    }

    async fn put(&mut self, packet: String) {
        let sent = tokio::time::timeout(WAIT, self.0.send(Frame::text(packet)));
        sent.await.expect("in time").expect("sent");
    }

    /// The next packet that is not the engine's ping (which it answers).
    async fn packet(&mut self) -> String {
        loop {
            let next = tokio::time::timeout(WAIT, self.0.next()).await;
            match next
                .expect("a packet in time")
                .expect("open")
                .expect("a frame")
            {
                Frame::Text(t) if t.as_str() == "2" => self.put("3".into()).await,
                Frame::Text(t) => return t.to_string(),
                _ => {}
            }
        }
    }

    /// Emits `name` with acknowledgement id `id`: the acknowledgement's data.
    async fn ask(&mut self, id: u32, name: &str, data: Value) -> Value {
        self.put(format!("42{id}{}", json!([name, data]))).await;
        loop {
            if let Some(args) = self.packet().await.strip_prefix(&format!("43{id}")) {
                return serde_json::from_str::<Value>(args).expect("ack args")[0].clone();
            }
        }
    }

    /// The data of the next event `name`.
    async fn event(&mut self, name: &str) -> Value {
        loop {
            let packet = self.packet().await;
            let Some(args) = packet.strip_prefix("42") else {
                continue;
            };
            let args: Value = serde_json::from_str(args).expect("event args");
            if args[0] == name {
                return args[1].clone();
            }
        }
    }
}

#[tokio::test]
async fn mark_read_works_over_socket_io() {
    let (s, [ann, _], general, _, ids) = bob_said(Server::start(), &["hi @ann", "there"]).await;
    let (first, second) = (&ids[0], &ids[1]);
    let mut sio = SocketIo::connect(&s, &ann).await;
    let mut ws = registered(&s, &ann).await;

    let ack = sio
        .ask(
            1,
            "markRead",
            json!({ "roomId": general, "messageId": first }),
        )
        .await;
    let moved = json!({"roomId": general, "lastReadId": first, "unread": 1, "mentions": 0});
    assert_eq!(ack, moved);
    assert_eq!(ws.next_event("readUpdated").await["data"], moved);
    let refused = sio.ask(2, "markRead", json!({ "roomId": general })).await;
    assert_eq!(refused["error"]["code"], "validation_failed", "{refused}");

    ack_data(&mark(&mut ws, &general, second).await, "markRead");
    let update = sio.event("readUpdated").await;
    assert_eq!(read_state(&update), (json!(second), json!(0), json!(0)));
}

#[tokio::test]
async fn marks_and_mentions_survive_a_backup_and_restore() {
    let texts = ["x @ann", "y @ann", "z"];
    let (s, [ann, _], general, _, ids) = bob_said(Server::start(), &texts).await;
    let first = &ids[0];
    assert_eq!(
        mark_rest(&s, &ann, &general, json!({ "messageId": first }))
            .await
            .0,
        204
    );

    let tmp = tempfile::tempdir().expect("tempdir");
    let (file, target) = (tmp.path().join("chat.backup"), tmp.path().join("restored"));
    let path = |p: &std::path::Path| p.to_str().expect("utf-8").to_owned();
    let limit = Duration::from_secs(60);
    for args in [
        [
            "backup",
            "--data-dir",
            &path(&s.dir),
            "--output",
            &path(&file),
        ],
        [
            "restore",
            "--input",
            &path(&file),
            "--data-dir",
            &path(&target),
        ],
    ] {
        let out = run_bounded(admin_command(&args), b"", limit).expect("ran");
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    drop(s);
    let s = Server::spawn(&target, "127.0.0.1:0", &[]);
    let ann = login_user(&s, &ann.name, "correct horse").await;
    assert_eq!(
        read_state(&listed(&s, &ann, &general).await),
        (json!(first), json!(2), json!(1))
    );
    assert_eq!(
        mentions_in(&s, &ann, &general).await[..2],
        [json!([ann.id]), json!([ann.id])]
    );
}

#[tokio::test]
async fn room_added_carries_the_read_state_and_room_updated_none() {
    let s = Server::start();
    let [ann, bob] = register_all(&s, ["ann", "bob"]).await;
    let secret = room_id(&s, &ann, "secret", true).await;
    let mut a = Client::joined(&s, &ann, &[&secret]).await;
    a.say(&secret, "one").await;
    a.say(&secret, "two").await;
    let mut b = registered(&s, &bob).await;

    // Added to a room with history: the two messages are unread for Bob.
    add_member(&s, &ann, &secret, "bob").await;
    let added = b.next_event("roomAdded").await;
    let room = &added["data"]["room"];
    assert_eq!(
        read_state(room),
        (Value::Null, json!(2), json!(0)),
        "{added}"
    );
    assert_eq!(*room, listed(&s, &bob, &secret).await);

    // A rename tells the room without anyone's read state.
    let path = format!("/api/rooms/{secret}");
    let (status, body) = request(&s, "PATCH", &ann, &path, Some(json!({"name": "hidden"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        read_state(&body),
        (Value::Null, json!(0), json!(0)),
        "{body}"
    );
    let updated = b.next_event("roomUpdated").await;
    assert_eq!(updated["data"]["room"]["name"], "hidden", "{updated}");
    for field in ["lastReadId", "unread", "mentions"] {
        assert!(updated["data"]["room"].get(field).is_none(), "{updated}");
    }

    // A public room is added to everyone with nothing to read yet.
    let general = room_id(&s, &ann, "general", false).await;
    let added = b.next_event("roomAdded").await;
    assert_eq!(added["data"]["room"]["id"], general, "{added}");
    assert_eq!(
        read_state(&added["data"]["room"]),
        (Value::Null, json!(0), json!(0))
    );
}
