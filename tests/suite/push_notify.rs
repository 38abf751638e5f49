//! Web Push end to end (docs/protocol-additions.md, "Web Push: when a
//! notification is sent"): a real server, real WebSocket clients, and the
//! push service stand-in of `push_stand_in`, which checks each request's
//! VAPID token against `GET /api/push/key` and decrypts its payload with
//! the subscription's private key.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::common::*;
use crate::push_stand_in::*;

/// What every server here runs with: `http:` endpoints (the stand-in is
/// local) and a known contact.
const ARGS: [&str; 3] = ["--push-allow-http", "--vapid-subject", SUBJECT];

/// Long enough to tell "nothing was sent" from "not yet".
const QUIET: Duration = Duration::from_millis(700);

/// The server's VAPID public key, as `GET /api/push/key` gives it.
async fn server_key(s: &Server, u: &User) -> Vec<u8> {
    let (status, v) = get(s, u, "/api/push/key").await;
    assert_eq!(status, 200, "{v}");
    URL_SAFE_NO_PAD
        .decode(str_of(&v["publicKey"]))
        .expect("base64url")
}

/// A browser of `u` subscribed at `path` of `service`.
async fn subscribed(s: &Server, u: &User, service: &PushService, path: &str) -> Subscription {
    let browser = Subscription::new();
    let body = browser.body(&service.endpoint(path));
    let (status, v) = request(s, "POST", u, "/api/push/subscriptions", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    browser
}

/// A direct room of `u` with `others`; its id.
async fn direct(s: &Server, u: &User, others: &[&str]) -> String {
    let body = json!({ "usernames": others });
    let (status, v) = request(s, "POST", u, "/api/dms", Some(body)).await;
    assert!(status == 200 || status == 201, "{status} {v}");
    id_of(&v)
}

async fn set_level(s: &Server, u: &User, room: &str, level: &str) {
    let path = format!("/api/rooms/{room}/notifications");
    let (status, v) = request(s, "PUT", u, &path, Some(json!({ "level": level }))).await;
    assert_eq!(status, 200, "{v}");
}

fn payload(browser: &Subscription, got: &Received) -> Value {
    serde_json::from_slice(&browser.decrypt(&got.body)).expect("a JSON payload")
}

/// The endpoints `u` has subscribed, as the server lists them.
async fn endpoints(s: &Server, u: &User) -> Vec<String> {
    let (status, v) = get(s, u, "/api/push/subscriptions").await;
    assert_eq!(status, 200, "{v}");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|sub| str_of(&sub["endpoint"]))
        .collect()
}

#[tokio::test]
async fn a_direct_message_reaches_a_closed_tab_signed_encrypted_and_urgent() {
    let s = Server::start_with(&ARGS);
    let [alice, bob] = register_all(&s, ["alice", "bob"]).await;
    let mut service = PushService::start(201).await;
    let bobs = subscribed(&s, &bob, &service, "/bob").await;
    subscribed(&s, &alice, &service, "/alice").await;
    let room = direct(&s, &alice, &["bob"]).await;
    let key = server_key(&s, &alice).await;

    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let text: String = "é".repeat(150) + &"x".repeat(150);
    let ack = a.say(&room, &text).await;

    let got = service.next().await;
    assert_eq!((got.method.as_str(), got.path.as_str()), ("POST", "/bob"));
    assert_eq!(got.header("urgency"), "high", "a direct message");
    assert_eq!(got.header("ttl"), "86400", "kept a day");
    assert_eq!(got.header("content-encoding"), "aes128gcm");
    check_vapid(
        got.header("authorization"),
        &key,
        &format!("http://{}", service.addr),
    );
    let cut: String = text.chars().take(200).collect();
    assert_eq!(
        payload(&bobs, &got),
        json!({
            "roomId": room,
            "roomName": "alice",
            "kind": "direct",
            "messageId": ack["id"],
            "user": "alice",
            "text": cut,
        })
    );
    assert!(
        service.drain(QUIET).await.is_empty(),
        "the author is not told of her own message"
    );
}

#[tokio::test]
async fn levels_decide_who_is_told_in_a_shared_room() {
    let (s, [alice, bob, carol, dave], room) =
        general_on(Server::start_with(&ARGS), ["alice", "bob", "carol", "dave"]).await;
    let mut service = PushService::start(201).await;
    let bobs = subscribed(&s, &bob, &service, "/bob").await;
    subscribed(&s, &carol, &service, "/carol").await;
    subscribed(&s, &dave, &service, "/dave").await;
    set_level(&s, &carol, &room, "all").await;
    set_level(&s, &dave, &room, "none").await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;

    a.say(&room, "plain words").await;
    let got = service.next().await;
    assert_eq!(got.path, "/carol", "only who chose all");
    assert_eq!(got.header("urgency"), "normal");
    assert!(service.drain(QUIET).await.is_empty(), "bob: mentions only");

    let ack = a.say(&room, "hi @bob and @dave").await;
    let mut got = [service.next().await, service.next().await];
    got.sort_by(|x, y| x.path.cmp(&y.path));
    let seen: Vec<(&str, &str)> = got
        .iter()
        .map(|r| (r.path.as_str(), r.header("urgency")))
        .collect();
    assert_eq!(seen, vec![("/bob", "high"), ("/carol", "normal")]);
    let told = payload(&bobs, &got[0]);
    assert_eq!(told["messageId"], ack["id"]);
    assert_eq!(told["roomName"], "general");
    assert_eq!(told["kind"], "public");
    assert!(
        service.drain(QUIET).await.is_empty(),
        "dave chose none, mentioned or not"
    );
}

