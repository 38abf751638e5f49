//! `GET /api/search`: what each caller finds. Only rooms the caller can
//! read now (a private room by its members and admins, a direct room by
//! its participants only); an edited message by its new text only; a
//! deleted message, or one of a deleted room, never.

use serde_json::{json, Value};

use crate::common::*;
use crate::search::*;

#[track_caller]
fn assert_not_found(status: u16, v: &Value, what: &str) {
    assert_eq!(
        (status, &v["error"]["code"]),
        (404, &json!("not_found")),
        "{what}: {v}"
    );
}

#[tokio::test]
async fn a_private_room_is_searched_by_its_members_and_admins_while_they_are() {
    let (s, [alice, bob, carol], general) = general(["alice", "bob", "carol"]).await;
    let root = admin(&s, "root").await;
    let secret = room_id(&s, &alice, "secret", true).await;
    add_member(&s, &alice, &secret, "bob").await;
    let mut a = Client::joined(&s, &alice, &[&general, &secret]).await;
    let text = "mango smoothie recipe";
    a.say(&secret, text).await;
    settle(&s, &alice, &mut a, &general).await;

    for who in [&alice, &bob, &root] {
        let v = search(&s, who, "mango").await;
        assert_eq!(texts(&v), vec![text], "{} is a reader: {v}", who.name);
        assert_eq!(
            results(&v)[0]["room"],
            json!({"id": secret, "name": "secret", "kind": "private"}),
            "{v}"
        );
        let v = search_ok(&s, who, &[("q", "smoothie"), ("roomId", &secret)]).await;
        assert_eq!(texts(&v), vec![text], "{}: {v}", who.name);
    }
    assert_finds(&search(&s, &carol, "mango").await, "mango", &[]);
    let (status, v) = search_with(&s, &carol, &[("q", "mango"), ("roomId", &secret)]).await;
    assert_not_found(status, &v, "roomId of a room carol cannot read");
    let (status, v) = search_with(&s, &carol, &[("q", "mango"), ("roomId", "999999")]).await;
    assert_not_found(status, &v, "roomId of no room");

    // Removed from the room: bob no longer finds its messages.
    let path = format!("/api/rooms/{secret}/members/bob");
    let (status, v) = request(&s, "DELETE", &alice, &path, None).await;
    assert_eq!(status, 204, "{v}");
    assert_finds(&search(&s, &bob, "mango").await, "mango after removal", &[]);
    assert_finds(&search(&s, &bob, "in:secret").await, "in:secret", &[]);
    let (status, v) = search_with(&s, &bob, &[("q", "mango"), ("roomId", &secret)]).await;
    assert_not_found(status, &v, "roomId after removal");
    // And added back, he finds them again.
    add_member(&s, &alice, &secret, "bob").await;
    assert_eq!(texts(&search(&s, &bob, "mango").await), vec![text]);
}

#[tokio::test]
async fn a_direct_room_is_searched_by_its_participants_only() {
    let s = Server::start();
    let [alice, bob, carol] = register_all(&s, ["alice", "bob", "carol"]).await;
    let root = admin(&s, "root").await;
    let (status, dm) = request(
        &s,
        "POST",
        &alice,
        "/api/dms",
        Some(json!({"usernames": ["bob"]})),
    )
    .await;
    assert_eq!(status, 201, "{dm}");
    let dm = id_of(&dm);
    let mut a = Client::joined(&s, &alice, &[&dm]).await;
    let text = "papaya plan for friday";
    a.say(&dm, text).await;
    settle(&s, &alice, &mut a, &dm).await;

    for (who, name) in [(&alice, "bob"), (&bob, "alice")] {
        let v = search(&s, who, "papaya").await;
        assert_eq!(texts(&v), vec![text], "{}: {v}", who.name);
        assert_eq!(
            results(&v)[0]["room"],
            json!({"id": dm, "name": name, "kind": "direct"}),
            "the room as {} sees it: {v}",
            who.name
        );
    }
    for who in [&carol, &root] {
        assert_finds(&search(&s, who, "papaya").await, "papaya", &[]);
        let (status, v) = search_with(&s, who, &[("q", "papaya"), ("roomId", &dm)]).await;
        assert_not_found(status, &v, &format!("{} and a direct room", who.name));
    }
}

