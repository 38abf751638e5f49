use std::collections::HashSet;

use crate::files::{Blobs, Sha256};
use crate::model::{FileId, Role, RoomId, Timestamp, UserId, DIRECT_NAME_SEPARATOR};
use crate::store::postgres::testing::{column, execute, TestDb};
use crate::store::postgres::PgStore;
use crate::store::prelude::*;
use crate::store::testing::{seed_history, temp_sled};
use crate::store::{ExportLine, Maintenance, NewMessage, Store, StoreError, UsageFix};

/// A blob of `bytes` in `blobs`; its hash.
fn put_blob(blobs: &Blobs, bytes: &[u8]) -> Sha256 {
    let sha = Sha256::of(bytes);
    let path = blobs.path(&sha);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, bytes).expect("blob");
    sha
}

fn hex(sha: &Sha256) -> String {
    sha.0.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file record written with SQL, `size` bytes counted nowhere.
fn insert_file(store: &PgStore, id: u64, room: RoomId, user: UserId, size: u64, sha: &Sha256) {
    insert_file_at(store, id, room, user, size, sha, None, None);
}

#[allow(clippy::too_many_arguments)]
fn insert_file_at(
    store: &PgStore,
    id: u64,
    room: RoomId,
    user: UserId,
    size: u64,
    sha: &Sha256,
    thumb: Option<&Sha256>,
    message: Option<u64>,
) {
    let thumb = thumb.map_or("NULL".into(), |t| format!("'\\x{}'", hex(t)));
    let message = message.map_or("NULL".into(), |m| m.to_string());
    execute(
        store,
        format!(
            "INSERT INTO files (id, room_id, uploader_id, name, size, content_type, sha256,
                 width, height, thumb_sha256, created_at, message_id)
             VALUES ({id}, {}, {}, 'f{id}.png', {size}, 'image/png', '\\x{}', 4, 2, {thumb},
                 {id}, {message})",
            room.0 as i64,
            user.0 as i64,
            hex(sha)
        ),
    );
}

