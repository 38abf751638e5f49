//! Admins manage accounts (docs/protocol-additions.md, "Admins manage
//! accounts"): `POST /api/admin/users/{userId}/role` and
//! `POST /api/admin/users/{userId}/password`.

use crate::common;
use crate::socketio::Sio;

use common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse";
const NEW_PASSWORD: &str = "battery staple";
const NO_SUCH_ID: &str = "0123456789abcdef";

/// `who` posts `body` to `/api/admin/users/{id}/{action}`.
async fn admin_post(s: &Server, who: &User, id: &str, action: &str, body: Value) -> (u16, Value) {
    let path = format!("/api/admin/users/{id}/{action}");
    request(s, "POST", who, &path, Some(body)).await
}

/// `who` gives the user `id` the role `role`.
async fn set_role(s: &Server, who: &User, id: &str, role: &str) -> (u16, Value) {
    admin_post(s, who, id, "role", json!({ "role": role })).await
}

/// `who` resets the password of the user `id`.
async fn reset(s: &Server, who: &User, id: &str, password: &str) -> (u16, Value) {
    admin_post(s, who, id, "password", json!({ "password": password })).await
}

/// Asserts an answer's status and, for an error, its contract code.
#[track_caller]
fn answered(answer: (u16, Value), status: u16, code: Option<&str>, what: &str) {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    if let Some(code) = code {
        assert_eq!(answer.1["error"]["code"], code, "{what}: {}", answer.1);
    }
}

/// Whether `u` may list users, i.e. is an admin now (200, else 403).
async fn is_admin(s: &Server, u: &User) -> bool {
    match get(s, u, "/api/admin/users").await {
        (200, _) => true,
        (403, _) => false,
        other => panic!("listing users as {}: {other:?}", u.name),
    }
}

/// A server with alice, an admin (her token still valid), and bob.
async fn alice_admin_and_bob() -> (Server, User, User) {
    let s = Server::start();
    let [alice, bob] = register_all(&s, ["alice", "bob"]).await;
    // The password she already has: a promotion that keeps her sessions.
    run_create_admin(&s, "alice", PASSWORD);
    (s, alice, bob)
}

#[tokio::test]
async fn admins_promote_and_demote_users_but_not_themselves() {
    let (s, alice, bob) = alice_admin_and_bob().await;
    let forbidden = set_role(&s, &bob, &alice.id, "user").await;
    answered(forbidden, 403, Some("forbidden"), "a user changing a role");

    answered(
        set_role(&s, &alice, &bob.id, "admin").await,
        204,
        None,
        "promote",
    );
    // At once, with the token bob already holds.
    assert!(is_admin(&s, &bob).await);
    assert_eq!(get(&s, &bob, "/api/users/me").await.1["role"], "admin");
    answered(
        set_role(&s, &alice, &bob.id, "admin").await,
        204,
        None,
        "again",
    );

    let own = set_role(&s, &alice, &alice.id, "user").await;
    answered(
        own,
        400,
        Some("validation_failed"),
        "an admin demoting itself",
    );
    assert!(is_admin(&s, &alice).await);
    answered(
        set_role(&s, &alice, &alice.id, "admin").await,
        204,
        None,
        "own role kept",
    );

    // Another admin may demote her.
    answered(
        set_role(&s, &bob, &alice.id, "user").await,
        204,
        None,
        "demote",
    );
    assert!(!is_admin(&s, &alice).await);
    assert_eq!(get(&s, &alice, "/api/users/me").await.1["role"], "user");
    answered(
        set_role(&s, &alice, &bob.id, "user").await,
        403,
        Some("forbidden"),
        "ex-admin",
    );

    for id in [NO_SUCH_ID, "bob"] {
        answered(
            set_role(&s, &bob, id, "user").await,
            404,
            Some("not_found"),
            id,
        );
    }
    for body in [json!({"role": "root"}), json!({})] {
        let answer = admin_post(&s, &bob, &alice.id, "role", body.clone()).await;
        answered(answer, 400, Some("validation_failed"), &body.to_string());
    }
}

#[tokio::test]
async fn a_password_reset_ends_the_users_tokens_and_sockets() {
    let (s, alice, bob) = alice_admin_and_bob().await;
    let room = room_id(&s, &alice, "general", false).await;
    let mut ws = Client::joined(&s, &bob, &[&room]).await;
    let mut sio = Sio::connect(&s, &bob).await;

    let short = reset(&s, &alice, &bob.id, "short").await;
    answered(short, 400, Some("validation_failed"), "a short password");
    let by_user = reset(&s, &bob, &alice.id, NEW_PASSWORD).await;
    answered(
        by_user,
        403,
        Some("forbidden"),
        "a user resetting a password",
    );
    for id in [NO_SUCH_ID, "bob"] {
        answered(
            reset(&s, &alice, id, NEW_PASSWORD).await,
            404,
            Some("not_found"),
            id,
        );
    }
    assert_eq!(
        get(&s, &bob, "/api/users/me").await.0,
        200,
        "nothing changed yet"
    );

    answered(
        reset(&s, &alice, &bob.id, NEW_PASSWORD).await,
        204,
        None,
        "reset",
    );
    answered(
        get(&s, &bob, "/api/users/me").await,
        401,
        Some("unauthorized"),
        "old token",
    );
    assert_eq!(ws.close_code().await, Some(1008), "the /ws connection");
    let seen = sio.closed().await;
    assert!(
        seen.contains(&"41".to_owned()),
        "Socket.IO DISCONNECT: {seen:?}"
    );

    assert_eq!(login(&s, "bob", PASSWORD).await.0, 401, "the old password");
    let bob = login_user(&s, "bob", NEW_PASSWORD).await;
    Client::joined(&s, &bob, &[&room]).await;
    // The admin's own sessions go on.
    assert!(is_admin(&s, &alice).await);
}
