//! The live room list and room settings (docs/protocol-additions.md,
//! "Live room list and room settings"): `roomAdded`, `roomUpdated`,
//! `roomRemoved` and `roomDeleted` reach every connection of the users
//! who can see the room, on both doors, joined to it or not; and
//! `PATCH /api/rooms/{id}` renames a room or changes its description.
//!
//! To show that a connection was *not* told something, a test creates a
//! public "marker" room afterwards: every connection is told of it, in
//! order, so whatever was sent before it has arrived by then.

use crate::common;
use crate::socketio::Sio;

use std::time::{Duration, Instant};

use common::{
    add_member, create_room, get, id_of, login_user, register_all, request, run_create_admin,
    Client, Server, User,
};
use serde_json::{json, Value};

/// Alice, Bob and Carol, and two rooms of Alice's: "public", and the
/// private "secret" with Bob as a member. The server, the users, the rooms.
async fn alice_bob_carol() -> (Server, [User; 3], String, String) {
    let s = Server::start();
    let users = register_all(&s, ["alice", "bob", "carol"]).await;
    let public = id_of(&create_room(&s, &users[0], "public", false).await);
    let secret = id_of(&create_room(&s, &users[0], "secret", true).await);
    add_member(&s, &users[0], &secret, "bob").await;
    (s, users, public, secret)
}

/// Creates a public room named `name`, which every connection is told of.
async fn marker(s: &Server, u: &User, name: &str) -> String {
    id_of(&create_room(s, u, name, false).await)
}

/// The frames `c` receives up to and including the `event` about `room`
/// (a `roomAdded`/`roomUpdated` names it in `room.id`, the others in
/// `roomId`).
async fn frames_until(c: &mut Client, event: &str, room: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let f = c.next().await;
        let done = f["event"] == event && about(&f["data"]) == room;
        seen.push(f);
        if done {
            return seen;
        }
    }
}

/// The room a room-list event's data is about.
fn about(data: &Value) -> &str {
    data["room"]["id"]
        .as_str()
        .or_else(|| data["roomId"].as_str())
        .unwrap_or_default()
}

/// How many of `frames` are the `event` about `room`.
fn count(frames: &[Value], event: &str, room: &str) -> usize {
    frames
        .iter()
        .filter(|f| f["event"] == event && about(&f["data"]) == room)
        .count()
}

/// The room as `u` sees it in `GET /api/rooms`.
async fn listed(s: &Server, u: &User, room: &str) -> Value {
    let (status, list) = get(s, u, "/api/rooms").await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .expect("a list")
        .iter()
        .find(|r| r["id"] == room)
        .cloned()
        .unwrap_or_else(|| panic!("{room} is not in {list}"))
}

/// A room named `name` cannot be created: the name is held.
async fn assert_name_taken(s: &Server, u: &User, name: &str) {
    let body = json!({ "name": name });
    let (status, v) = request(s, "POST", u, "/api/rooms", Some(body)).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (409, Some("room_name_taken")),
        "{name}: {v}"
    );
}

/// `PATCH /api/rooms/{room}` as `u`: the status and the answer.
async fn patch(s: &Server, u: &User, room: &str, body: Value) -> (u16, Value) {
    request(s, "PATCH", u, &format!("/api/rooms/{room}"), Some(body)).await
}

/// The next Socket.IO event named `name` about `room`, skipping others.
async fn sio_event(c: &mut Sio, name: &str, room: &str) -> Value {
    loop {
        let (n, data) = c.event().await;
        if n == name && about(&data) == room {
            return data;
        }
    }
}

#[tokio::test]
async fn a_user_added_to_a_private_room_is_told_on_a_socket_that_joined_nothing() {
    let s = Server::start();
    let [alice, bob] = register_all(&s, ["alice", "bob"]).await;
    let mut b = Client::connect(&s, &bob).await;
    let mut b_sio = Sio::connect(&s, &bob).await;
    let secret = id_of(&create_room(&s, &alice, "secret", true).await);
    let m1 = marker(&s, &alice, "marker one").await;
    let before = frames_until(&mut b, "roomAdded", &m1).await;
    assert_eq!(count(&before, "roomAdded", &secret), 0, "{before:?}");

    add_member(&s, &alice, &secret, "bob").await;
    let f = frames_until(&mut b, "roomAdded", &secret).await;
    let added = f.last().expect("roomAdded").clone();
    assert_eq!(added["data"]["room"], listed(&s, &bob, &secret).await);
    assert_eq!(added["data"]["room"]["name"], "secret");
    assert_eq!(added["data"]["room"]["private"], true);
    assert_eq!(added["data"]["room"]["online"], 0);
    // The Socket.IO door tells the same, with the same data.
    assert_eq!(
        sio_event(&mut b_sio, "roomAdded", &secret).await,
        added["data"]
    );

    // Adding a member again changes nothing and tells nothing.
    add_member(&s, &alice, &secret, "bob").await;
    let m2 = marker(&s, &alice, "marker two").await;
    let after = frames_until(&mut b, "roomAdded", &m2).await;
    assert_eq!(count(&after, "roomAdded", &secret), 0, "{after:?}");
    let (n, data) = b_sio.event().await;
    assert_eq!(
        (n.as_str(), about(&data)),
        ("roomAdded", m2.as_str()),
        "{data}"
    );
}