/// Users, rooms (a direct one too), members, 1100 messages (more than a
/// page) with mentions, reactions, read marks, levels, files with their
/// blobs, and three messages hidden by a quarantine mark.
fn populate(store: &PgStore, blobs: &Blobs) {
    let ann = store.create_user("ann", "h", Role::User).expect("user");
    let bea = store.create_user("Bea", "h2", Role::Admin).expect("user");
    let a = store
        .create_room("a", "the a room", false, ann.id)
        .expect("room");
    let b = store.create_room("b", "", true, bea.id).expect("room");
    store.add_member(b.id, ann.id).expect("member");
    let direct = RoomId(77);
    execute(
        store,
        format!(
            "INSERT INTO rooms (id, name, name_folded, description, private, kind, owner_id,
                 created_at)
             VALUES (77, 'ann{DIRECT_NAME_SEPARATOR}Bea', ' direct 77', '', TRUE, 'direct', {},
                 5);
             INSERT INTO members VALUES (77, {}), (77, {});",
            ann.id.0 as i64, ann.id.0 as i64, bea.id.0 as i64
        ),
    );
    let mut ids = Vec::new();
    for chunk in 0..11 {
        let batch: Vec<NewMessage> = (0..100)
            .map(|i| {
                let n = chunk * 100 + i;
                let (room, user) = match n % 3 {
                    0 => (b.id, &bea),
                    1 => (a.id, &ann),
                    _ => (direct, &ann),
                };
                NewMessage {
                    room_id: room,
                    user_id: user.id,
                    user: user.username.clone(),
                    message: format!("m{n}"),
                    // Not in id order across rooms, as with several nodes.
                    timestamp: Timestamp(1000 + n as i64 - (n as i64 % 7)),
                    mentions: if n % 10 == 0 {
                        vec![ann.id]
                    } else {
                        Vec::new()
                    },
                    client_id: None,
                }
            })
            .collect();
        ids.extend(store.append_batch(batch).expect("append"));
    }
    let (m0, m1) = (ids[0].id.0, ids[3].id.0);
    let (ann_i, bea_i) = (ann.id.0 as i64, bea.id.0 as i64);
    let (a_i, b_i) = (a.id.0 as i64, b.id.0 as i64);
    execute(
        store,
        format!(
            "INSERT INTO reactions (room_id, message_id, emoji, user_id, username) VALUES
                 ({b_i}, {m0}, '👍', {bea_i}, 'Bea'), ({b_i}, {m0}, '🎉', {ann_i}, 'ann'),
                 ({b_i}, {m0}, '👍', {ann_i}, 'ann'), ({b_i}, {m1}, 'ok', {ann_i}, 'ann');
             INSERT INTO read_marks VALUES ({a_i}, {ann_i}, 40), ({b_i}, {bea_i}, 3);
             INSERT INTO notification_levels VALUES ({a_i}, {ann_i}, 'none'),
                 (77, {bea_i}, 'mentions');"
        ),
    );
    let big = vec![7u8; 300 * 1024];
    let (photo, thumb, other) = (
        put_blob(blobs, &big),
        put_blob(blobs, b"t"),
        put_blob(blobs, b"x"),
    );
    insert_file_at(
        store,
        5,
        a.id,
        ann.id,
        big.len() as u64,
        &photo,
        Some(&thumb),
        Some(ids[1].id.0),
    );
    insert_file_at(store, 6, a.id, ann.id, 1, &other, None, Some(ids[1].id.0));
    insert_file(store, 7, b.id, bea.id, 1, &other);
    let hidden = store
        .append_batch(
            (0..3)
                .map(|i| NewMessage {
                    room_id: a.id,
                    user_id: ann.id,
                    user: "ann".into(),
                    message: format!("lost {i}"),
                    timestamp: Timestamp(9000),
                    mentions: Vec::new(),
                    client_id: None,
                })
                .collect(),
        )
        .expect("append");
    execute(
        store,
        format!(
            "INSERT INTO quarantine VALUES ({}, 'disk', 1)",
            hidden[0].id.0
        ),
    );
}

fn backup_of(store: &dyn Maintenance, blobs: &Blobs) -> Vec<u8> {
    let mut buf = Vec::new();
    store.backup_with(Some(blobs), &mut buf).expect("backup");
    buf
}

