//! Images are made here with the crate's own encoders, then patched by
//! hand where a test needs a header no encoder would write (a bomb, an
//! EXIF segment).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ::image::codecs::gif::GifEncoder;
use ::image::codecs::webp::WebPEncoder;
use ::image::{Delay, Frame, GrayImage, Rgb, RgbImage, Rgba, RgbaImage};

use super::*;

/// How long refusing a bomb may take: it reads a header, nothing more.
const REFUSAL: Duration = Duration::from_millis(500);

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// A picture with structure, so lossy coding and scaling have work to do.
fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width) as u8,
            (y * 255 / height) as u8,
            ((x ^ y) & 0xFF) as u8,
        ])
    })
}

fn encode_as(image: &DynamicImage, format: ::image::ImageFormat) -> Vec<u8> {
    let mut out = io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

pub(super) fn jpeg_of(width: u32, height: u32) -> Vec<u8> {
    encode_as(
        &DynamicImage::ImageRgb8(gradient(width, height)),
        ::image::ImageFormat::Jpeg,
    )
}

pub(super) fn png_of(width: u32, height: u32) -> Vec<u8> {
    encode_as(
        &DynamicImage::ImageRgb8(gradient(width, height)),
        ::image::ImageFormat::Png,
    )
}

pub(super) fn gif_of(width: u32, height: u32, frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        for i in 0..frames {
            let pixels = RgbaImage::from_pixel(width, height, Rgba([40 * i as u8, 90, 200, 255]));
            let frame = Frame::from_parts(pixels, 0, 0, Delay::from_numer_denom_ms(100, 1));
            encoder.encode_frame(frame).expect("gif frame");
        }
    }
    out
}

pub(super) fn webp_of(width: u32, height: u32) -> Vec<u8> {
    let image = gradient(width, height);
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .encode(image.as_raw(), width, height, ExtendedColorType::Rgb8)
        .expect("webp");
    out
}

/// The JPEG segments before the first scan: (marker, offset of the
/// segment's length field).
fn segments(jpeg: &[u8]) -> Vec<(u8, usize)> {
    let mut found = Vec::new();
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let marker = jpeg[at + 1];
        found.push((marker, at + 2));
        if marker == 0xDA {
            break;
        }
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
    found
}

/// Makes the JPEG's frame header claim another size.
fn claim_jpeg_size(jpeg: &mut [u8], width: u16, height: u16) {
    let (_, len_at) = *segments(jpeg)
        .iter()
        .find(|(m, _)| *m == 0xC0)
        .expect("SOF0");
    jpeg[len_at + 3..len_at + 5].copy_from_slice(&height.to_be_bytes());
    jpeg[len_at + 5..len_at + 7].copy_from_slice(&width.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Makes the PNG's IHDR claim another size and pixel layout, with a valid
/// checksum, the image data left as it was.
fn claim_png(png: &mut [u8], width: u32, height: u32, bit_depth: u8, color_type: u8) {
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    png[24] = bit_depth;
    png[25] = color_type;
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
}

/// An APP1 segment of little-endian EXIF: orientation, and a GPS IFD with
/// a latitude of 48° 51' 24" N.
fn exif_segment(orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II\x2A\x00");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value);
    };
    // IFD0 at 8: 2 entries, 30 bytes; the GPS IFD follows at 38.
    tiff.extend_from_slice(&2u16.to_le_bytes());
    let [o0, o1] = orientation.to_le_bytes();
    entry(&mut tiff, 0x0112, 3, 1, [o0, o1, 0, 0]);
    entry(&mut tiff, 0x8825, 4, 1, 38u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD at 38: 30 bytes; its rationals follow at 68.
    tiff.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut tiff, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut tiff, 0x0002, 5, 3, 68u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    for part in [48u32, 1, 51, 1, 24, 1] {
        tiff.extend_from_slice(&part.to_le_bytes());
    }
    let mut segment = vec![0xFF, 0xE1];
    let len = u16::try_from(2 + 6 + tiff.len()).expect("short segment");
    segment.extend_from_slice(&len.to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);
    segment
}

fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&exif_segment(orientation));
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn decoded(thumb: &Thumbnail) -> DynamicImage {
    ::image::load_from_memory(&thumb.bytes).expect("thumbnail decodes")
}

#[test]
fn probe_reads_the_size_of_each_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("a.png", png_of(320, 200), ImageFormat::Png),
        ("a.jpg", jpeg_of(321, 201), ImageFormat::Jpeg),
        ("a.gif", gif_of(322, 202, 1), ImageFormat::Gif),
        ("a.webp", webp_of(323, 203), ImageFormat::WebP),
    ];
    for (i, (name, bytes, format)) in cases.into_iter().enumerate() {
        let info = probe(&write(&dir, name, &bytes)).expect("probe");
        let expected = ImageInfo {
            format,
            width: 320 + i as u32,
            height: 200 + i as u32,
        };
        assert_eq!(info, Some(expected), "{name}");
    }
}

