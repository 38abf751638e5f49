//! Images on upload: their size in the answer, a thumbnail of at most 400
//! pixels served like the file (`GET /api/files/{id}/thumbnail`, in the
//! links answer), no metadata carried into it, and a decompression bomb
//! kept as a plain file without the server's memory growing.

use crate::common;

use std::time::Duration;

use common::*;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::{json, Value};

const MIB: u64 = 1024 * 1024;

/// A string no encoder writes: found in a file, it came from our EXIF.
const GPS_MARK: &[u8] = b"chatroom-test-gps-48.8584N-2.2945E";

fn encoded(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A JPEG photo whose EXIF holds a GPS directory (and [`GPS_MARK`]).
fn photo_with_gps(width: u32, height: u32) -> Vec<u8> {
    let pixels = RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, (x ^ y) as u8]));
    let jpeg = encoded(&DynamicImage::ImageRgb8(pixels), ImageFormat::Jpeg);
    // Little-endian TIFF: IFD0 at 8 points to a GPS IFD at 26 holding
    // GPSLatitudeRef = "N"; the mark follows, as data an IFD could name.
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(b"\x01\0\x25\x88\x04\0\x01\0\0\0\x1a\0\0\0\0\0\0\0");
    tiff.extend_from_slice(b"\x01\0\x01\0\x02\0\x02\0\0\0N\0\0\0\0\0\0\0");
    tiff.extend_from_slice(GPS_MARK);
    let len = u16::try_from(2 + 6 + tiff.len()).expect("short");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A PNG with see-through pixels (its thumbnail must keep them: PNG).
fn transparent_png(width: u32, height: u32) -> Vec<u8> {
    let pixels = RgbaImage::from_fn(width, height, |x, y| {
        Rgba([200, x as u8, y as u8, (y % 256) as u8])
    });
    encoded(&DynamicImage::ImageRgba8(pixels), ImageFormat::Png)
}

fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| {
        (0..8).fold(crc ^ u32::from(b), |c, _| {
            (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg())
        })
    })
}

/// A small real PNG whose header claims 100,000 × 100,000 pixels: 40 GB
/// once decoded.
fn png_bomb() -> Vec<u8> {
    let pixels = RgbaImage::from_pixel(16, 16, Rgba([0, 0, 0, 255]));
    let mut png = encoded(&DynamicImage::ImageRgba8(pixels), ImageFormat::Png);
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// Uploads `bytes` as `name`; the 201 answer.
pub(crate) async fn upload(s: &Server, u: &User, room: &str, name: &str, bytes: &[u8]) -> Value {
    let res = http()
        .post(s.url(&format!("/api/rooms/{room}/files")))
        .bearer_auth(&u.token)
        .header("x-filename", name)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status(), 201, "upload of {name}");
    res.json().await.expect("json")
}

/// `GET path`, with the token when given: status, headers, body.
async fn download(
    s: &Server,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = http().get(s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("get");
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    (status, headers, res.bytes().await.expect("body").to_vec())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn images_answer_their_size_and_get_a_small_thumbnail_without_their_metadata() {
    let (s, [alice, bob], room) = general(["alice", "bob"]).await;
    let photo = photo_with_gps(1200, 900);
    let v = upload(&s, &alice, &room, "photo.jpg", &photo).await;
    assert_eq!(
        (v["type"].clone(), v["width"].clone(), v["height"].clone()),
        (json!("image/jpeg"), json!(1200), json!(900))
    );
    let id = id_of(&v);
    let (status, h, original) = download(&s, &format!("/api/files/{id}"), Some(&bob.token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        original, photo,
        "the original is served unchanged, EXIF and all"
    );
    assert_eq!(h["content-type"], "image/jpeg");
    let (status, h, jpeg_thumb) =
        download(&s, &format!("/api/files/{id}/thumbnail"), Some(&bob.token)).await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "sandbox");
    assert!(h["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("inline"));
    let small = image::load_from_memory(&jpeg_thumb).expect("the thumbnail decodes");
    assert_eq!((small.width(), small.height()), (400, 300));
    assert!(
        !contains(&jpeg_thumb, GPS_MARK) && !contains(&jpeg_thumb, b"Exif\0\0"),
        "no EXIF in the thumbnail"
    );

    let png = transparent_png(300, 1000);
    let p = upload(&s, &alice, &room, "tall.png", &png).await;
    assert_eq!(
        (p["width"].clone(), p["height"].clone()),
        (json!(300), json!(1000))
    );
    let (status, h, thumb) = download(
        &s,
        &format!("/api/files/{}/thumbnail", id_of(&p)),
        Some(&alice.token),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "image/png", "transparency kept");
    let small = image::load_from_memory(&thumb).expect("decodes");
    assert_eq!((small.width(), small.height()), (120, 400));

    let text = upload(&s, &alice, &room, "notes.txt", b"plain words").await;
    assert!(text.get("width").is_none());
    let (status, _, _) = download(
        &s,
        &format!("/api/files/{}/thumbnail", id_of(&text)),
        Some(&alice.token),
    )
    .await;
    assert_eq!(status, 404, "a file without a thumbnail");

    let (status, links) = request(
        &s,
        "POST",
        &bob,
        "/api/files/links",
        Some(json!({"ids": [id, id_of(&text)]})),
    )
    .await;
    assert_eq!(status, 200, "{links}");
    let link = links["links"][&id]["thumbnailUrl"]
        .as_str()
        .expect("thumbnailUrl");
    assert!(links["links"][id_of(&text)].get("thumbnailUrl").is_none());
    let (status, _, by_link) = download(&s, link, None).await;
    assert_eq!(status, 200);
    assert!(
        by_link == jpeg_thumb,
        "the signed link serves the thumbnail"
    );
}

#[tokio::test]
#[cfg_attr(debug_assertions, ignore = "measures the memory of the release build")]
async fn a_decompression_bomb_is_kept_as_a_file_without_a_thumbnail_or_memory() {
    let s = Server::start_process_with(&["--message-rate", "0"]);
    let (s, [alice], room) = general_on(s, ["alice"]).await;
    let pid = s.child.id();
    std::thread::sleep(Duration::from_millis(300));
    // The high-water mark: the largest resident set the process ever had,
    // so no sampling can miss a short peak.
    let hwm = move || proc_kib(pid, "VmHWM:").expect("VmHWM") * 1024;
    let before = hwm();
    let v = upload(&s, &alice, &room, "bomb.png", &png_bomb()).await;
    let peak = hwm();
    assert_eq!(v["type"], "image/png");
    assert_eq!(
        (v["width"].clone(), v["height"].clone()),
        (json!(100_000), json!(100_000)),
        "its header's claim"
    );
    let (status, _, _) = download(
        &s,
        &format!("/api/files/{}/thumbnail", id_of(&v)),
        Some(&alice.token),
    )
    .await;
    assert_eq!(status, 404, "no thumbnail");
    assert!(
        peak < before + 32 * MIB,
        "peak RSS {peak} over the peak before the upload {before} + 32 MiB"
    );
}