/// The lines of a backup, sorted: equal for two backups of the same data
/// whatever order each store reads its users and rooms in.
fn sorted_lines(buf: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8(buf.to_vec())
        .expect("utf8")
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_backup_restores_into_sled_and_back_unchanged() {
    let db = TestDb::new();
    let store = db.store();
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs = Blobs::open(dir.path()).expect("blobs");
    populate(&store, &blobs);
    let first = backup_of(&store, &blobs);
    let counts = Store::check_backup(&mut first.as_slice()).expect("sled's checks pass");
    assert_eq!(
        (counts.users, counts.rooms, counts.members, counts.messages),
        (2, 3, 5, 1100)
    );
    assert_eq!(
        (
            counts.reactions,
            counts.reads,
            counts.levels,
            counts.files,
            counts.blobs
        ),
        (4, 2, 2, 3, 3)
    );

    let (sled, sled_dir) = temp_sled();
    let sled_blobs = Blobs::open(sled_dir.path()).expect("blobs");
    let restored = sled
        .restore_with(Some(&sled_blobs), &mut first.as_slice())
        .expect("restore into sled");
    assert_eq!(restored, counts);
    let (a, _) = sled.user_by_name("ANN").expect("get").expect("ann");
    let rooms = sled.visible_rooms(a).expect("rooms");
    assert_eq!(rooms.len(), 3);
    let room_a = rooms.iter().find(|r| r.name == "a").expect("a").id;
    let page = sled.latest(room_a, 5).expect("page");
    // Both stores hide the quarantined messages from history.
    let pg_page = store.latest(room_a, 5).expect("page");
    let visible: Vec<_> = pg_page.messages.iter().map(|m| &m.message).collect();
    assert_eq!(
        page.messages.iter().map(|m| &m.message).collect::<Vec<_>>(),
        visible,
        "the hidden messages are left out"
    );
    let second = backup_of(&sled, &sled_blobs);
    assert_eq!(sorted_lines(&second), sorted_lines(&first));

    let fresh = TestDb::new().store();
    let dir3 = tempfile::tempdir().expect("tempdir");
    let blobs3 = Blobs::open(dir3.path()).expect("blobs");
    assert_eq!(
        fresh
            .restore_with(Some(&blobs3), &mut second.as_slice())
            .expect("restore into PostgreSQL"),
        counts
    );
    assert_eq!(
        sorted_lines(&backup_of(&fresh, &blobs3)),
        sorted_lines(&first)
    );
    // New messages carry on after the restored ones.
    let next = column::<i64>(&fresh, "SELECT next FROM message_counter")[0];
    let max = column::<i64>(&fresh, "SELECT max(id) FROM messages")[0];
    assert_eq!(next, max + 1);
    // The direct room is found by its people again.
    let people = column::<String>(&fresh, "SELECT people FROM direct_rooms");
    assert_eq!(people.len(), 1);
    assert_eq!(
        column::<i64>(&fresh, "SELECT bytes FROM file_usage ORDER BY bytes"),
        [1, 300 * 1024 + 1]
    );
}

#[test]
fn a_sled_backup_restores_into_postgres() {
    let (sled, _dir) = temp_sled();
    seed_history(&sled);
    let mut buf = Vec::new();
    let counts = sled.backup(&mut buf).expect("backup");
    let store = TestDb::new().store();
    assert_eq!(store.restore(&mut buf.as_slice()).expect("restore"), counts);
    let mut again = Vec::new();
    assert_eq!(store.backup(&mut again).expect("backup"), counts);
    assert_eq!(sorted_lines(&again), sorted_lines(&buf));
}

#[test]
fn a_restore_refuses_a_database_with_data_and_leaves_nothing_when_it_fails() {
    let (sled, _dir) = temp_sled();
    seed_history(&sled);
    let mut buf = Vec::new();
    sled.backup(&mut buf).expect("backup");
    let store = TestDb::new().store();
    let cut = &buf[..buf.len() - 40];
    assert!(matches!(
        store.restore(&mut &cut[..]),
        Err(StoreError::BadBackup(_))
    ));
    for table in ["users", "rooms", "members", "messages"] {
        let sql: &'static str = Box::leak(format!("SELECT count(*) FROM {table}").into_boxed_str());
        assert_eq!(column::<i64>(&store, sql), [0], "{table}");
    }
    assert_eq!(
        column::<i64>(&store, "SELECT next FROM message_counter"),
        [0]
    );
    store.restore(&mut buf.as_slice()).expect("restore");
    assert!(matches!(
        store.restore(&mut buf.as_slice()),
        Err(StoreError::Refused(_))
    ));
}

/// Every export line as JSON.
fn exported(
    store: &dyn Maintenance,
    room: Option<RoomId>,
    since: Option<Timestamp>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut each = |l: &ExportLine<'_>| -> Result<(), StoreError> {
        out.push(serde_json::to_string(l).expect("json"));
        Ok(())
    };
    let n = store.export_lines(room, since, &mut each).expect("export");
    assert_eq!(n as usize, out.len());
    out
}

#[test]
fn the_export_is_sleds_for_the_same_data() {
    let store = TestDb::new().store();
    let dir = tempfile::tempdir().expect("tempdir");
    let blobs = Blobs::open(dir.path()).expect("blobs");
    populate(&store, &blobs);
    let (sled, _sled_dir) = temp_sled();
    let mut plain = Vec::new();
    store.backup(&mut plain).expect("backup");
    sled.restore(&mut plain.as_slice()).expect("restore");
    let all = exported(&store, None, None);
    assert_eq!(all.len(), 1100);
    assert_eq!(all, exported(&sled, None, None));
    assert!(all.iter().any(|l| l.contains("\"attachments\"")));
    let room = RoomId(77);
    let since = Some(Timestamp(1500));
    let one = exported(&store, Some(room), since);
    assert!(!one.is_empty());
    assert_eq!(one, exported(&sled, Some(room), since));
    assert!(exported(&store, Some(RoomId(5)), None).is_empty());
}

