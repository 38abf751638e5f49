//! `docs/openapi.json` against the code and the running server: it
//! describes exactly the routes of `chatroom::http::ROUTES`, every route
//! answers with one of the statuses documented for it (and a body of the
//! documented shape), and the server serves the same document.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use chatroom::http::ROUTES;
use common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse";
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// The operations that need no token.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/users/register"),
    ("POST", "/api/users/login"),
];

fn doc() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let text = std::fs::read_to_string(path).expect("read docs/openapi.json");
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

/// Every (METHOD, path) the document describes, with its operation.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths object") {
        for (key, op) in item.as_object().expect("path item object") {
            if METHODS.contains(&key.as_str()) {
                out.insert((key.to_uppercase(), path.clone()), op.clone());
            }
        }
    }
    out
}

/// Follows a local `$ref` (`#/components/...`) until a non-reference.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local references are used: {r}"));
        v = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling reference {r}"));
    }
    panic!("reference cycle at {v}");
}

/// Checks a JSON value against the subset of JSON Schema the document
/// uses: `$ref`, `type`, `required`, `properties`, `items`, `enum`,
/// `format: date-time`, `minLength`/`maxLength`, `minimum`.
fn check_schema(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(v) {
            return Err(format!("{at}: {v} is not one of {values:?}"));
        }
    }
    let ty = schema.get("type").and_then(Value::as_str);
    match ty {
        Some("object") => {
            let obj = v
                .as_object()
                .ok_or_else(|| format!("{at}: expected an object, got {v}"))?;
            for r in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let r = r.as_str().expect("required names are strings");
                if !obj.contains_key(r) {
                    return Err(format!("{at}: missing required field {r:?} in {v}"));
                }
            }
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, sub) in props {
                    if let Some(x) = obj.get(k) {
                        check_schema(doc, sub, x, &format!("{at}.{k}"))?;
                    }
                }
            }
        }
        Some("array") => {
            let arr = v
                .as_array()
                .ok_or_else(|| format!("{at}: expected an array, got {v}"))?;
            if let Some(items) = schema.get("items") {
                for (i, x) in arr.iter().enumerate() {
                    check_schema(doc, items, x, &format!("{at}[{i}]"))?;
                }
            }
        }
        Some("string") => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("{at}: expected a string, got {v}"))?;
            let chars = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
                if chars < min {
                    return Err(format!("{at}: {s:?} is shorter than {min}"));
                }
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
                if chars > max {
                    return Err(format!("{at}: {s:?} is longer than {max}"));
                }
            }
            if schema.get("format").and_then(Value::as_str) == Some("date-time")
                && !(s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
            {
                return Err(format!(
                    "{at}: {s:?} is not an RFC 3339 UTC time with milliseconds"
                ));
            }
        }
        Some("boolean") if !v.is_boolean() => {
            return Err(format!("{at}: expected a boolean, got {v}"));
        }
        Some("integer") => {
            let n = v
                .as_i64()
                .ok_or_else(|| format!("{at}: expected an integer, got {v}"))?;
            if let Some(min) = schema.get("minimum").and_then(Value::as_i64) {
                if n < min {
                    return Err(format!("{at}: {n} is below {min}"));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// (a) the document against the route table

#[test]
fn openapi_document_describes_exactly_the_routes() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(routes.len(), ROUTES.len(), "ROUTES has duplicates");
    let missing: Vec<_> = routes.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/openapi.json differs from ROUTES: undocumented routes {missing:?}, documented but not routed {extra:?}"
    );
}

#[test]
fn openapi_operations_are_complete() {
    let doc = doc();
    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    assert_eq!(doc["security"], json!([{"bearerAuth": []}]));
    for name in [
        "User",
        "Room",
        "Message",
        "Page",
        "Online",
        "TokenReply",
        "Error",
    ] {
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "schema {name} is missing"
        );
    }
    let mut ids = BTreeSet::new();
    for ((method, path), op) in operations(&doc) {
        let what = format!("{method} {path}");
        assert!(
            ids.insert(op["operationId"].as_str().expect("operationId").to_owned()),
            "{what}: duplicate operationId"
        );
        // Security: none for the public operations, the global bearer for the rest.
        let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
        if public {
            assert_eq!(op["security"], json!([]), "{what} needs no token");
        } else {
            assert!(
                op.get("security").is_none(),
                "{what} uses the global bearerAuth"
            );
            assert!(op["responses"]["401"].is_object(), "{what}: 401 missing");
        }
        // Every template parameter is declared as a required path parameter.
        let item = &doc["paths"][&path];
        let params: Vec<&Value> = item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(op["parameters"].as_array().into_iter().flatten())
            .map(|p| resolve(&doc, p))
            .collect();
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                    "{what}: path parameter {name} is not declared"
                );
            }
        }
        // Responses: one success, errors with the Error schema.
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|k| k.starts_with('2')),
            "{what}: no success response"
        );
        for (status, r) in responses {
            let r = resolve(&doc, r);
            assert!(r["description"].is_string(), "{what} {status}: description");
            let code: u16 = status.parse().expect("explicit status codes");
            if code >= 400 {
                assert!(
                    [400, 401, 403, 404, 409, 413, 416, 429, 503].contains(&code),
                    "{what}: {code} is not a status of the contract"
                );
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{what} {status}: error bodies are Error"
                );
            }
            if let Some(schema) = r["content"]["application/json"].get("schema") {
                resolve(&doc, schema);
            }
        }
        if let Some(body) = op.get("requestBody") {
            // JSON, or a file's bytes (an upload).
            let content = body["content"].as_object().expect("request content");
            for schema in content.values().map(|c| &c["schema"]) {
                assert!(schema.is_object(), "{what}: request body schema");
                resolve(&doc, schema);
            }
            assert!(responses.contains_key("400"), "{what}: 400 for bad bodies");
            assert!(responses.contains_key("413"), "{what}: 413 for big bodies");
        }
        for status in ["429", "503"] {
            if responses.contains_key(status) {
                assert!(
                    resolve(&doc, &responses[status])["headers"]["Retry-After"].is_object(),
                    "{what}: {status} carries Retry-After"
                );
            }
        }
    }
    let history = &operations(&doc)[&("GET".into(), "/api/rooms/{roomId}/messages".into())];
    let query: BTreeSet<String> = history["parameters"]
        .as_array()
        .expect("history parameters")
        .iter()
        .map(|p| resolve(&doc, p))
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(
        query,
        ["after", "around", "before", "limit"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

// ---------------------------------------------------------------------------
// (b) every route exists on the running server and answers as documented

const NEW_PASSWORD: &str = "battery staple";

#[tokio::test]
async fn every_route_answers_with_a_documented_status() {
    let doc = doc();
    let ops = operations(&doc);
    let s = Server::start();
    let alice = register(&s, "alice").await;
    let bob = register(&s, "bob").await;
    let room_id = id_of(&create_room(&s, &alice, "hideout", true).await);
    let mut c = Client::joined(&s, &alice, &[&room_id]).await;
    let message_id = id_of(&c.say(&room_id, "hello").await);
    let upload = |room: &str, token: &str| {
        http()
            .post(s.url(&format!("/api/rooms/{room}/files")))
            .bearer_auth(token)
            .header("x-filename", "notes.txt")
            .body("some notes")
    };
    let file: Value = upload(&room_id, &alice.token)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("file");
    let file_id = id_of(&file);
    // The caller becomes an admin while the server runs; setting its
    // password ends its sessions, so it logs in again.
    run_create_admin(&s, "alice", PASSWORD);
    let mut alice = login_user(&s, "alice", PASSWORD).await;

    // A path no route has is a 404 not_found, with the Error shape.
    let (status, body) = get(&s, &alice, "/api/nope").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    check_schema(
        &doc,
        &json!({"$ref": "#/components/schemas/Error"}),
        &body,
        "/api/nope",
    )
    .expect("404 body is an Error");

    // DELETEs last (they destroy what the others need), innermost first.
    let mut order: Vec<(&str, &str)> = ROUTES.to_vec();
    order.sort_by_key(|(m, p)| {
        (
            *m == "DELETE",
            std::cmp::Reverse(if *m == "DELETE" { p.len() } else { 0 }),
        )
    });
    let fill = |p: &str| {
        p.replace("{roomId}", &room_id)
            .replace("{messageId}", &message_id)
            .replace("{username}", "bob")
            .replace("{userId}", &bob.id)
            .replace("{emoji}", "%F0%9F%91%8D")
            .replace("{fileId}", &file_id)
    };
    let mut failures = Vec::new();
    for (method, template) in order {
        let mut path = fill(template);
        assert!(
            !path.contains('{'),
            "no value for a placeholder of {template}"
        );
        let body = match (method, template) {
            ("POST", "/api/users/register") => {
                Some(json!({"username": "carol", "password": PASSWORD}))
            }
            ("POST", "/api/users/login") => Some(json!({"username": "bob", "password": PASSWORD})),
            ("POST", "/api/rooms") => Some(json!({"name": "another room", "description": "x"})),
            ("POST", "/api/admin/users") => Some(json!({"username": "dave", "password": PASSWORD})),
            ("POST", "/api/rooms/{roomId}/members") => Some(json!({"username": "bob"})),
            ("POST", "/api/dms") => Some(json!({"usernames": ["bob"]})),
            ("POST", "/api/users/me/password") => {
                Some(json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}))
            }
            ("PATCH", "/api/rooms/{roomId}") => Some(json!({"description": "renamed"})),
            ("POST", "/api/rooms/{roomId}/read") => Some(json!({ "messageId": message_id })),
            ("PATCH", "/api/rooms/{roomId}/messages/{messageId}") => {
                Some(json!({"message": "edited"}))
            }
            ("POST", "/api/admin/users/{userId}/role") => Some(json!({"role": "admin"})),
            ("POST", "/api/files/links") => Some(json!({ "ids": [file_id] })),
            ("POST", "/api/admin/users/{userId}/password") => {
                Some(json!({"password": NEW_PASSWORD}))
            }
            ("POST" | "DELETE", "/api/push/subscriptions") => Some(json!({
                "endpoint": "https://push.example.org/1",
                // The curve's generator: a valid point.
                "keys": {"p256dh": "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU", "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
            })),
            ("PUT", "/api/rooms/{roomId}/notifications") => Some(json!({"level": "all"})),
            _ => None,
        };
        if template == "/api/rooms/{roomId}/messages" {
            path.push_str("?limit=10");
        }
        if template == "/api/search" {
            path.push_str("?q=hello");
        }
        let (status, text) = if template == "/api/rooms/{roomId}/files" {
            let res = upload(&room_id, &alice.token).send().await.expect("upload");
            (res.status().as_u16(), res.text().await.expect("body"))
        } else {
            request_text(&s, method, &alice, &path, body).await
        };
        if template.ends_with("/thumbnail") && status == 404 {
            // A text file has no thumbnail: the documented 404.
            continue;
        }
        if template == "/api/users/me/password" {
            // The change ended the caller's sessions.
            alice = login_user(&s, "alice", NEW_PASSWORD).await;
        }
        let op = &ops[&(method.to_owned(), template.to_owned())];
        let documented: Vec<&String> = op["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .collect();
        let what = format!("{method} {path}");
        let Some(r) = op["responses"].get(status.to_string()) else {
            failures.push(format!(
                "{what}: answered {status} {text}, documented: {documented:?}"
            ));
            continue;
        };
        if !(200..300).contains(&status) {
            failures.push(format!(
                "{what}: answered {status} {text} although every id is valid and the caller is an admin"
            ));
            continue;
        }
        let r = resolve(&doc, r);
        if let Some(schema) = r["content"]["application/json"].get("schema") {
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => {
                    if let Err(e) = check_schema(&doc, schema, &v, &what) {
                        failures.push(format!("{what}: body does not match the schema: {e}"));
                    }
                }
                Err(e) => failures.push(format!("{what}: body is not JSON ({e}): {text}")),
            }
        } else if !text.is_empty() && r.get("content").is_none() {
            failures.push(format!(
                "{what}: {status} documented without a body, got {text}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "routes not answering as documented:\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// (c) the served document

#[tokio::test]
async fn served_openapi_is_the_document() {
    let s = Server::start();
    let res = fetch(&s, "/api/openapi.json").await;
    assert_eq!(res.status(), 200);
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let served: Value = res.json().await.expect("served document is JSON");
    assert_eq!(
        served,
        doc(),
        "GET /api/openapi.json differs from docs/openapi.json"
    );
}
