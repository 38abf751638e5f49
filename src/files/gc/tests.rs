use std::io::Write;
use std::time::{Duration, SystemTime};

use super::*;
use crate::model::{RoomId, UserId};
use crate::store::testing::{new_file, some_room, temp_store};
use crate::store::{FileCreated, FileRecord};

/// Stores `bytes` as a file of `room`, as an upload does.
fn upload(store: &Store, blobs: &Blobs, room: RoomId, bytes: &[u8]) -> FileRecord {
    let created = blobs
        .keep_bytes(bytes, |_| {
            store.change(|s| s.create_file(new_file(room, bytes), None))
        })
        .expect("keep")
        .expect("record");
    match created {
        FileCreated::Created(rec) => rec,
        FileCreated::OverQuota => panic!("over quota"),
    }
}

/// A blob nothing refers to, an hour and a half old.
fn plant_old_blob(blobs: &Blobs, bytes: &[u8]) -> Sha256 {
    let sha = blobs
        .keep_bytes(bytes, Ok::<_, ()>)
        .expect("keep")
        .expect("record");
    age(&blobs.path(&sha));
    sha
}

fn age(path: &std::path::Path) {
    let old = SystemTime::now() - Duration::from_secs(5400);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(old))
        .expect("set mtime");
}

#[test]
fn a_dry_run_reports_what_the_real_run_removes_and_referenced_blobs_stay() {
    let (store, dir) = temp_store();
    let blobs = Blobs::open(dir.path()).expect("blobs");
    let kept = upload(&store, &blobs, some_room(&store), b"kept");
    age(&blobs.path(&kept.sha256));
    let orphan = plant_old_blob(&blobs, b"orphan");
    let fresh = blobs
        .keep_bytes(b"fresh", Ok::<_, ()>)
        .expect("keep")
        .expect("record");
    let tmp = dir.path().join("files/tmp/left");
    std::fs::write(&tmp, b"12345").expect("tmp");
    age(&tmp);

    let dry = run(&store, &blobs, true).expect("dry run");
    assert!(dry.dry_run);
    assert_eq!(dry.blobs, Tally { count: 1, bytes: 6 });
    assert_eq!(dry.temp_files, Tally { count: 1, bytes: 5 });
    assert_eq!(dry.recent, 1, "the fresh blob is left alone");
    assert!(
        blobs.path(&orphan).exists() && tmp.exists(),
        "a dry run removes nothing"
    );
    assert_eq!(
        dry.lines()[0],
        "would remove 1 unreferenced blob (6 B)",
        "{dry:?}"
    );

    let done = run(&store, &blobs, false).expect("run");
    assert_eq!(
        done,
        GcReport {
            dry_run: false,
            ..dry
        }
    );
    assert!(!blobs.path(&orphan).exists() && !tmp.exists());
    assert!(blobs.path(&kept.sha256).exists(), "a referenced blob stays");
    assert!(
        blobs.path(&fresh).exists(),
        "a blob younger than the grace stays"
    );
    let again = run(&store, &blobs, false).expect("again");
    assert_eq!((again.blobs.count, again.temp_files.count), (0, 0));
}

#[test]
fn the_records_of_a_deleted_room_go_with_their_blobs() {
    let (store, dir) = temp_store();
    let blobs = Blobs::open(dir.path()).expect("blobs");
    let owner = store
        .create_user("ann", "hash", crate::model::Role::User)
        .expect("user");
    let room = store.create_room("r", "", false, owner.id).expect("room");
    let other = store.create_room("s", "", false, owner.id).expect("room");
    // The race: the room is deleted (with the files it had), then an
    // upload that had passed its check records a file in it.
    store.delete_room(room.id).expect("delete");
    let lost = upload(&store, &blobs, room.id, b"lost");
    let shared = upload(&store, &blobs, room.id, b"shared");
    let stays = upload(&store, &blobs, other.id, b"shared");
    assert_eq!(store.file_usage(UserId(4)).expect("usage"), 16);

    let dry = run(&store, &blobs, true).expect("dry run");
    assert_eq!(
        dry.records,
        Tally {
            count: 2,
            bytes: 10
        }
    );
    assert_eq!(dry.blobs, Tally { count: 1, bytes: 4 }, "fresh, but freed");
    assert!(store.file(lost.id).expect("get").is_some());

    let done = run(&store, &blobs, false).expect("run");
    assert_eq!(done.records, dry.records);
    assert_eq!(done.blobs, dry.blobs);
    for gone in [&lost, &shared] {
        assert_eq!(store.file(gone.id).expect("get"), None);
    }
    assert!(!blobs.path(&lost.sha256).exists());
    assert!(blobs.path(&stays.sha256).exists(), "shared bytes stay");
    assert_eq!(store.file_usage(UserId(4)).expect("usage"), 6);
    assert_eq!(done.index_entries + done.usage_counters, 0);
}

#[test]
fn a_blob_placed_for_a_record_being_written_is_never_taken() {
    let (store, dir) = temp_store();
    let blobs = Blobs::open(dir.path()).expect("blobs");
    let bytes = b"in flight";
    let new = new_file(some_room(&store), bytes);
    let mut w = blobs.writer().expect("writer");
    w.write_all(bytes).expect("write");
    let done = w.finish().expect("finish");
    let mut sweep = None;
    // The blob is in place, its record not written yet: a gc with no
    // grace at all starts now and must wait for the record.
    blobs
        .keep(done, || {
            let (gc_store, gc_blobs) = (store.clone(), blobs.clone());
            sweep = Some(std::thread::spawn(move || {
                run_with(&gc_store, &gc_blobs, false, Duration::ZERO)
            }));
            std::thread::sleep(Duration::from_millis(200));
            store.change(|s| s.create_file(new, None))
        })
        .expect("keep")
        .expect("record");
    let report = sweep
        .expect("started")
        .join()
        .expect("gc thread")
        .expect("gc");
    assert_eq!(report.blobs.count, 0, "{report:?}");
    assert!(blobs.path(&Sha256::of(bytes)).exists());
}

#[test]
fn bytes_read_as_people_write_them() {
    assert_eq!(human_bytes(0), "0 B");
    assert_eq!(human_bytes(1023), "1023 B");
    assert_eq!(human_bytes(1024), "1.0 KiB");
    assert_eq!(human_bytes(1_258_291), "1.2 MiB");
    let r = GcReport {
        records: Tally {
            count: 1,
            bytes: 10,
        },
        temp_files: Tally { count: 2, bytes: 0 },
        ..GcReport::default()
    };
    let lines = r.lines();
    assert_eq!(lines[1], "removed 1 record of a deleted room (10 B)");
    assert_eq!(lines[2], "removed 2 temporary files (0 B)");
    assert_eq!(lines[3], "fixed 0 index entries and 0 usage counters");
}
