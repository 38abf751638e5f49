//! Web Push, the server's side before any sending: the VAPID key
//! (`GET /api/push/key`), the subscriptions a browser leaves
//! (`/api/push/subscriptions`) and each user's notification level per
//! room (`PUT /api/rooms/{id}/notifications`, `notifications` in the room
//! object).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::{json, Value};

use crate::common::*;

/// A subscription body a browser would send: `endpoint` and keys made
/// from `seed` (a real P-256 point, 16 bytes of auth).
fn subscription(endpoint: &str, seed: u8) -> Value {
    let secret = p256::SecretKey::from_slice(&[seed.max(1); 32]).expect("scalar");
    let point = secret.public_key().to_encoded_point(false);
    json!({
        "endpoint": endpoint,
        "keys": {
            "p256dh": URL_SAFE_NO_PAD.encode(point.as_bytes()),
            "auth": URL_SAFE_NO_PAD.encode([seed; 16]),
        }
    })
}

fn endpoint(i: usize) -> String {
    format!("https://push.example.org/send/{i}")
}

/// `POST /api/push/subscriptions` as `u`: status and answer.
async fn subscribe(s: &Server, u: &User, body: Value) -> (u16, Value) {
    request(s, "POST", u, "/api/push/subscriptions", Some(body)).await
}

async fn unsubscribe(s: &Server, u: &User, endpoint: &str) -> u16 {
    let body = json!({ "endpoint": endpoint });
    request(s, "DELETE", u, "/api/push/subscriptions", Some(body))
        .await
        .0
}

/// The caller's `notifications` in `room`, from the room and the list.
async fn level_of(s: &Server, u: &User, room: &str) -> String {
    let (status, one) = get(s, u, &format!("/api/rooms/{room}")).await;
    assert_eq!(status, 200, "{one}");
    let (_, list) = get(s, u, "/api/rooms").await;
    let listed = list
        .as_array()
        .expect("list")
        .iter()
        .find(|r| r["id"] == room)
        .expect("listed");
    assert_eq!(listed["notifications"], one["notifications"], "{listed}");
    str_of(&one["notifications"])
}

async fn set_level(s: &Server, u: &User, room: &str, level: &str) -> (u16, Value) {
    let path = format!("/api/rooms/{room}/notifications");
    request(s, "PUT", u, &path, Some(json!({ "level": level }))).await
}

/// Runs `chatroom backup` or `restore` on `dir`, which must succeed.
fn admin(command: &str, dir: &Path, file: &Path) {
    let io = if command == "restore" {
        "--input"
    } else {
        "--output"
    };
    let mut cmd = common_command(dir);
    cmd.args([command, "--data-dir"]).arg(dir).arg(io).arg(file);
    let dir_text = dir.to_str().expect("UTF-8 data directory");
    cmd.args(admin_store_args(&[command, "--data-dir", dir_text]));
    let out = run_bounded(cmd, b"", Duration::from_secs(60)).expect("bounded");
    assert!(out.status.success(), "{command}: {out:?}");
}

fn common_command(dir: &Path) -> std::process::Command {
    command(dir.parent().unwrap_or(dir))
}

#[tokio::test]
async fn the_key_is_a_p256_point_kept_with_mode_0600_across_restarts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let s = Server::spawn(&dir, "127.0.0.1:0", &[]);
    let alice = register(&s, "alice").await;
    let (status, v) = get(&s, &alice, "/api/push/key").await;
    assert_eq!(status, 200, "{v}");
    let key = str_of(&v["publicKey"]);
    let point = URL_SAFE_NO_PAD.decode(&key).expect("unpadded base64url");
    assert_eq!((point.len(), point[0]), (65, 4));
    assert!(p256::PublicKey::from_sec1_bytes(&point).is_ok());
    assert_eq!(fetch(&s, "/api/push/key").await.status(), 401);
    let file = dir.join("vapid-private-key");
    let mode = std::fs::metadata(&file)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(s);
    let s = Server::spawn(&dir, "127.0.0.1:0", &[]);
    let alice = login_user(&s, "alice", "correct horse").await;
    assert_eq!(
        get(&s, &alice, "/api/push/key").await.1["publicKey"],
        key.as_str()
    );
    drop(s);
    // A damaged key is refused at start, in one line, and kept as it was.
    std::fs::write(&file, "garbage").expect("damage");
    let err = resolve(&dir, &[]).expect_err("refused");
    assert!(err.contains("corrupt") && !err.contains('\n'), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("kept"), "garbage");
}