#[tokio::test]
async fn a_public_room_created_by_one_client_appears_to_the_others_within_a_second() {
    let s = Server::start();
    let [alice, bob, carol] = register_all(&s, ["alice", "bob", "carol"]).await;
    let mut a = Client::connect(&s, &alice).await;
    let mut b = Client::connect(&s, &bob).await;
    let mut c_sio = Sio::connect(&s, &carol).await;
    let started = Instant::now();
    let room = create_room(&s, &alice, "Town square", false).await;
    let id = id_of(&room);
    let seen = frames_until(&mut b, "roomAdded", &id).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let added = &seen.last().expect("roomAdded")["data"]["room"];
    assert_eq!(added, &room, "the same object as the creation's answer");
    assert_eq!(added, &listed(&s, &bob, &id).await);
    // The creator's own connections are told too (its other devices).
    frames_until(&mut a, "roomAdded", &id).await;
    assert_eq!(
        &sio_event(&mut c_sio, "roomAdded", &id).await["room"],
        added
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_rename_is_told_to_the_members_of_a_private_room_only() {
    let s = Server::start();
    let [alice, bob, carol] = register_all(&s, ["alice", "bob", "carol"]).await;
    let secret = id_of(&create_room(&s, &alice, "secret", true).await);
    add_member(&s, &alice, &secret, "bob").await;
    let mut b_joined = Client::joined(&s, &bob, &[&secret]).await;
    let mut b_idle = Sio::connect(&s, &bob).await;
    let mut c = Client::connect(&s, &carol).await;

    let edit = json!({"name": "  Hideout  ", "description": "where we meet"});
    let (status, room) = patch(&s, &alice, &secret, edit).await;
    assert_eq!(status, 200, "{room}");
    assert_eq!(room["name"], "Hideout", "trimmed");
    assert_eq!(room["description"], "where we meet");
    assert_eq!(room["online"], 1, "bob is in it");
    assert_eq!(room, listed(&s, &bob, &secret).await);
    // roomUpdated carries the room without anyone's read state.
    let mut shared = room.clone();
    for field in ["lastReadId", "unread", "mentions", "notifications"] {
        shared.as_object_mut().expect("a room").remove(field);
    }
    let seen = frames_until(&mut b_joined, "roomUpdated", &secret).await;
    assert_eq!(seen.last().expect("roomUpdated")["data"]["room"], shared);
    assert_eq!(
        sio_event(&mut b_idle, "roomUpdated", &secret).await["room"],
        shared
    );
    let m = marker(&s, &alice, "marker").await;
    let carol_saw = frames_until(&mut c, "roomAdded", &m).await;
    assert_eq!(
        count(&carol_saw, "roomUpdated", &secret),
        0,
        "{carol_saw:?}"
    );

    // A public room's change reaches everyone; an unchanged one, nobody.
    let (status, _) = patch(&s, &alice, &m, json!({"description": "now described"})).await;
    assert_eq!(status, 200);
    let seen = frames_until(&mut c, "roomUpdated", &m).await;
    assert_eq!(
        seen.last().expect("roomUpdated")["data"]["room"]["description"],
        "now described"
    );
    let (status, same) = patch(
        &s,
        &alice,
        &m,
        json!({"name": "marker", "description": null}),
    )
    .await;
    assert_eq!(
        (status, same["description"].as_str()),
        (200, Some("now described"))
    );
    let m2 = marker(&s, &alice, "marker two").await;
    let quiet = frames_until(&mut c, "roomAdded", &m2).await;
    assert_eq!(count(&quiet, "roomUpdated", &m), 0, "{quiet:?}");
}

#[tokio::test]
async fn a_rename_to_a_taken_name_is_a_conflict_and_a_case_change_is_not() {
    let s = Server::start();
    let [alice, bob] = register_all(&s, ["alice", "bob"]).await;
    let room = id_of(&create_room(&s, &alice, "kitchen", false).await);
    create_room(&s, &alice, "Garden", false).await;
    create_room(&s, &bob, "bobs secret", true).await;
    for taken in ["garden", "BOBS SECRET"] {
        let (status, v) = patch(&s, &alice, &room, json!({ "name": taken })).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (409, Some("room_name_taken")),
            "{taken}: {v}"
        );
    }
    assert_eq!(
        listed(&s, &alice, &room).await["name"],
        "kitchen",
        "unchanged"
    );
    let (status, v) = patch(&s, &alice, &room, json!({"name": "Kitchen"})).await;
    assert_eq!((status, v["name"].as_str()), (200, Some("Kitchen")), "{v}");
    // The old name is free once a room leaves it, and the new one is held.
    let (status, _) = patch(&s, &alice, &room, json!({"name": "Pantry"})).await;
    assert_eq!(status, 200);
    create_room(&s, &bob, "KITCHEN", false).await;
    assert_name_taken(&s, &bob, "pantry").await;
}

#[tokio::test]
async fn of_concurrent_renames_to_one_name_exactly_one_succeeds() {
    let s = Server::start();
    let [alice] = register_all(&s, ["alice"]).await;
    let mut rooms = Vec::new();
    for i in 0..12 {
        rooms.push(id_of(
            &create_room(&s, &alice, &format!("room {i}"), i % 2 == 0).await,
        ));
    }
    let tries = rooms.iter().enumerate().map(|(i, room)| {
        let name = if i % 2 == 0 { "Prize" } else { "PRIZE" };
        patch(&s, &alice, room, json!({ "name": name }))
    });
    let answers = futures_util::future::join_all(tries).await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(status, v)| {
            assert!(
                *status == 200 || (*status == 409 && v["error"]["code"] == "room_name_taken"),
                "{status} {v}"
            );
            *status == 200
        })
        .map(|(_, v)| v)
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    let (_, list) = get(&s, &alice, "/api/rooms").await;
    let prized: Vec<&Value> = list
        .as_array()
        .expect("list")
        .iter()
        .filter(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("prize"))
        })
        .collect();
    assert_eq!(prized, vec![won[0]], "{list}");
}