#[test]
fn the_usage_audit_finds_a_wrong_counter_and_the_fix_keeps_later_uploads() {
    let store = TestDb::new().store();
    let ann = store.create_user("ann", "h", Role::User).expect("user");
    let room = store.create_room("r", "", false, ann.id).expect("room").id;
    let (a, b, c) = (Sha256::of(b"aaaa"), Sha256::of(b"bb"), Sha256::of(b"c"));
    insert_file(&store, 1, room, ann.id, 4, &a);
    insert_file(&store, 2, room, ann.id, 2, &b);
    insert_file(&store, 3, RoomId(999), ann.id, 1, &c);
    let user = ann.id.0 as i64;
    execute(
        &store,
        format!("INSERT INTO file_usage VALUES ({user}, 100)"),
    );
    let audit = store.audit_files().expect("audit");
    let fix = UsageFix {
        user: ann.id,
        counted: 100,
        records: 7,
    };
    assert_eq!(audit.usage, vec![fix]);
    assert_eq!((audit.unsettled, audit.index.len()), (0, 0));
    assert_eq!(
        audit.orphans.iter().map(|f| f.id).collect::<Vec<_>>(),
        [FileId(3)]
    );
    assert_eq!(audit.kept.len(), 2);
    assert!(audit.used.contains(&a) && !audit.used.contains(&c));
    // An upload since the audit, counted as it was made.
    let d = Sha256::of(b"d");
    insert_file(&store, 4, room, ann.id, 1, &d);
    execute(
        &store,
        format!("UPDATE file_usage SET bytes = bytes + 1 WHERE user_id = {user}"),
    );
    store.fix_file_usage(fix).expect("fix");
    assert_eq!(column::<i64>(&store, "SELECT bytes FROM file_usage"), [8]);
    assert!(store.audit_files().expect("again").usage.is_empty());

    let none = HashSet::new();
    assert!(store.blob_in_use(&a, &audit.used, &none).expect("used"));
    assert!(store.blob_in_use(&d, &audit.used, &none).expect("since"));
    let going = HashSet::from([FileId(4)]);
    assert!(!store.blob_in_use(&d, &audit.used, &going).expect("going"));
    let ghost = Sha256::of(b"ghost");
    assert!(!store
        .blob_in_use(&ghost, &audit.used, &none)
        .expect("ghost"));
    assert!(!store
        .fix_file_index(crate::store::IndexFix::StaleRoom(room, FileId(9)), true)
        .expect("index"));
}

#[test]
fn a_backup_taken_while_another_node_writes_holds_whole_batches() {
    let db = TestDb::new();
    let store = db.store();
    let ann = store.create_user("ann", "h", Role::User).expect("user");
    let room = store.create_room("r", "", false, ann.id).expect("room").id;
    let writer = {
        let other = db.store();
        std::thread::spawn(move || {
            for _ in 0..60 {
                let batch: Vec<NewMessage> = (0..10)
                    .map(|i| NewMessage {
                        room_id: room,
                        user_id: ann.id,
                        user: "ann".into(),
                        message: format!("m{i}"),
                        timestamp: Timestamp::now(),
                        mentions: Vec::new(),
                        client_id: None,
                    })
                    .collect();
                other.append_batch(batch).expect("append");
            }
        })
    };
    let mut taken = Vec::new();
    for _ in 0..5 {
        let mut buf = Vec::new();
        let counts = store.backup(&mut buf).expect("backup");
        assert_eq!(
            Store::check_backup(&mut buf.as_slice()).expect("check"),
            counts
        );
        assert_eq!(counts.messages % 10, 0, "a batch is all in or all out");
        taken.push(counts.messages);
    }
    writer.join().expect("writer");
    assert!(taken.windows(2).all(|w| w[0] <= w[1]));
}
