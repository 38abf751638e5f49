//! A files directory shared by several processes: each handle below
//! stands for one node (handles opened apart share no lock).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

fn write_blob(blobs: &Blobs, bytes: &[u8]) -> Sha256 {
    let mut w = blobs.writer().expect("writer");
    w.write_all(bytes).expect("write");
    let done = w.finish().expect("finish");
    let sha = done.sha256;
    blobs
        .keep(done, || Ok::<_, ()>(()))
        .expect("keep")
        .expect("record");
    sha
}

#[test]
fn each_process_uploads_in_a_directory_of_its_own_and_leaves_the_others_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Blobs::open_shared(dir.path()).expect("a");
    let mut w = a.writer().expect("writer");
    w.write_all(b"in progress on a").expect("write");
    // Another node starting removes nothing of a's.
    let b = Blobs::open_shared(dir.path()).expect("b");
    assert_ne!(a.inner.tmp, b.inner.tmp);
    let done = w.finish().expect("finish");
    let sha = done.sha256;
    a.keep(done, || Ok::<_, ()>(()))
        .expect("keep")
        .expect("record");
    assert_eq!(
        std::fs::read(b.path(&sha)).expect("blob"),
        b"in progress on a"
    );
    // A gc removing a's upload directory does not stop a's next upload.
    std::fs::remove_dir_all(&a.inner.tmp).expect("remove");
    write_blob(&a, b"after the directory went");
    // temp_files lists what is inside the upload directories, and another
    // process's directory once empty (gc removes it when old), never the
    // own one.
    let mut w = b.writer().expect("writer");
    w.write_all(b"x").expect("write");
    let mut found: Vec<PathBuf> = b
        .temp_files()
        .expect("temp files")
        .into_iter()
        .map(|f| f.what)
        .collect();
    found.sort();
    let mut want = vec![a.inner.tmp.clone()];
    want.extend(
        std::fs::read_dir(&b.inner.tmp)
            .expect("b's")
            .flatten()
            .map(|e| e.path()),
    );
    want.sort();
    assert_eq!(found, want);
    drop(w);
}

#[test]
fn a_long_gone_process_s_empty_upload_directory_is_removed_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join(TMP_DIR).join("node-gone");
    let busy = dir.path().join(TMP_DIR).join("node-busy");
    std::fs::create_dir_all(&old).expect("old");
    std::fs::create_dir_all(&busy).expect("busy");
    std::fs::write(busy.join("upload"), b"x").expect("file");
    let long_ago = std::time::SystemTime::now() - 2 * STALE_TMP;
    for d in [&old, &busy] {
        std::fs::File::open(d)
            .and_then(|f| f.set_modified(long_ago))
            .expect("age the directory");
    }
    let _blobs = Blobs::open_shared(dir.path()).expect("open");
    assert!(!old.exists(), "an empty, old directory goes");
    assert!(busy.join("upload").exists(), "one with a file stays");
}

#[test]
fn a_removal_puts_the_blob_back_when_a_record_came_to_use_it_meanwhile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Blobs::open_shared(dir.path()).expect("a");
    let sha = write_blob(&a, b"shared bytes");
    // Unused at the first question, used at the second: another node
    // stored a record in between.
    let asked = AtomicUsize::new(0);
    a.remove_unreferenced(&[sha], |_| {
        Ok::<_, std::io::Error>(asked.fetch_add(1, Ordering::SeqCst) > 0)
    });
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    assert_eq!(std::fs::read(a.path(&sha)).expect("back"), b"shared bytes");
    let removed = a
        .remove_unused(&sha, true, |_| Ok::<_, std::io::Error>(false))
        .expect("remove");
    assert!(removed && !a.path(&sha).exists());
    let aside = std::fs::read_dir(&a.inner.tmp).expect("tmp").count();
    assert_eq!(aside, 0, "nothing left aside");
}

#[test]
fn an_upload_whose_bytes_went_while_its_record_was_stored_puts_its_copy_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Blobs::open_shared(dir.path()).expect("a");
    let b = Blobs::open_shared(dir.path()).expect("b");
    let sha = write_blob(&a, b"same bytes");
    let mut w = b.writer().expect("writer");
    w.write_all(b"same bytes").expect("write");
    let done = w.finish().expect("finish");
    // The bytes are there when b looks; a removes them (nothing referred
    // to them yet) while b stores its record.
    b.keep(done, || {
        a.remove_unused(&sha, true, |_| Ok::<_, std::io::Error>(false))
            .map(|_| ())
    })
    .expect("keep")
    .expect("record");
    assert_eq!(std::fs::read(b.path(&sha)).expect("blob"), b"same bytes");
    for own in [&a.inner.tmp, &b.inner.tmp] {
        let left = std::fs::read_dir(own).expect("tmp").count();
        assert_eq!(left, 0, "nothing left in {}", own.display());
    }
}
