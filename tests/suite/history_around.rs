//! `GET /api/rooms/{roomId}/messages?around=MESSAGEID` (docs/protocol-additions.md,
//! "History around a message"): the page that opens a message in context.

use serde_json::{json, Value};

use crate::common::*;

fn texts(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| str_of(&m["message"]))
        .collect()
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

#[tokio::test]
async fn a_page_around_a_message_is_centred_and_says_what_lies_beyond() {
    let (s, [alice, bob], room) = general(["alice", "bob"]).await;
    let secret = room_id(&s, &alice, "secret", true).await;
    let mut a = Client::joined(&s, &alice, &[&room, &secret]).await;
    let mut ids = Vec::new();
    for text in numbered(0..30) {
        ids.push(str_of(&a.say(&room, &text).await["id"]));
    }
    let hidden = str_of(&a.say(&secret, "not for bob").await["id"]);
    let around = |who: &User, room: &str, query: String| {
        let path = format!("/api/rooms/{room}/messages?{query}");
        let (s, who) = (&s, who.clone());
        async move { get(s, &who, &path).await }
    };

    // (around, limit, the page, more before, more after)
    for (at, limit, want, before, after) in [
        (10, "5", 8..13, true, true),
        (0, "5", 0..5, false, true),
        (29, "4", 26..30, true, false),
        (15, "200", 0..30, false, false),
    ] {
        let (status, page) = around(&bob, &room, format!("around={}&limit={limit}", ids[at])).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(texts(&page), numbered(want), "around {at}, limit {limit}");
        assert_eq!(
            (&page["hasMoreBefore"], &page["hasMoreAfter"]),
            (&json!(before), &json!(after)),
            "around {at}, limit {limit}: {page}"
        );
    }
    let (_, page) = around(&bob, &room, format!("around={}", ids[20])).await;
    assert_eq!(texts(&page), numbered(0..30), "the default limit (50)");

    // A message of another room, one since deleted, or a room the caller
    // cannot see: not found.
    let (status, v) = around(&alice, &room, format!("around={hidden}")).await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (404, &json!("not_found")),
        "{v}"
    );
    let (status, v) = around(&bob, &secret, format!("around={hidden}")).await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (404, &json!("not_found")),
        "{v}"
    );
    let path = format!("/api/rooms/{room}/messages/{}", ids[10]);
    assert_eq!(request(&s, "DELETE", &alice, &path, None).await.0, 204);
    let (status, v) = around(&bob, &room, format!("around={}", ids[10])).await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (404, &json!("not_found")),
        "{v}"
    );
    let (_, page) = around(&bob, &room, format!("around={}&limit=3", ids[11])).await;
    assert_eq!(
        texts(&page),
        vec!["m9", "m11", "m12"],
        "the deleted one is skipped"
    );

    for query in [
        format!("around={}&before={}", ids[5], ids[9]),
        format!("around={}&after={}", ids[5], ids[1]),
        "around=garbage".to_owned(),
        format!("around={}&limit=0", ids[5]),
    ] {
        let (status, v) = around(&bob, &room, query.clone()).await;
        assert_eq!(status, 400, "{query}: {v}");
        assert_eq!(v["error"]["code"], "validation_failed", "{query}: {v}");
    }
}