#[test]
fn probe_says_none_for_files_that_are_not_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>";
    for (name, bytes) in [
        ("empty", &b""[..]),
        ("text", &b"hello, world\n"[..]),
        ("svg", &svg[..]),
        ("pdf", &b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n"[..]),
        ("bmp", &b"BM\x3A\0\0\0\0\0\0\0\x36\0\0\0"[..]),
    ] {
        let path = write(&dir, name, bytes);
        assert!(probe(&path).expect("probe").is_none(), "{name}");
        assert!(
            matches!(thumbnail(&path, 400), Err(ImageError::NotAnImage)),
            "{name}"
        );
    }
}

#[test]
fn thumbnail_keeps_the_aspect_ratio_within_the_longest_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes, (w, h)) in [
        ("wide.jpg", jpeg_of(1000, 500), (400, 200)),
        ("tall.png", png_of(300, 1200), (100, 400)),
        ("wide.webp", webp_of(1600, 900), (400, 225)),
        ("near.png", png_of(500, 300), (400, 240)),
        ("small.jpg", jpeg_of(120, 80), (120, 80)),
    ] {
        let thumb = thumbnail(&write(&dir, name, &bytes), 400).expect("thumbnail");
        assert_eq!((thumb.width, thumb.height), (w, h), "{name}");
        assert_eq!(thumb.content_type, "image/jpeg", "{name}");
        let image = decoded(&thumb);
        assert_eq!((image.width(), image.height()), (w, h), "{name}");
    }
}

#[test]
fn thumbnail_of_a_transparent_image_is_a_png_that_keeps_its_alpha() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = RgbaImage::from_fn(800, 800, |x, _| Rgba([200, 10, 10, (x % 256) as u8]));
    let bytes = encode_as(&DynamicImage::ImageRgba8(image), ::image::ImageFormat::Png);
    let thumb = thumbnail(&write(&dir, "alpha.png", &bytes), 400).expect("thumbnail");
    assert_eq!(thumb.content_type, "image/png");
    assert!(decoded(&thumb).to_rgba8().pixels().any(|p| p.0[3] < 128));
}

#[test]
fn thumbnail_of_an_animated_gif_is_its_first_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "anim.gif", &gif_of(500, 250, 3));
    assert_eq!(probe(&path).expect("probe").map(|i| i.width), Some(500));
    let thumb = thumbnail(&path, 400).expect("thumbnail");
    assert_eq!((thumb.width, thumb.height), (400, 200));
    let first = decoded(&thumb).to_rgb8();
    // Frame 0 is (0, 90, 200); later frames are redder.
    assert!(
        first.pixels().all(|p| p.0[0] < 20),
        "{:?}",
        first.get_pixel(0, 0)
    );
}

#[test]
fn thumbnail_carries_no_exif_or_gps_of_the_original() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = with_exif(&jpeg_of(900, 600), 1);
    assert!(segments(&original).iter().any(|(m, _)| *m == 0xE1));
    let path = write(&dir, "gps.jpg", &original);
    assert_eq!(probe(&path).expect("probe").map(|i| i.width), Some(900));
    let thumb = thumbnail(&path, 400).expect("thumbnail");
    assert_eq!(thumb.content_type, "image/jpeg");
    let markers: Vec<u8> = segments(&thumb.bytes).iter().map(|(m, _)| *m).collect();
    assert!(
        markers.contains(&0xDA),
        "walked up to the scan: {markers:x?}"
    );
    assert!(
        !markers.contains(&0xE1),
        "an APP1 segment survived: {markers:x?}"
    );
    assert!(!thumb.bytes.windows(4).any(|w| w == b"Exif"));
    assert!(!thumb.bytes.windows(8).any(|w| w == b"N\0\0\0\x30\0\0\0"));
}

