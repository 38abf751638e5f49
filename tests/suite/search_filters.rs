//! `GET /api/search`: the filters (`from:`, `in:`, `roomId`), pages
//! (`before`, `next`, `limit`) and the queries refused.

use serde_json::{json, Value};

use crate::common::*;
use crate::search::*;

#[tokio::test]
async fn from_and_in_keep_to_an_author_and_a_room() {
    let (s, [alice, bob, carol], general) = general(["alice", "bob", "carol"]).await;
    let random = room_id(&s, &bob, "Random", false).await;
    let secret = room_id(&s, &alice, "secret", true).await;
    let mut a = Client::joined(&s, &alice, &[&general, &random, &secret]).await;
    let mut b = Client::joined(&s, &bob, &[&general, &random]).await;
    a.say(&general, "lunch plans by alice").await;
    b.say(&general, "lunch plans by bob").await;
    a.say(&random, "lunch in random").await;
    b.say(&random, "dinner in random").await;
    a.say(&secret, "lunch in secret").await;
    settle(&s, &alice, &mut a, &general).await;

    let by_alice: &[&str] = &["lunch plans by alice", "lunch in random", "lunch in secret"];
    let in_random: &[&str] = &["lunch in random", "dinner in random"];
    expect_all(
        &s,
        &alice,
        &[
            ("lunch from:alice", by_alice),
            ("lunch from:@alice", by_alice),
            ("from:ALICE lunch", by_alice),
            ("lunch from:nobody", &[]),
            ("in:random", in_random),
            ("in:#Random", in_random),
            ("in:RANDOM dinner", &["dinner in random"]),
            ("lunch in:nowhere", &[]),
            ("lunch in:random from:alice", &["lunch in random"]),
            ("lunch in:secret", &["lunch in secret"]),
        ],
    )
    .await;
    // Filters alone: that user's messages, newest first.
    let v = search(&s, &alice, "from:bob").await;
    assert_eq!(
        texts(&v),
        vec!["dinner in random", "lunch plans by bob"],
        "{v}"
    );
    // A room carol cannot read matches nothing, by name as by anything.
    assert_finds(&search(&s, &carol, "in:secret").await, "in:secret", &[]);
    let public = [
        "lunch plans by alice",
        "lunch plans by bob",
        "lunch in random",
    ];
    assert_finds(&search(&s, &carol, "lunch").await, "lunch", &public);
    let v = search(&s, &carol, "lunch from:alice").await;
    assert_eq!(texts(&v), vec!["lunch in random", "lunch plans by alice"]);

    // roomId keeps to one room.
    let v = search_ok(&s, &bob, &[("q", "lunch"), ("roomId", &random)]).await;
    assert_eq!(texts(&v), vec!["lunch in random"], "{v}");
    let v = search_ok(&s, &alice, &[("q", "lunch"), ("roomId", &secret)]).await;
    assert_eq!(texts(&v), vec!["lunch in secret"], "{v}");
}

/// Every page of `q` as `u`, `limit` at a time, following `next`; the
/// pages (bounded: at most `max_pages`).
pub async fn all_pages(
    s: &Server,
    u: &User,
    q: &str,
    limit: Option<&str>,
    max_pages: usize,
) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..max_pages {
        let mut params = vec![("q", q)];
        if let Some(l) = limit {
            params.push(("limit", l));
        }
        if let Some(b) = &before {
            params.push(("before", b.as_str()));
        }
        let v = search_ok(s, u, &params).await;
        before = v.get("next").map(str_of);
        pages.push(v);
        if before.is_none() {
            return pages;
        }
    }
    panic!("more than {max_pages} pages of {q:?}");
}

/// The ids of all the pages, in order.
pub fn page_ids(pages: &[Value]) -> Vec<String> {
    pages.iter().flat_map(ids).collect()
}

