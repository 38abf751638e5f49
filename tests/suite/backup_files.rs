//! `backup` carries the uploaded files (records and bytes, base64 in the
//! JSON lines) and `restore` brings them back into a new directory with
//! every hash checked: a server started there serves identical bytes, and
//! a backup with a damaged blob is refused, naming the blob.

use crate::common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::thumbnails::upload;
use common::*;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use serde_json::{json, Value};

const CMD_WAIT: Duration = Duration::from_secs(60);

fn run(args: &[&str]) -> Output {
    run_bounded(admin_command(args), b"", CMD_WAIT).unwrap_or_else(|e| panic!("{e}"))
}

/// `chatroom backup` of the server's data; the file's lines.
fn backed_up(s: &Server, tmp: &Path) -> (std::path::PathBuf, Vec<String>) {
    let file = tmp.join("chat.backup");
    let out = run(&[
        "backup",
        "--data-dir",
        text(&s.dir),
        "--output",
        text(&file),
    ]);
    assert!(out.status.success(), "backup: {out:?}");
    let text = std::fs::read_to_string(&file).expect("backup");
    (file, text.lines().map(str::to_owned).collect())
}

/// Whether a backup line holds a record of `kind`.
fn is(line: &str, kind: &str) -> bool {
    serde_json::from_str::<Value>(line)
        .expect("json line")
        .get(kind)
        .is_some()
}

fn text(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A photo large enough that its bytes span several backup lines.
fn photo() -> Vec<u8> {
    let pixels = RgbImage::from_fn(1600, 1200, |x, y| {
        Rgb([(x * 7 + y) as u8, (y * 3) as u8, (x ^ (y * 5)) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(pixels)
        .write_to(&mut out, ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

fn pdf() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    bytes.extend((0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    bytes
}

async fn bytes_of(s: &Server, u: &User, path: &str) -> Vec<u8> {
    let res = http()
        .get(s.url(path))
        .bearer_auth(&u.token)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 200, "{path}");
    res.bytes().await.expect("body").to_vec()
}

#[tokio::test]
async fn files_survive_a_backup_and_a_restore_into_a_new_directory() {
    let (s, [alice], room) = general(["alice"]).await;
    let (photo, pdf) = (photo(), pdf());
    let image = upload(&s, &alice, &room, "photo.png", &photo).await;
    let doc = upload(&s, &alice, &room, "report.pdf", &pdf).await;
    let thumb = bytes_of(
        &s,
        &alice,
        &format!("/api/files/{}/thumbnail", id_of(&image)),
    )
    .await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (file, lines) = backed_up(&s, tmp.path());
    assert!(lines.iter().all(|l| l.len() < 512 * 1024), "short lines");
    let count = |kind: &str| lines.iter().filter(|l| is(l, kind)).count();
    assert_eq!(
        (count("file"), count("blob")),
        (2, 3),
        "two files, three blobs"
    );
    assert!(count("blobData") > 3, "the photo spans several lines");

    let target = tmp.path().join("restored");
    let out = run(&[
        "restore",
        "--input",
        text(&file),
        "--data-dir",
        text(&target),
    ]);
    assert!(out.status.success(), "restore: {out:?}");
    let r = Server::spawn(&target, "127.0.0.1:0", &[]);
    let alice = login_user(&r, "alice", "correct horse").await;
    assert!(bytes_of(&r, &alice, &format!("/api/files/{}", id_of(&image))).await == photo);
    assert!(bytes_of(&r, &alice, &format!("/api/files/{}", id_of(&doc))).await == pdf);
    assert!(
        bytes_of(
            &r,
            &alice,
            &format!("/api/files/{}/thumbnail", id_of(&image))
        )
        .await
            == thumb
    );
    let (status, links) = request(
        &r,
        "POST",
        &alice,
        "/api/files/links",
        Some(json!({"ids": [id_of(&image)]})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(links["links"][id_of(&image)]["thumbnailUrl"].is_string());
}

#[tokio::test]
async fn a_backup_with_a_damaged_blob_or_a_missing_one_is_refused() {
    let (s, [alice], room) = general(["alice"]).await;
    upload(&s, &alice, &room, "report.pdf", &pdf()).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, lines) = backed_up(&s, tmp.path());
    let at = |kind: &str| {
        lines
            .iter()
            .position(|l| is(l, kind))
            .unwrap_or_else(|| panic!("no {kind} line"))
    };
    let blob = serde_json::from_str::<Value>(&lines[at("blob")]).expect("json")["blob"]["sha256"]
        .as_str()
        .expect("sha")
        .to_owned();
    let refused = |changed: Vec<String>, name: &str, what: &str| {
        let path = tmp.path().join(name);
        std::fs::write(&path, changed.join("\n") + "\n").expect("write");
        let target = tmp.path().join(format!("{name}.restored"));
        let out = run(&[
            "restore",
            "--input",
            text(&path),
            "--data-dir",
            text(&target),
        ]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "restore accepted {name}: {err}");
        assert!(err.contains(what), "{name} says {what:?}: {err}");
        assert!(!target.join("db").exists(), "{name}: no database was left");
    };
    let mut damaged = lines.clone();
    let i = at("blobData");
    let mut v: Value = serde_json::from_str(&damaged[i]).expect("json");
    let data = v["blobData"]["data"].as_str().expect("data").to_owned();
    let flipped = if data.starts_with('A') { "B" } else { "A" };
    v["blobData"]["data"] = json!(format!("{flipped}{}", &data[1..]));
    damaged[i] = v.to_string();
    refused(damaged, "damaged", &format!("blob {blob} is damaged"));
    let mut missing = lines.clone();
    missing.retain(|l| !l.starts_with("{\"blob"));
    let end = missing.len() - 1;
    missing[end] = missing[end].replace(",\"blobs\":1", "");
    refused(missing, "missing", &format!("needs blob {blob}"));
}