#[tokio::test]
async fn a_user_looking_at_the_room_is_not_pushed_until_hidden_long_enough() {
    let watch = Duration::from_millis(1500);
    let watch_ms = watch.as_millis().to_string();
    let mut args = ARGS.to_vec();
    args.extend(["--push-watch-ms", &watch_ms]);
    let s = Server::start_with(&args);
    let [alice, bob] = register_all(&s, ["alice", "bob"]).await;
    let mut service = PushService::start(201).await;
    let bobs = subscribed(&s, &bob, &service, "/bob").await;
    let room = direct(&s, &alice, &["bob"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let mut b = Client::joined(&s, &bob, &[&room]).await;

    a.say(&room, "one").await;
    assert!(
        service.drain(QUIET).await.is_empty(),
        "a connection that never spoke of visibility shows the room"
    );

    let hidden = b.call("presence", json!({ "visible": false })).await;
    ack_data(&hidden, "presence");
    let hidden_at = Instant::now();
    a.say(&room, "two").await;
    assert!(
        service.drain(Duration::from_millis(300)).await.is_empty(),
        "hidden a moment ago: bob saw the last messages"
    );
    tokio::time::sleep((hidden_at + watch + Duration::from_millis(100)) - Instant::now()).await;
    let three = a.say(&room, "three").await;
    let got = service.next().await;
    assert_eq!(payload(&bobs, &got)["messageId"], three["id"]);

    let shown = b.call("presence", json!({ "visible": true })).await;
    ack_data(&shown, "presence");
    a.say(&room, "four").await;
    assert!(service.drain(QUIET).await.is_empty(), "visible again");

    let left = b.call("leaveRoom", json!({ "roomId": room })).await;
    ack_data(&left, "leaveRoom");
    let five = a.say(&room, "five").await;
    let got = service.next().await;
    assert_eq!(
        payload(&bobs, &got)["messageId"],
        five["id"],
        "a page that left the room does not show it"
    );

    let bad = b.call("presence", json!({ "visible": "yes" })).await;
    assert_eq!(bad["event"], "error", "{bad}");
    assert_eq!(bad["data"]["code"], "validation_failed", "{bad}");
}

#[tokio::test]
async fn a_subscription_its_push_service_calls_gone_is_deleted_for_good() {
    let mut s = Server::start_process_with(&ARGS);
    let [alice, bob] = register_all(&s, ["alice", "bob"]).await;
    let mut gone = PushService::start(410).await;
    let mut kept = PushService::start(201).await;
    subscribed(&s, &bob, &gone, "/gone").await;
    subscribed(&s, &bob, &kept, "/kept").await;
    let room = direct(&s, &alice, &["bob"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    a.say(&room, "are you there?").await;
    assert_eq!(gone.next().await.path, "/gone");
    assert_eq!(kept.next().await.path, "/kept");

    let kept_only = vec![kept.endpoint("/kept")];
    let deadline = Instant::now() + WAIT;
    while endpoints(&s, &bob).await != kept_only {
        assert!(Instant::now() < deadline, "the gone subscription stays");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.child.kill().expect("kill -9");
    s.child.wait().expect("reaped");
    s.respawn();
    assert_eq!(endpoints(&s, &bob).await, kept_only, "and after kill -9");

    let mut a = Client::joined(&s, &alice, &[&room]).await;
    a.say(&room, "still?").await;
    assert_eq!(kept.next().await.path, "/kept");
    assert!(gone.drain(QUIET).await.is_empty(), "never asked again");
}

#[tokio::test]
async fn a_hanging_push_service_delays_no_ack_and_no_delivery() {
    let mut args = ARGS.to_vec();
    args.extend(["--message-rate", "0"]);
    let s = Server::start_with(&args);
    let [alice, bob, carol] = register_all(&s, ["alice", "bob", "carol"]).await;
    let hanging = hanging_service().await;
    for i in 0..10 {
        let browser = Subscription::new();
        let body = browser.body(&format!("http://{hanging}/hang/{i}"));
        let (status, v) = request(&s, "POST", &bob, "/api/push/subscriptions", Some(body)).await;
        assert_eq!(status, 201, "{v}");
    }
    let room = direct(&s, &alice, &["bob", "carol"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    let mut c = Client::joined(&s, &carol, &[&room]).await;
    // Ten jobs a message, four requests hanging at a time: the sender's
    // queue fills within the first hundred messages and drops the rest.
    for i in 0..300 {
        a.say(&room, &format!("m{i}")).await;
    }
    let mut got = 0;
    while got < 300 {
        let f = c.next_event("receiveMessage").await;
        assert_eq!(f["data"]["message"], format!("m{got}"));
        got += 1;
    }
}

#[tokio::test]
async fn a_disabled_account_is_not_pushed() {
    let s = Server::start_with(&ARGS);
    let [alice, bob] = register_all(&s, ["alice", "bob"]).await;
    let password = "a long admin password";
    run_create_admin(&s, "root", password);
    let root = login_user(&s, "root", password).await;
    let mut service = PushService::start(201).await;
    subscribed(&s, &bob, &service, "/bob").await;
    let room = direct(&s, &alice, &["bob"]).await;
    let mut a = Client::joined(&s, &alice, &[&room]).await;
    a.say(&room, "before").await;
    assert_eq!(service.next().await.path, "/bob");

    let (status, v) = user_action(&s, &root, &bob.id, "disable").await;
    assert_eq!(status, 204, "{v}");
    a.say(&room, "after").await;
    assert!(service.drain(QUIET).await.is_empty());
}