#[tokio::test]
async fn only_the_owner_or_an_admin_may_edit_a_room() {
    let (s, [_, bob, carol], public, secret) = alice_bob_carol().await;
    for room in [&public, &secret] {
        let (status, v) = patch(&s, &bob, room, json!({"name": "mine now"})).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{v}"
        );
    }
    let (status, v) = patch(&s, &carol, &secret, json!({"name": "mine now"})).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );
    let (status, _) = patch(&s, &carol, "00000000000000ff", json!({})).await;
    assert_eq!(status, 404);
    run_create_admin(&s, "carol", "correct horse");
    let carol = login_user(&s, "carol", "correct horse").await;
    let (status, v) = patch(&s, &carol, &secret, json!({"name": "moderated"})).await;
    assert_eq!(
        (status, v["name"].as_str()),
        (200, Some("moderated")),
        "{v}"
    );
}

#[tokio::test]
async fn bad_edits_are_validation_errors_and_change_nothing() {
    let s = Server::start();
    let [alice] = register_all(&s, ["alice"]).await;
    let room = id_of(&create_room(&s, &alice, "plain", false).await);
    let cases = [
        (json!({"name": "   "}), "validation_failed"),
        (json!({"name": "é".repeat(65)}), "validation_failed"),
        (json!({"description": "é".repeat(513)}), "validation_failed"),
        (json!({"name": 7}), "validation_failed"),
        (json!(["name"]), "validation_failed"),
    ];
    for (body, code) in cases {
        let (status, v) = patch(&s, &alice, &room, body.clone()).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}: {v}"
        );
    }
    let r = listed(&s, &alice, &room).await;
    assert_eq!(
        (r["name"].as_str(), r["description"].as_str()),
        (Some("plain"), Some(""))
    );
    let res = common::http()
        .patch(s.url(&format!("/api/rooms/{room}")))
        .bearer_auth(&alice.token)
        .body("{not json")
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["error"]["code"], "invalid_json");
    let (status, v) = patch(&s, &alice, &room, json!({"name": "é".repeat(64)})).await;
    assert_eq!(status, 200, "64 characters are allowed: {v}");
    let (status, v) = patch(&s, &alice, &room, json!({"description": "é".repeat(512)})).await;
    assert_eq!(status, 200, "512 characters are allowed: {v}");
}