#[tokio::test]
async fn an_edited_message_is_found_by_its_new_text_only() {
    let (s, [alice, bob], room) = general(["alice", "bob"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let id = id_of(&a.say(&room, "original wording kiwi").await);
    found(&s, &bob, "kiwi", "original wording kiwi").await;

    let path = format!("/api/rooms/{room}/messages/{id}");
    let body = json!({"message": "revised wording lemon"});
    let (status, v) = request(&s, "PATCH", &alice, &path, Some(body)).await;
    assert_eq!(status, 200, "{v}");
    let v = found(&s, &bob, "lemon", "revised wording lemon").await;
    assert_eq!(ids(&v), vec![id.clone()], "{v}");
    assert_eq!(results(&v)[0]["highlights"], json!([[16, 21]]), "{v}");
    settle(&s, &bob, &mut a, &room).await;
    assert_finds(&search(&s, &bob, "kiwi").await, "kiwi", &[]);
    assert_finds(&search(&s, &bob, "original").await, "original", &[]);
    let v = search(&s, &bob, "wording").await;
    assert_eq!(texts(&v), vec!["revised wording lemon"], "once, as edited");
    assert_eq!(ids(&v), vec![id], "{v}");
}

#[tokio::test]
async fn deleted_messages_and_the_messages_of_deleted_rooms_are_never_found() {
    let (s, [alice, bob], general) = general(["alice", "bob"]).await;
    let mut a = Client::joined(&s, &alice, &[&general]).await;
    let doomed = room_id(&s, &alice, "doomed", false).await;
    a.join(&doomed).await;
    let gone = id_of(&a.say(&general, "ephemeral banana").await);
    a.say(&general, "lasting banana").await;
    for i in 0..3 {
        a.say(&doomed, &format!("doomed cherry {i}")).await;
    }
    settle(&s, &bob, &mut a, &general).await;
    assert_eq!(results(&search(&s, &bob, "banana").await).len(), 2);
    assert_eq!(results(&search(&s, &bob, "cherry").await).len(), 3);

    // Not found from the moment the deletion is answered.
    let path = format!("/api/rooms/{general}/messages/{gone}");
    assert_eq!(request(&s, "DELETE", &alice, &path, None).await.0, 204);
    let v = search(&s, &bob, "banana").await;
    assert_eq!(texts(&v), vec!["lasting banana"], "right after the delete");
    let (status, v) = request(&s, "DELETE", &alice, &format!("/api/rooms/{doomed}"), None).await;
    assert_eq!(status, 204, "{v}");
    assert_finds(&search(&s, &bob, "cherry").await, "cherry", &[]);
    assert_finds(&search(&s, &bob, "in:doomed").await, "in:doomed", &[]);

    // Nor later, once the index has seen everything.
    settle(&s, &bob, &mut a, &general).await;
    assert_eq!(
        texts(&search(&s, &bob, "banana").await),
        vec!["lasting banana"]
    );
    assert_finds(&search(&s, &bob, "ephemeral").await, "ephemeral", &[]);
    assert_finds(&search(&s, &alice, "cherry").await, "cherry", &[]);
    let (status, v) = search_with(&s, &alice, &[("q", "cherry"), ("roomId", &doomed)]).await;
    assert_not_found(status, &v, "roomId of a deleted room");

    // A new room of the same name does not bring them back.
    let again = room_id(&s, &alice, "doomed", false).await;
    a.join(&again).await;
    a.say(&again, "fresh cherry").await;
    let v = found(&s, &bob, "cherry", "fresh cherry").await;
    assert_eq!(texts(&v), vec!["fresh cherry"], "{v}");
}

/// Waits until `q` finds one message, which must take under a second
/// from `since`; prints how long it took.
async fn within_a_second(s: &Server, u: &User, q: &str, since: std::time::Instant) {
    let second = std::time::Duration::from_secs(1);
    let left = second.saturating_sub(since.elapsed());
    eventually_within(s, u, &[("q", q)], left, |v| results(v).len() == 1).await;
    eprintln!("{q:?} searchable {:?} after it was sent", since.elapsed());
}

#[tokio::test]
async fn a_message_and_its_edit_are_searchable_within_a_second_of_their_ack() {
    let (s, [alice], room) = general(["alice"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let sent = std::time::Instant::now();
    let id = id_of(&a.say(&room, "prompt walnut").await);
    within_a_second(&s, &alice, "walnut", sent).await;

    let path = format!("/api/rooms/{room}/messages/{id}");
    let body = json!({"message": "prompt hazelnut"});
    let edited = std::time::Instant::now();
    assert_eq!(request(&s, "PATCH", &alice, &path, Some(body)).await.0, 200);
    within_a_second(&s, &alice, "hazelnut", edited).await;
}