#[tokio::test]
async fn pages_run_newest_first_without_repeats_and_limits_are_clamped() {
    let (s, [alice], room) = general(["alice"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let lines: Vec<String> = (0..130).map(|i| format!("pageword number{i}")).collect();
    let (acks, _) = a.send_pipelined(Some(&room), &lines).await;
    let mut sent: Vec<String> = acks
        .iter()
        .map(|f| id_of(&ack_data(f, "sendMessage")))
        .collect();
    sent.reverse();
    settle(&s, &alice, &mut a, &room).await;

    let v = search(&s, &alice, "pageword").await;
    assert_eq!(ids(&v), sent[..20].to_vec(), "the default limit is 20");
    assert_eq!(v["next"], json!(sent[19]), "{v}");
    for (limit, n) in [("7", 7), ("100", 100), ("101", 100), ("1000", 100)] {
        let v = search_ok(&s, &alice, &[("q", "pageword"), ("limit", limit)]).await;
        assert_eq!(ids(&v), sent[..n].to_vec(), "limit={limit}");
    }

    for (limit, sizes) in [
        (None, vec![20, 20, 20, 20, 20, 20, 10]),
        (Some("50"), vec![50, 50, 30]),
    ] {
        let pages = all_pages(&s, &alice, "pageword", limit, 20).await;
        let mut got: Vec<usize> = pages.iter().map(|p| results(p).len()).collect();
        // `next` may be given on the last full page; the page after is empty.
        if got.last() == Some(&0) {
            got.pop();
        }
        assert_eq!(got, sizes, "page sizes with limit {limit:?}");
        assert_eq!(page_ids(&pages), sent, "every result once, newest first");
    }
    let v = search_ok(&s, &alice, &[("q", "pageword"), ("before", &sent[129])]).await;
    assert_eq!(results(&v).len(), 0, "nothing older than the oldest: {v}");
    assert!(v.get("next").is_none(), "{v}");
    let v = search_ok(&s, &alice, &[("q", "number12"), ("before", &sent[0])]).await;
    let mut want: Vec<String> = (120..130)
        .rev()
        .map(|i| format!("pageword number{i}"))
        .collect();
    want.push("pageword number12".into());
    // number129 is the newest; `before` its id leaves out that one.
    want.remove(0);
    assert_eq!(texts(&v), want, "{v}");
}

/// A query of `n` words, then `filter`.
fn words(n: usize, filter: Option<&str>) -> String {
    let mut q: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
    q.extend(filter.map(str::to_owned));
    q.join(" ")
}

#[tokio::test]
async fn bad_queries_are_refused() {
    let (s, alice, _, ids) = indexed(&["something to find"]).await;

    let long = "a".repeat(501);
    let words17 = words(17, None);
    let words16_and_filter = words(16, Some("from:alice"));
    let refused: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("q", "")],
        vec![("q", "   ")],
        vec![("q", "\t \n")],
        vec![("q", &long)],
        vec![("q", &words17)],
        vec![("q", &words16_and_filter)],
        vec![("q", "find"), ("before", "garbage")],
        vec![("q", "find"), ("before", "-1")],
    ];
    for params in refused {
        let (status, v) = search_with(&s, &alice, &params).await;
        assert_eq!(status, 400, "{params:?}: {v}");
        assert_eq!(v["error"]["code"], "validation_failed", "{params:?}: {v}");
    }

    // The bounds themselves are fine: 500 characters (after trimming), 16
    // words and filters.
    let most = "a".repeat(500);
    let padded = format!("  {most}  ");
    let accented = "\u{e9}".repeat(500);
    let words16 = words(16, None);
    let words15_and_filter = words(15, Some("from:alice"));
    for q in [&most, &padded, &accented, &words16, &words15_and_filter] {
        let v = search(&s, &alice, q).await;
        assert_eq!(results(&v).len(), 0, "{q}: {v}");
    }
    search_ok(&s, &alice, &[("q", "find"), ("before", &ids[0])]).await;

    // No token, or a bad one: 401.
    let res = fetch(&s, &search_path(&[("q", "something")])).await;
    assert_eq!(res.status(), 401);
    let forged = User {
        token: "not.a.token".into(),
        ..alice.clone()
    };
    let (status, v) = search_with(&s, &forged, &[("q", "something")]).await;
    assert_eq!(status, 401, "{v}");
}

#[tokio::test]
async fn pages_go_on_past_many_messages_that_hold_the_words_apart() {
    let (s, [alice], room) = general(["alice"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let oldest = id_of(&a.say(&room, "alpha beta together").await);
    // Thousands of candidates for the phrase that only a check of their
    // text rejects, newer than the one match.
    let apart: Vec<String> = (0..2500).map(|i| format!("beta then alpha {i}")).collect();
    a.send_pipelined(Some(&room), &apart).await;
    let newest = id_of(&a.say(&room, "alpha beta again").await);
    settle(&s, &alice, &mut a, &room).await;

    let pages = all_pages(&s, &alice, "\"alpha beta\"", Some("5"), 50).await;
    assert_eq!(page_ids(&pages), vec![newest, oldest], "{pages:?}");
}
