//! `GET /api/search` (docs/protocol-additions.md, "Search"): the shared
//! steps of the search tests, and how a query's words match: whole words,
//! the last one as a prefix, case and accents ignored, Chinese, Japanese
//! and Korean text without spaces, quoted phrases, and the highlights.
//!
//! Indexing runs behind the ack, so a test waits (bounded) until what it
//! sent is found; a test that expects something *not* to be found first
//! waits for a marker sent after it, so that its absence is not a race.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;

/// How long a message may take to become searchable here: the contract's
/// second under normal load, with room for a slow test machine.
pub const POLL: Duration = Duration::from_secs(5);

/// `/api/search` with `params` encoded as its query string.
pub fn search_path(params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params("http://localhost/api/search", params)
        .expect("a search URL");
    format!("/api/search?{}", url.query().unwrap_or(""))
}

/// `GET /api/search` with `params` as `u`: the status and the answer.
pub async fn search_with(s: &Server, u: &User, params: &[(&str, &str)]) -> (u16, Value) {
    get(s, u, &search_path(params)).await
}

/// A search that must succeed; its answer, checked against what every
/// answer promises (see [`check_answer`]).
pub async fn search_ok(s: &Server, u: &User, params: &[(&str, &str)]) -> Value {
    let (status, v) = search_with(s, u, params).await;
    assert_eq!(status, 200, "search {params:?} as {}: {v}", u.name);
    check_answer(&v, params);
    v
}

/// [`search_ok`] of the query `q` alone.
pub async fn search(s: &Server, u: &User, q: &str) -> Value {
    search_ok(s, u, &[("q", q)]).await
}

/// What every answer promises: results newest first (ids, fixed-width,
/// strictly decreasing), each with its message, its room, and highlights
/// ascending, not overlapping and inside the text (in UTF-16 units).
#[track_caller]
pub fn check_answer(v: &Value, params: &[(&str, &str)]) {
    let results = results(v);
    let mut ids = ids(v);
    ids.reverse();
    assert_strictly_increasing(&ids, &format!("results of {params:?} newest first"));
    for r in results {
        assert!(r["message"].is_object(), "{params:?}: no message in {r}");
        assert_eq!(r["room"]["id"], r["message"]["roomId"], "{params:?}: {r}");
        assert!(r["room"]["name"].is_string(), "{params:?}: {r}");
        let len = str_of(&r["message"]["message"]).encode_utf16().count() as u64;
        let mut end = 0;
        for h in r["highlights"].as_array().expect("highlights") {
            let (a, b) = (h[0].as_u64().expect("start"), h[1].as_u64().expect("end"));
            assert!(
                end <= a && a < b && b <= len,
                "{params:?}: highlights not ascending, apart and inside the text: {r}"
            );
            end = b;
        }
    }
    if let Some(next) = v.get("next") {
        assert!(next.is_string(), "{params:?}: next must be an id: {v}");
    }
}

/// The results of an answer.
pub fn results(v: &Value) -> &Vec<Value> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {v}"))
}

/// The texts of an answer's messages, in its order.
pub fn texts(v: &Value) -> Vec<String> {
    results(v)
        .iter()
        .map(|r| str_of(&r["message"]["message"]))
        .collect()
}

/// The texts of an answer's messages, sorted.
pub fn sorted_texts(v: &Value) -> Vec<String> {
    let mut t = texts(v);
    t.sort();
    t
}

/// The ids of an answer's messages, in its order.
pub fn ids(v: &Value) -> Vec<String> {
    results(v).iter().map(|r| id_of(&r["message"])).collect()
}

/// Searches `params` as `u` until `done` holds of the answer, for at most
/// `within`; returns that answer, or panics with the last one.
pub async fn eventually_within(
    s: &Server,
    u: &User,
    params: &[(&str, &str)],
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let v = search_ok(s, u, params).await;
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "search {params:?} as {} not as expected within {within:?}; last answer: {v}",
            u.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`eventually_within`] bounded by [`POLL`].
pub async fn eventually(
    s: &Server,
    u: &User,
    params: &[(&str, &str)],
    done: impl Fn(&Value) -> bool,
) -> Value {
    eventually_within(s, u, params, POLL, done).await
}

/// Waits until `u`'s search for `q` finds a message whose text is `text`;
/// the answer.
pub async fn found(s: &Server, u: &User, q: &str, text: &str) -> Value {
    eventually(s, u, &[("q", q)], |v| texts(v).iter().any(|t| t == text)).await
}

/// A word of its own for each marker of a test run.
static MARKERS: AtomicUsize = AtomicUsize::new(0);

/// Sends a fresh marker to `room` through `c` and waits until `u` finds
/// it: everything sent before it is then indexed, and whatever is still
/// not found is not found for good.
pub async fn settle(s: &Server, u: &User, c: &mut Client, room: &str) {
    let word = format!("zzmarker{}", MARKERS.fetch_add(1, Ordering::Relaxed));
    c.say(room, &word).await;
    found(s, u, &word, &word).await;
}