#[tokio::test]
async fn removal_and_deletion_reach_connections_that_never_joined_the_room_once_each() {
    let (s, [alice, bob, carol], public, secret) = alice_bob_carol().await;
    let mut b_joined = Client::joined(&s, &bob, &[&secret, &public]).await;
    let mut b_idle = Client::connect(&s, &bob).await;
    let mut b_sio = Sio::connect(&s, &bob).await;
    let mut c = Client::connect(&s, &carol).await;

    let path = format!("/api/rooms/{secret}/members/bob");
    let (status, _) = request(&s, "DELETE", &alice, &path, None).await;
    assert_eq!(status, 204);
    for b in [&mut b_joined, &mut b_idle] {
        frames_until(b, "roomRemoved", &secret).await;
    }
    sio_event(&mut b_sio, "roomRemoved", &secret).await;

    let (status, _) = request(&s, "DELETE", &alice, &format!("/api/rooms/{public}"), None).await;
    assert_eq!(status, 204);
    // Each connection is told once, not twice: a second `roomRemoved`
    // would arrive before the `roomDeleted`, a second `roomDeleted`
    // before the marker.
    let m = marker(&s, &alice, "marker").await;
    for who in [&mut b_joined, &mut b_idle, &mut c] {
        let until_deleted = frames_until(who, "roomDeleted", &public).await;
        assert_eq!(count(&until_deleted, "roomRemoved", &secret), 0);
        let rest = frames_until(who, "roomAdded", &m).await;
        assert_eq!(count(&rest, "roomDeleted", &public), 0, "{rest:?}");
    }
    sio_event(&mut b_sio, "roomDeleted", &public).await;
    // The joined connection was unsubscribed.
    let ack = b_joined.send_message(&public, "still here?").await;
    assert_eq!(ack["data"]["code"], "not_joined", "{ack}");
    // A private room's deletion is for its members only.
    let other = id_of(&create_room(&s, &alice, "other secret", true).await);
    let (status, _) = request(&s, "DELETE", &alice, &format!("/api/rooms/{other}"), None).await;
    assert_eq!(status, 204);
    let m2 = marker(&s, &alice, "marker two").await;
    let carol_saw = frames_until(&mut c, "roomAdded", &m2).await;
    assert_eq!(count(&carol_saw, "roomDeleted", &other), 0, "{carol_saw:?}");
}

#[tokio::test]
async fn a_rename_survives_a_restart() {
    let mut s = Server::start_process();
    let [alice] = register_all(&s, ["alice"]).await;
    let room = id_of(&create_room(&s, &alice, "before", false).await);
    let edit = json!({"name": "After", "description": "d"});
    let (status, _) = patch(&s, &alice, &room, edit).await;
    assert_eq!(status, 200);
    s.restart();
    let r = listed(&s, &alice, &room).await;
    assert_eq!(
        (r["name"].as_str(), r["description"].as_str()),
        (Some("After"), Some("d"))
    );
    create_room(&s, &alice, "BEFORE", false).await;
    assert_name_taken(&s, &alice, "after").await;
}

#[tokio::test]
async fn the_members_of_a_private_room_are_told_when_someone_joins_or_leaves() {
    let s = Server::start();
    let [alice, bob, carol] = register_all(&s, ["alice", "bob", "carol"]).await;
    let secret = id_of(&create_room(&s, &alice, "secret", true).await);
    add_member(&s, &alice, &secret, "bob").await;
    let mut b = Client::connect(&s, &bob).await;
    let mut c = Client::connect(&s, &carol).await;
    // Both connections are registered once they hear of a new room.
    let m0 = marker(&s, &alice, "first marker").await;
    frames_until(&mut b, "roomAdded", &m0).await;
    frames_until(&mut c, "roomAdded", &m0).await;

    add_member(&s, &alice, &secret, "carol").await;
    let seen = frames_until(&mut b, "roomUpdated", &secret).await;
    assert_eq!(
        seen.last().expect("roomUpdated")["data"]["room"]["name"],
        "secret"
    );
    // Carol hears roomAdded, not an update of a room she did not have.
    let added = frames_until(&mut c, "roomAdded", &secret).await;
    assert_eq!(count(&added, "roomUpdated", &secret), 0, "{added:?}");

    let path = format!("/api/rooms/{secret}/members/carol");
    assert_eq!(request(&s, "DELETE", &alice, &path, None).await.0, 204);
    frames_until(&mut b, "roomUpdated", &secret).await;
    let m = marker(&s, &alice, "marker").await;
    let carol_saw = frames_until(&mut c, "roomAdded", &m).await;
    assert_eq!(
        count(&carol_saw, "roomRemoved", &secret),
        1,
        "{carol_saw:?}"
    );
    assert_eq!(
        count(&carol_saw, "roomUpdated", &secret),
        0,
        "{carol_saw:?}"
    );
}