/// `serve`'s settings for `dir` and `args`, or the one-line error.
fn resolve(dir: &Path, args: &[&str]) -> Result<(), String> {
    let mut argv = vec!["--data-dir", dir.to_str().expect("utf-8")];
    argv.extend_from_slice(args);
    let serve = chatroom::cli::serve_args(&argv, &[]).expect("arguments");
    chatroom::config::Settings::resolve_with(serve, |_| None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn a_vapid_subject_must_be_mailto_or_https() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    for bad in ["http://example.org", "admin@example.org", "mailto:"] {
        let err = resolve(&dir, &["--vapid-subject", bad]).expect_err(bad);
        assert!(
            err.contains("--vapid-subject") && !err.contains('\n'),
            "{err}"
        );
    }
    for good in ["mailto:ops@example.org", "https://example.org/contact"] {
        resolve(&dir, &["--vapid-subject", good]).expect(good);
    }
    resolve(&dir, &[]).expect("the default subject");
}

#[tokio::test]
async fn subscriptions_are_idempotent_limited_to_ten_and_deleted() {
    let s = Server::start();
    let alice = register(&s, "alice").await;
    for seed in [1, 2, 2] {
        let (status, v) = subscribe(&s, &alice, subscription(&endpoint(0), seed)).await;
        assert_eq!((status, &v["endpoint"]), (201, &json!(endpoint(0))), "{v}");
    }
    for i in 1..10 {
        assert_eq!(
            subscribe(&s, &alice, subscription(&endpoint(i), 3)).await.0,
            201
        );
    }
    let (status, v) = subscribe(&s, &alice, subscription(&endpoint(10), 3)).await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (403, &json!("quota_exceeded")),
        "{v}"
    );
    // One already held is still an update at the limit.
    assert_eq!(
        subscribe(&s, &alice, subscription(&endpoint(9), 4)).await.0,
        201
    );
    assert_eq!(unsubscribe(&s, &alice, &endpoint(9)).await, 204);
    assert_eq!(
        unsubscribe(&s, &alice, &endpoint(9)).await,
        204,
        "gone already"
    );
    assert_eq!(
        subscribe(&s, &alice, subscription(&endpoint(10), 3))
            .await
            .0,
        201
    );
    assert_eq!(
        request(&s, "DELETE", &alice, "/api/push/subscriptions", None)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn subscriptions_are_validated() {
    let s = Server::start();
    let alice = register(&s, "alice").await;
    let good = subscription(&endpoint(0), 1);
    let long = format!("https://push.example.org/{}", "a".repeat(2048));
    // The last ones: no requests into the server's own network.
    let mut bad: Vec<Value> = [
        "http://push.example.org/a",
        "/send/1",
        "push.example.org/a",
        "",
        &long,
        "https://127.0.0.1/push",
        "https://192.168.1.1:8443/push",
        "https://10.0.0.7/push",
        "https://169.254.169.254/latest",
        "https://[::1]/push",
        "https://[fd12::1]/push",
        "https://localhost/push",
    ]
    .iter()
    .map(|e| subscription(e, 1))
    .collect();
    let point = URL_SAFE_NO_PAD
        .decode(str_of(&good["keys"]["p256dh"]))
        .expect("b64");
    let mut off_curve = point.clone();
    off_curve[64] ^= 1;
    for p256dh in [
        URL_SAFE_NO_PAD.encode(&off_curve),
        URL_SAFE_NO_PAD.encode(&point[..33]),
        "not base64!".to_owned(),
    ] {
        let mut b = good.clone();
        b["keys"]["p256dh"] = json!(p256dh);
        bad.push(b);
    }
    let mut short_auth = good.clone();
    short_auth["keys"]["auth"] = json!(URL_SAFE_NO_PAD.encode([1u8; 15]));
    bad.push(short_auth);
    bad.push(json!({ "endpoint": endpoint(0) }));
    for body in bad {
        let (status, v) = subscribe(&s, &alice, body.clone()).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(v["error"]["code"], "validation_failed", "{body}: {v}");
    }
    let mut padded = good.clone();
    padded["keys"]["auth"] = json!(format!("{}==", str_of(&good["keys"]["auth"])));
    assert_eq!(
        subscribe(&s, &alice, padded).await.0,
        201,
        "padding is tolerated"
    );
    let res = http()
        .post(s.url("/api/push/subscriptions"))
        .json(&good)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn http_endpoints_need_the_test_only_flag() {
    let local = subscription("http://127.0.0.1:9/push", 1);
    let s = Server::start();
    let alice = register(&s, "alice").await;
    assert_eq!(subscribe(&s, &alice, local.clone()).await.0, 400);
    drop(s);
    let s = Server::start_with(&["--push-allow-http"]);
    let alice = register(&s, "alice").await;
    assert_eq!(subscribe(&s, &alice, local).await.0, 201);
    let help = chatroom::cli::serve_args(&["--help"], &[]).expect_err("help");
    assert!(!help.to_string().contains("push-allow-http"), "hidden");
    assert!(help.to_string().contains("--vapid-subject"));
}

#[tokio::test]
async fn an_endpoint_moves_to_the_user_who_subscribes_it() {
    let s = Server::start();
    let [alice, bob] = register_all(&s, ["alice", "bob"]).await;
    for i in 0..10 {
        assert_eq!(
            subscribe(&s, &alice, subscription(&endpoint(i), 1)).await.0,
            201
        );
    }
    assert_eq!(
        subscribe(&s, &alice, subscription(&endpoint(10), 1))
            .await
            .0,
        403
    );
    // Bob signs in on the browser of alice's endpoint 0: it is his now.
    assert_eq!(
        subscribe(&s, &bob, subscription(&endpoint(0), 2)).await.0,
        201
    );
    assert_eq!(
        subscribe(&s, &alice, subscription(&endpoint(10), 1))
            .await
            .0,
        201
    );
    // Alice cannot remove it any more; bob can.
    assert_eq!(unsubscribe(&s, &alice, &endpoint(0)).await, 204);
    for i in 1..10 {
        assert_eq!(
            subscribe(&s, &bob, subscription(&endpoint(100 + i), 2))
                .await
                .0,
            201
        );
    }
    let (status, v) = subscribe(&s, &bob, subscription(&endpoint(200), 2)).await;
    assert_eq!(status, 403, "endpoint 0 still counts for bob: {v}");
    assert_eq!(unsubscribe(&s, &bob, &endpoint(0)).await, 204);
    assert_eq!(
        subscribe(&s, &bob, subscription(&endpoint(200), 2)).await.0,
        201
    );
}

#[tokio::test]
async fn levels_default_by_kind_and_are_set_and_shown_per_user() {
    let (s, [alice, bob, carol], general) = general(["alice", "bob", "carol"]).await;
    let hideout = room_id(&s, &alice, "hideout", true).await;
    let body = json!({ "usernames": ["bob"] });
    let (status, dm) = request(&s, "POST", &alice, "/api/dms", Some(body)).await;
    assert!(status == 200 || status == 201, "{dm}");
    let dm = id_of(&dm);
    assert_eq!(level_of(&s, &alice, &general).await, "mentions");
    assert_eq!(level_of(&s, &alice, &hideout).await, "mentions");
    assert_eq!(level_of(&s, &alice, &dm).await, "all");
    for level in ["none", "all", "mentions", "none"] {
        let (status, room) = set_level(&s, &alice, &general, level).await;
        assert_eq!(
            (status, &room["notifications"]),
            (200, &json!(level)),
            "{room}"
        );
        assert_eq!(room["id"], general.as_str());
        assert_eq!(level_of(&s, &alice, &general).await, level);
    }
    assert_eq!(level_of(&s, &bob, &general).await, "mentions", "per user");
    assert_eq!(set_level(&s, &bob, &dm, "mentions").await.0, 200);
    assert_eq!(level_of(&s, &bob, &dm).await, "mentions");
    assert_eq!(level_of(&s, &alice, &dm).await, "all");
    // A room the caller cannot see is not found; a bad level is refused.
    assert_eq!(set_level(&s, &bob, &hideout, "all").await.0, 404);
    assert_eq!(set_level(&s, &carol, &dm, "all").await.0, 404);
    let (status, v) = set_level(&s, &alice, &general, "loud").await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (400, &json!("validation_failed"))
    );
    // The joinRoom ack's room carries it too.
    let mut a = Client::connect(&s, &alice).await;
    let ack = a.call("joinRoom", json!({ "roomId": general })).await;
    assert_eq!(ack["data"]["room"]["notifications"], "none", "{ack}");
}

#[tokio::test]
async fn levels_survive_a_restart_and_a_backup_but_subscriptions_stay_out_of_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let s = Server::spawn(&dir, "127.0.0.1:0", &[]);
    let (s, [alice], general) = general_on(s, ["alice"]).await;
    assert_eq!(set_level(&s, &alice, &general, "all").await.0, 200);
    assert_eq!(
        subscribe(&s, &alice, subscription(&endpoint(7), 1)).await.0,
        201
    );
    drop(s);
    let s = Server::spawn(&dir, "127.0.0.1:0", &[]);
    let alice = login_user(&s, "alice", "correct horse").await;
    assert_eq!(level_of(&s, &alice, &general).await, "all");
    let backup = tmp.path().join("chat.backup");
    admin("backup", &dir, &backup);
    let text = std::fs::read_to_string(&backup).expect("backup");
    assert!(text.contains("\"level\""), "{text}");
    assert!(
        !text.contains("push.example.org"),
        "no subscription in a backup"
    );
    let target = tmp.path().join("restored");
    admin("restore", &target, &backup);
    let r = Server::spawn(&target, "127.0.0.1:0", &[]);
    let alice = login_user(&r, "alice", "correct horse").await;
    assert_eq!(level_of(&r, &alice, &general).await, "all");
}

#[tokio::test]
async fn answered_subscriptions_and_levels_survive_sigkill_right_after_the_answer() {
    let mut s = Server::start_process();
    let alice = register(&s, "alice").await;
    let room = str_of(&create_room(&s, &alice, "family", false).await["id"]);
    let (status, v) = set_level(&s, &alice, &room, "none").await;
    assert_eq!(status, 200, "{v}");
    for i in 0..10 {
        let (status, v) = subscribe(&s, &alice, subscription(&endpoint(i), i as u8)).await;
        assert_eq!(status, 201, "{v}");
    }
    s.child.kill().expect("SIGKILL");
    s.child.wait().expect("reaped");
    s.respawn();
    assert_eq!(level_of(&s, &alice, &room).await, "none", "level lost");
    // All ten are still held: an eleventh is over the limit.
    let (status, v) = subscribe(&s, &alice, subscription(&endpoint(10), 10)).await;
    assert_eq!(status, 403, "a subscription was lost: {v}");
}