/// A server where alice said each of `lines` in "general", all of them
/// searchable: the server, alice, the room's id, the messages' ids.
pub async fn indexed(lines: &[&str]) -> (Server, User, String, Vec<String>) {
    let (s, [alice], room) = general(["alice"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let mut ids = Vec::new();
    for line in lines {
        ids.push(id_of(&a.say(&room, line).await));
    }
    settle(&s, &alice, &mut a, &room).await;
    (s, alice, room, ids)
}

/// `name` registered and made an admin (through the admin socket), with a
/// fresh token.
pub async fn admin(s: &Server, name: &str) -> User {
    register(s, name).await;
    run_create_admin(s, name, "correct horse");
    login_user(s, name, "correct horse").await
}

/// `u`'s search for `q` finds exactly the messages of `want` (any order).
#[track_caller]
pub fn assert_finds(v: &Value, q: &str, want: &[&str]) {
    let mut want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
    want.sort();
    assert_eq!(sorted_texts(v), want, "search {q:?}: {v}");
}

/// Alice says each of `lines` (see [`indexed`]); then each `(query,
/// texts)` of `cases` finds exactly those texts.
async fn lines_and_queries(lines: &[&str], cases: &[(&str, &[&str])]) {
    let (s, alice, _, _) = indexed(lines).await;
    expect_all(&s, &alice, cases).await;
}

/// [`lines_and_queries`] with the queries grouped by the texts they find.
async fn lines_and_groups(lines: &[&str], groups: &[(&[&str], &[&str])]) {
    let cases: Vec<(&str, &[&str])> = groups
        .iter()
        .flat_map(|(queries, want)| queries.iter().map(move |q| (*q, *want)))
        .collect();
    lines_and_queries(lines, &cases).await;
}

/// Searches each `(query, texts)` pair as `u` and checks the texts found.
pub async fn expect_all(s: &Server, u: &User, cases: &[(&str, &[&str])]) {
    for (q, want) in cases {
        assert_finds(&search(s, u, q).await, q, want);
    }
}

#[tokio::test]
async fn words_match_whole_words_and_only_the_last_one_as_a_prefix() {
    let lines = [
        "concatenate dog",
        "cat dog",
        "catalog dog",
        "the dogma",
        "Raspberry pie at 5?",
        "state-of-the-art,done",
    ];
    let (s, alice, room, ids) = indexed(&lines).await;

    expect_all(
        &s,
        &alice,
        &[
            ("cat dog", &["cat dog"]),
            ("dog cat", &["cat dog", "catalog dog"]),
            (
                "dog",
                &["concatenate dog", "cat dog", "catalog dog", "the dogma"],
            ),
            ("dog concat", &["concatenate dog"]),
            ("atenate", &[]),
            ("rasp", &["Raspberry pie at 5?"]),
            ("pie rasp", &["Raspberry pie at 5?"]),
            ("rasp pie", &[]),
            ("raspberry pie 5", &["Raspberry pie at 5?"]),
            ("dog pie", &[]),
            ("dog, cat!", &["cat dog", "catalog dog"]),
            ("of art", &["state-of-the-art,done"]),
            ("done state", &["state-of-the-art,done"]),
        ],
    )
    .await;

    // Each result carries the message as history has it, reactions too.
    let thumbs = format!(
        "/api/rooms/{room}/messages/{}/reactions/%F0%9F%91%8D",
        ids[4]
    );
    assert_eq!(request(&s, "PUT", &alice, &thumbs, None).await.0, 204);
    let history = all_messages(&s, &alice, &room).await;
    let v = search(&s, &alice, "rasp").await;
    let r = &results(&v)[0];
    let stored = history
        .iter()
        .find(|m| m["message"] == "Raspberry pie at 5?")
        .expect("in history");
    assert_eq!(&r["message"], stored, "{v}");
    assert_eq!(
        r["room"],
        json!({"id": room, "name": "general", "kind": "public"}),
        "{v}"
    );
}

#[tokio::test]
async fn a_last_word_expands_to_the_64_most_used_words_it_begins() {
    let (s, [alice], room) = general(["alice"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    // pfx00 to pfx63 said twice each, pfx64 to pfx69 once.
    let lines: Vec<String> = (0..64)
        .chain(0..70)
        .map(|i| format!("prefixed pfx{i:02}"))
        .collect();
    a.send_pipelined(Some(&room), &lines).await;
    settle(&s, &alice, &mut a, &room).await;
    let v = search_ok(&s, &alice, &[("q", "pfx"), ("limit", "100")]).await;
    let more = search_ok(
        &s,
        &alice,
        &[
            ("q", "pfx"),
            ("before", &str_of(&v["next"])),
            ("limit", "100"),
        ],
    )
    .await;
    let mut words: Vec<String> = texts(&v).into_iter().chain(texts(&more)).collect();
    words.sort();
    words.dedup();
    let want: Vec<String> = (0..64).map(|i| format!("prefixed pfx{i:02}")).collect();
    assert_eq!(words, want, "the 64 most used words beginning with pfx");
    assert_eq!(results(&v).len() + results(&more).len(), 128);
    // Named whole, a rarer word is found.
    assert_eq!(
        texts(&search(&s, &alice, "pfx69").await),
        vec!["prefixed pfx69"]
    );
}

#[tokio::test]
async fn case_and_accents_are_ignored_both_ways() {
    let lines = [
        "\u{c9}lan vital",
        "ELAN again",
        "caf\u{e9} cr\u{e8}me",
        "CAFE NOIR",
        "na\u{ef}ve r\u{e9}sum\u{e9}",
        "\u{41f}\u{440}\u{438}\u{432}\u{435}\u{442} \u{41c}\u{418}\u{420}",
    ];
    lines_and_groups(
        &lines,
        &[
            (&["\u{c9}lan", "\u{e9}lan", "elan", "ELAN"], &lines[..2]),
            (&["cafe", "CAF\u{c9}", "caf\u{e9}"], &lines[2..4]),
            (
                &["resume naive", "R\u{c9}SUM\u{c9} NA\u{cf}VE"],
                &lines[4..5],
            ),
            (&["creme cafe"], &lines[2..3]),
            // Cyrillic: "привет", "ПРИВЕТ мир".
            (
                &[
                    "\u{43f}\u{440}\u{438}\u{432}\u{435}\u{442}",
                    "\u{41f}\u{420}\u{418}\u{412}\u{415}\u{422} \u{43c}\u{438}\u{440}",
                ],
                &lines[5..],
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn chinese_japanese_and_korean_text_is_found_without_spaces() {
    let tokyo = "東京都に住んでいます";
    let kyoto = "京都の寺";
    let beijing = "我们明天去北京吃烤鸭";
    let seoul = "서울특별시에서 만나요";
    lines_and_groups(
        &[tokyo, kyoto, beijing, seoul],
        &[
            (&["東京", "東京都に住んで", "住んでいます"], &[tokyo]),
            (&["京都"], &[tokyo, kyoto]),
            (&["北京", "烤鸭", "明天去北京", "烤"], &[beijing]),
            (&["서울", "특별시", "만나요", "서울 만나"], &[seoul]),
            (&["京東", "北京明天", "울서"], &[]),
        ],
    )
    .await;
}

#[tokio::test]
async fn quoted_phrases_match_their_words_in_order_and_next_to_each_other() {
    // The same words in order, in another order, and apart.
    let lines = [
        "the quick brown fox jumps",
        "brown quick fox",
        "quick and brown",
    ];
    lines_and_queries(
        &lines,
        &[
            ("\"quick brown\"", &[lines[0]]),
            ("\"brown quick\"", &[lines[1]]),
            ("quick brown", &lines),
            ("\"quick fox\"", &[lines[1]]),
            ("\"fox quick\"", &[]),
            ("\"quick brown\" jumps", &[lines[0]]),
            ("fox \"QUICK BROWN\"", &[lines[0]]),
            ("\"quick bro\"", &[]),
            ("\"and brown\" quick", &[lines[2]]),
        ],
    )
    .await;
}

#[tokio::test]
async fn highlights_are_utf16_offsets_of_the_matched_words() {
    // An emoji, accented letters and a musical symbol before the words.
    let (smiley, creme, clef) = (
        "\u{1f600} Raspberry pie",
        "Cr\u{e8}me br\u{fb}l\u{e9}e and raspberries",
        "x \u{1d11e} \u{e9} rasp",
    );
    let (s, alice, _, _) = indexed(&[smiley, creme, clef]).await;

    let highlights = |v: &Value, text: &str| -> Value {
        results(v)
            .iter()
            .find(|r| r["message"]["message"] == text)
            .unwrap_or_else(|| panic!("{text:?} not found: {v}"))["highlights"]
            .clone()
    };
    let v = search(&s, &alice, "raspberry").await;
    assert_eq!(highlights(&v, smiley), json!([[3, 12]]), "{v}");
    let v = search(&s, &alice, "rasp").await;
    assert_eq!(results(&v).len(), 3, "{v}");
    assert_eq!(highlights(&v, smiley), json!([[3, 12]]), "{v}");
    assert_eq!(highlights(&v, creme), json!([[17, 28]]), "{v}");
    assert_eq!(highlights(&v, clef), json!([[7, 11]]), "{v}");
    let v = search(&s, &alice, "raspberries brulee").await;
    assert_eq!(highlights(&v, creme), json!([[6, 12], [17, 28]]), "{v}");
    let v = search(&s, &alice, "\"E RASP\"").await;
    assert_eq!(highlights(&v, clef), json!([[5, 6], [7, 11]]), "{v}");
}