#[test]
fn exif_orientation_turns_the_size_and_the_thumbnail() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Stored 800×400, to be shown turned a quarter clockwise.
    let path = write(&dir, "turned.jpg", &with_exif(&jpeg_of(800, 400), 6));
    let info = probe(&path).expect("probe").expect("an image");
    assert_eq!((info.width, info.height), (400, 800));
    let thumb = thumbnail(&path, 400).expect("thumbnail");
    assert_eq!((thumb.width, thumb.height), (200, 400));
}

fn assert_refused_quickly(path: &Path) {
    let started = Instant::now();
    let result = thumbnail(path, 400);
    let took = started.elapsed();
    assert!(matches!(result, Err(ImageError::TooLarge(_))), "{result:?}");
    assert!(took < REFUSAL, "refusing took {took:?}");
}

#[test]
fn headers_claiming_huge_sizes_are_refused_before_decoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut png = png_of(16, 16);
    claim_png(&mut png, 100_000, 100_000, 8, 2);
    let path = write(&dir, "huge.png", &png);
    let info = probe(&path).expect("probe").expect("an image");
    assert_eq!((info.width, info.height), (100_000, 100_000));
    assert_refused_quickly(&path);

    let mut jpeg = jpeg_of(16, 16);
    claim_jpeg_size(&mut jpeg, 65_000, 65_000);
    let path = write(&dir, "huge.jpg", &jpeg);
    assert_eq!(probe(&path).expect("probe").map(|i| i.height), Some(65_000));
    assert_refused_quickly(&path);

    let mut gif = gif_of(16, 16, 1);
    gif[6..10].copy_from_slice(&[0xFF; 4]);
    assert_refused_quickly(&write(&dir, "huge.gif", &gif));

    // Under the pixel limit, but 16-bit RGBA: 288 MB of output.
    let mut png = png_of(16, 16);
    claim_png(&mut png, 6000, 6000, 16, 6);
    let path = write(&dir, "deep.png", &png);
    match thumbnail(&path, 400) {
        Err(ImageError::TooLarge(why)) => assert!(why.contains("MiB"), "{why}"),
        other => panic!("not refused for its memory: {other:?}"),
    }
}

#[test]
fn a_small_png_of_too_many_pixels_is_refused() {
    // 50.4 million pixels of one grey compress to a few hundred kilobytes.
    let blank = GrayImage::new(7200, 7000);
    let bytes = encode_as(&DynamicImage::ImageLuma8(blank), ::image::ImageFormat::Png);
    assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());
    let dir = tempfile::tempdir().expect("tempdir");
    assert_refused_quickly(&write(&dir, "bomb.png", &bytes));
}

#[test]
fn progressive_jpeg_planes_are_counted_at_their_chroma_resolution() {
    let header = |progressive, sampling: Vec<(u8, u8)>| jpeg::JpegHeader {
        width: 4000,
        height: 3000,
        sampling,
        buffers_coefficients: progressive,
        orientation: None,
    };
    let subsampled = vec![(2, 2), (1, 1), (1, 1)];
    assert_eq!(header(false, subsampled.clone()).coefficient_bytes(), 0);
    // 4:2:0 is 1.5 samples a pixel, 2 bytes each; 3000 pads to 3008.
    assert_eq!(
        header(true, subsampled).coefficient_bytes(),
        4000 * 3008 * 3
    );
    let full = vec![(1, 1), (1, 1), (1, 1)];
    assert_eq!(header(true, full).coefficient_bytes(), 4000 * 3000 * 6);
}

#[test]
fn truncated_images_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes, header_cut) in [
        ("cut.png", png_of(300, 200), 20),
        ("cut.jpg", with_exif(&jpeg_of(300, 200), 1), 20),
        ("cut.gif", gif_of(300, 200, 2), 10),
        ("cut.webp", webp_of(300, 200), 20),
    ] {
        // Within the headers: nothing to measure.
        let path = write(&dir, name, &bytes[..header_cut]);
        assert!(probe(&path).is_err(), "{name} probe");
        assert!(thumbnail(&path, 400).is_err(), "{name} thumbnail");
        // Within the pixels: a lenient decoder may fill in the rest.
        let path = write(&dir, name, &bytes[..bytes.len() / 2]);
        assert!(probe(&path).is_ok(), "{name} probe");
        let _ = thumbnail(&path, 400);
    }
}
