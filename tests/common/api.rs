//! REST steps many tests take: users registered and a room of theirs,
//! any request as a user, a member added, an admin's action on a user.

use serde_json::{json, Value};

use super::{create_room, http, register, Server, User};

/// The `id` of an object (a user, a room, a message); panics without one.
pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// A JSON string's text; panics on anything else.
pub fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

/// A server with these users registered, the first of whom owns the
/// public room "general": the server, the users, the room's id.
pub async fn general<const N: usize>(names: [&str; N]) -> (Server, [User; N], String) {
    general_on(Server::start(), names).await
}

/// [`general`] on the server `s`.
pub async fn general_on<const N: usize>(
    s: Server,
    names: [&str; N],
) -> (Server, [User; N], String) {
    users_and_room(s, names, "general", false).await
}

/// On `s`, these users registered, the first of whom owns the room `room`:
/// the server, the users, the room's id.
pub async fn users_and_room<const N: usize>(
    s: Server,
    names: [&str; N],
    room: &str,
    private: bool,
) -> (Server, [User; N], String) {
    let users = register_all(&s, names).await;
    let room = room_id(&s, &users[0], room, private).await;
    (s, users, room)
}

/// Registers each of `names`, in this order.
pub async fn register_all<const N: usize>(s: &Server, names: [&str; N]) -> [User; N] {
    let mut users = Vec::with_capacity(N);
    for name in names {
        users.push(register(s, name).await);
    }
    users
        .try_into()
        .unwrap_or_else(|_| unreachable!("one user a name"))
}

/// Creates a room (which must succeed) and returns its id.
pub async fn room_id(s: &Server, owner: &User, name: &str, private: bool) -> String {
    id_of(&create_room(s, owner, name, private).await)
}

/// `method path` as `u`, with an optional JSON body; the status and the
/// JSON answer (Null when there is none).
pub async fn request(
    s: &Server,
    method: &str,
    u: &User,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, text) = request_text(s, method, u, path, body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Like [`request`], with the answer's body as text.
pub async fn request_text(
    s: &Server,
    method: &str,
    u: &User,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let res = send_as(s, method, u, path, body).await;
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

/// Like [`request`], with the whole response (for its headers).
pub async fn send_as(
    s: &Server,
    method: &str,
    u: &User,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = http().request(method, s.url(path)).bearer_auth(&u.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request")
}

/// The owner adds `name` to the private `room`, which must succeed (204).
pub async fn add_member(s: &Server, owner: &User, room: &str, name: &str) {
    let path = format!("/api/rooms/{room}/members");
    let (status, v) = request(s, "POST", owner, &path, Some(json!({ "username": name }))).await;
    assert_eq!(status, 204, "add member {name}: {v}");
}

/// Registers `name` (password "correct horse") with the server at `base`
/// (`http://ADDR`), which must succeed.
pub async fn register_at(base: &str, name: &str) -> User {
    let res = post_credentials(base, "/api/users/register", name, "correct horse").await;
    assert_eq!(res.status(), 201, "register {name}");
    User::from_answer(name, &res.json().await.expect("json"))
}

impl User {
    /// The user of a registration's or a login's answer (`{token, user}`).
    pub fn from_answer(name: &str, v: &Value) -> User {
        User {
            name: name.to_owned(),
            token: v["token"].as_str().expect("token").to_owned(),
            id: v["user"]["id"].as_str().expect("id").to_owned(),
        }
    }
}

/// `POST /api/admin/users/{id}/{action}` as `who`: an admin's `disable`
/// or `enable` of a user. The status and the JSON answer.
pub async fn user_action(s: &Server, who: &User, id: &str, action: &str) -> (u16, Value) {
    let path = format!("/api/admin/users/{id}/{action}");
    request(s, "POST", who, &path, None).await
}

/// A GET of `path` without a token.
pub async fn fetch(s: &Server, path: &str) -> reqwest::Response {
    http().get(s.url(path)).send().await.expect("get")
}

/// `POST path` of the server at `base` (`http://ADDR`) with a username and
/// a password, as a registration or a login sends them.
pub async fn post_credentials(
    base: &str,
    path: &str,
    name: &str,
    password: &str,
) -> reqwest::Response {
    http()
        .post(format!("{base}{path}"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .expect("post")
}
