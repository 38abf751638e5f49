//! The writes of conversations survive `kill -9` right after their answer:
//! a reaction, a room renamed and described, a direct room and a message
//! in it, an admin's password reset and role change. Each answer is sent
//! only once its change is on disk, whatever the kind of write.

use crate::common;

use common::*;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse";
const NEW_PASSWORD: &str = "battery staple";
const THUMBS: &str = "👍";

/// `kill -9` at once, then the same server again on the same data.
fn kill_and_restart(s: &mut Server) {
    s.child.kill().expect("SIGKILL");
    s.child.wait().expect("reaped");
    s.respawn();
}

/// `method path` as `u` must answer `status`; then `kill -9` at once and
/// the same server again. Returns the answer.
async fn acked(
    s: &mut Server,
    u: &User,
    method: &str,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let (st, v) = request(s, method, u, path, body).await;
    assert_eq!(st, status, "{method} {path}: {v}");
    kill_and_restart(s);
    v
}

/// The direct rooms of `u`'s room list, as (id, name).
async fn direct_rooms(s: &Server, u: &User) -> Vec<(String, String)> {
    let (status, rooms) = get(s, u, "/api/rooms").await;
    assert_eq!(status, 200, "{rooms}");
    let rooms = rooms.as_array().expect("rooms").iter();
    rooms
        .filter(|r| r["kind"] == "direct")
        .map(|r| (id_of(r), str_of(&r["name"])))
        .collect()
}

/// The status of a login of `name` with `password`.
async fn login_status(s: &Server, name: &str, password: &str) -> u16 {
    login(s, name, password).await.0
}

#[tokio::test]
async fn every_conversation_write_survives_sigkill_right_after_its_answer() {
    let mut s = Server::start_process();
    let [root, alice, bob, carol] = register_all(&s, ["root", "alice", "bob", "carol"]).await;
    run_create_admin(&s, &root.name, PASSWORD);
    let room = room_id(&s, &alice, "general", false).await;
    let mut c = Client::joined(&s, &alice, &[&room]).await;
    let msg = id_of(&c.say(&room, "react to me").await);
    drop(c);

    // A reaction added.
    let emoji = utf8_percent_encode(THUMBS, NON_ALPHANUMERIC);
    let path = format!("/api/rooms/{room}/messages/{msg}/reactions/{emoji}");
    acked(&mut s, &bob, "PUT", &path, None, 204).await;
    let history = all_messages(&s, &alice, &room).await;
    assert_eq!(
        history[0]["reactions"],
        json!([{"emoji": THUMBS, "count": 1, "users": ["bob"]}]),
        "reaction lost: {history:?}"
    );

    // The room renamed and described.
    let patch = json!({"name": "family", "description": "sundays at noon"});
    let path = format!("/api/rooms/{room}");
    acked(&mut s, &alice, "PATCH", &path, Some(patch), 200).await;
    let (status, shown) = get(&s, &bob, &path).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        (&shown["name"], &shown["description"]),
        (&json!("family"), &json!("sundays at noon")),
        "room edit lost"
    );

    // A direct room started, then a message in it.
    let body = json!({ "usernames": ["carol"] });
    let direct = id_of(&acked(&mut s, &bob, "POST", "/api/dms", Some(body), 201).await);
    for (u, name) in [(&bob, "carol"), (&carol, "bob")] {
        let seen = direct_rooms(&s, u).await;
        let what = format!("the direct room in {}'s list", u.name);
        assert_eq!(seen, [(direct.clone(), name.to_owned())], "{what}");
    }
    let mut c = Client::joined(&s, &carol, &[&direct]).await;
    let said = id_of(&c.say(&direct, "just us").await);
    kill_and_restart(&mut s);
    drop(c);
    for u in [&bob, &carol] {
        let history = all_messages(&s, u, &direct).await;
        let texts: Vec<(&Value, &Value)> =
            history.iter().map(|m| (&m["id"], &m["message"])).collect();
        assert_eq!(texts, [(&json!(said), &json!("just us"))], "for {}", u.name);
    }

    // An admin's password reset.
    let root = login_user(&s, &root.name, PASSWORD).await;
    let path = format!("/api/admin/users/{}/password", alice.id);
    let body = json!({ "password": NEW_PASSWORD });
    acked(&mut s, &root, "POST", &path, Some(body), 204).await;
    assert_eq!(
        login_status(&s, "alice", PASSWORD).await,
        401,
        "old password"
    );
    assert_eq!(
        login_status(&s, "alice", NEW_PASSWORD).await,
        200,
        "new password"
    );
    let (status, _) = get(&s, &alice, "/api/users/me").await;
    assert_eq!(status, 401, "a token from before the reset");

    // An admin's role change.
    let path = format!("/api/admin/users/{}/role", bob.id);
    let body = json!({ "role": "admin" });
    acked(&mut s, &root, "POST", &path, Some(body), 204).await;
    let (status, me) = get(&s, &bob, "/api/users/me").await;
    assert_eq!(
        (status, &me["role"]),
        (200, &json!("admin")),
        "role change lost"
    );
}
