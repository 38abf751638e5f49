//! "The ack is sent only after the message is stored durably", and the
//! graceful shutdown of ARCHITECTURE.md, against the real binary.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn join(c: &mut Client, room: &str) {
    let f = c.call("joinRoom", json!({ "roomId": room })).await;
    assert_eq!(f["event"], "ack", "joinRoom: {f}");
}

/// Every acked (id, text) is in the history exactly once, with its text,
/// and the history's ids strictly increase.
fn assert_history_holds(history: &[Value], acked: &[(String, String)]) {
    let ids: Vec<String> = history.iter().map(|m| str_of(&m["id"])).collect();
    assert_strictly_increasing(&ids, "history");
    let mut count: HashMap<&str, (usize, &Value)> = HashMap::new();
    for m in history {
        let e = count.entry(m["id"].as_str().expect("id")).or_insert((0, m));
        e.0 += 1;
    }
    let mut missing = Vec::new();
    for (id, text) in acked {
        match count.get(id.as_str()) {
            None => missing.push(id.clone()),
            Some((n, m)) => {
                assert_eq!(*n, 1, "acked message {id} appears {n} times");
                assert_eq!(
                    m["message"],
                    json!(text),
                    "acked message {id} has another text: {m}"
                );
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acked messages are missing after the restart, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[tokio::test]
async fn acked_messages_survive_sigkill_right_after_the_acks() {
    const N: usize = 500;
    let mut s = Server::start_process();
    let a = register(&s, "alice").await;
    let room = str_of(&create_room(&s, &a, "general", false).await["id"]);
    let mut c = Client::connect(&s, &a).await;
    join(&mut c, &room).await;
    let texts: Vec<String> = (0..N).map(|i| format!("durable {i}")).collect();
    let (answers, _) = c.send_pipelined(Some(&room), &texts).await;
    // Right after the last ack: kill -9.
    s.signal("KILL");
    let acked: Vec<(String, String)> = answers
        .iter()
        .zip(&texts)
        .map(|(f, t)| {
            assert_eq!(f["event"], "ack", "{f}");
            (str_of(&f["data"]["id"]), t.clone())
        })
        .collect();
    assert_eq!(s.wait_exit(), None, "killed by a signal");
    drop(c);
    s.respawn();

    let history = all_messages(&s, &a, &room).await;
    assert_history_holds(&history, &acked);
    assert_eq!(
        history.len(),
        N,
        "nothing but the acked messages was stored"
    );
}

#[tokio::test]
async fn sigterm_closes_every_client_with_1001_exits_0_and_keeps_acked_messages() {
    const N: usize = 300;
    let mut s = Server::start_process();
    let a = register(&s, "alice").await;
    let b = register(&s, "bob").await;
    let room = str_of(&create_room(&s, &a, "general", false).await["id"]);

    // Idle clients: bob in the room, alice's second connection in no room.
    let mut idle_joined = Client::connect(&s, &b).await;
    join(&mut idle_joined, &room).await;
    let idle_unjoined = Client::connect(&s, &a).await;

    // Alice sends N messages pipelined; SIGTERM arrives while she is sending.
    let mut sender = Client::connect(&s, &a).await;
    join(&mut sender, &room).await;
    let (halfway_tx, halfway_rx) = tokio::sync::oneshot::channel::<()>();
    let frames = (0..N)
        .map(|i| {
            let f = json!({"event": "sendMessage", "ref": format!("m{i}"), "data": {"roomId": room, "message": format!("term {i}")}});
            Message::text(f.to_string())
        })
        .collect();
    // Ten frames every 2 ms: SIGTERM comes while she is still sending.
    let pace = Pace {
        burst: 10,
        pause: Duration::from_millis(2),
    };
    let task = tokio::spawn(async move {
        let mut halfway = Some(halfway_tx);
        let mut acked = Vec::new();
        let until = tokio::time::Instant::now() + WAIT;
        let (_, ended) = sender
            .pipeline(frames, pace, Some(until), |v| {
                // An error is a refusal while shutting down: not acked, fine.
                if v["event"] == "ack" {
                    let i: usize = str_of(&v["ref"])[1..].parse().expect("ref");
                    acked.push((str_of(&v["data"]["id"]), format!("term {i}")));
                    if acked.len() == 50 {
                        if let Some(tx) = halfway.take() {
                            let _ = tx.send(());
                        }
                    }
                }
                true
            })
            .await;
        let Ended::Closed(code) = ended else {
            unreachable!("the reader reads to the close")
        };
        (acked, code)
    });
    halfway_rx.await.expect("50 acks before the shutdown");
    s.signal("TERM");

    let (acked, code) = task.await.expect("sender task");
    assert_eq!(
        code,
        Some(1001),
        "the sending client's close code ({} acks)",
        acked.len()
    );
    for (name, mut c) in [
        ("bob, joined", idle_joined),
        ("alice's 2nd connection, no room", idle_unjoined),
    ] {
        assert_eq!(c.close_code().await, Some(1001), "{name}: close code");
    }
    let exit = tokio::task::spawn_blocking(move || {
        let code = s.wait_exit();
        (s, code)
    })
    .await
    .expect("wait");
    let (mut s, exit) = exit;
    assert_eq!(exit, Some(0), "exit status after SIGTERM");
    s.respawn();

    let history = all_messages(&s, &a, &room).await;
    assert_history_holds(&history, &acked);
    assert!(history.len() <= N);
}
