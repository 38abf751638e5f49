//! Measures the thumbnail of a 12-megapixel photo, the figure the upload
//! of an image costs the server:
//!
//!     cargo run --profile testing --example thumbnail -- [RUNS]
//!
//! Writes a 4000×3000 JPEG (quality 90, a gradient under noise, so it
//! codes like a photo rather than a flat test card) to a temporary
//! directory, then times `files::image::thumbnail` on it RUNS times
//! (default 7) and prints the minimum and the median, of the wall clock
//! and of the thread's CPU time (the steadier figure on a busy machine:
//! the work is single-threaded), and the process's
//! peak resident memory (`VmHWM`) over those runs, counted from after the
//! photo was written. Then, for reference, it times decoding alone and
//! each of the image crate's own ways of scaling the decoded photo down to
//! 400 pixels: the alternatives to the server's block average
//! (`src/files/image/scale.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use chatroom::files::image::{thumbnail, Thumbnail};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{ImageEncoder, RgbImage};

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;
const MAX_SIDE: u32 = 400;
const QUALITY: u8 = 90;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 7,
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("photo.jpg");
    write_photo(&path)?;
    let size = std::fs::metadata(&path)?.len();
    println!(
        "photo: {WIDTH}×{HEIGHT} JPEG, {:.1} MiB",
        size as f64 / f64::from(1 << 20)
    );

    let reset = reset_peak();
    let idle = status_kib("VmRSS:");
    let mut times = Vec::with_capacity(runs);
    let mut cpu_times = Vec::with_capacity(runs);
    let mut last: Option<Thumbnail> = None;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let cpu_started = thread_cpu_time();
        let thumb = thumbnail(&path, MAX_SIDE)?;
        cpu_times.push(thread_cpu_time().saturating_sub(cpu_started));
        times.push(started.elapsed());
        last = Some(thumb);
    }
    let peak = status_kib("VmHWM:");
    if let Some(thumb) = last {
        println!(
            "thumbnail: {}×{} {}, {} bytes",
            thumb.width,
            thumb.height,
            thumb.content_type,
            thumb.bytes.len()
        );
    }
    for (what, mut times) in [("wall", times), ("CPU", cpu_times)] {
        times.sort();
        println!(
            "thumbnail {what} time over {} runs: min {:.1} ms, median {:.1} ms",
            times.len(),
            ms(times[0]),
            ms(times[times.len() / 2])
        );
    }
    match (idle, peak) {
        (Some(idle), Some(peak)) => println!(
            "resident memory: {} MiB before, peak {} MiB{}",
            idle / 1024,
            peak / 1024,
            if reset {
                ""
            } else {
                " (peak not reset: includes writing the photo)"
            }
        ),
        _ => println!("resident memory: /proc/self/status not readable"),
    }

    compare_filters(&path)?;
    Ok(())
}

/// Times (in CPU time) decoding alone and each of the crate's ways of
/// scaling down, so the server's way is chosen on figures.
fn compare_filters(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let started = thread_cpu_time();
    let photo = image::open(path)?;
    println!(
        "decode alone: {:.1} ms CPU",
        ms(thread_cpu_time().saturating_sub(started))
    );
    let started = thread_cpu_time();
    let small = photo.thumbnail(MAX_SIDE, MAX_SIDE);
    println!(
        "scale with thumbnail (area average): {:.1} ms CPU -> {}×{}",
        ms(thread_cpu_time().saturating_sub(started)),
        small.width(),
        small.height()
    );
    for filter in [
        FilterType::Triangle,
        FilterType::CatmullRom,
        FilterType::Lanczos3,
    ] {
        let started = thread_cpu_time();
        let small = photo.resize(MAX_SIDE, MAX_SIDE, filter);
        println!(
            "scale with resize {filter:?}: {:.1} ms CPU -> {}×{}",
            ms(thread_cpu_time().saturating_sub(started)),
            small.width(),
            small.height()
        );
    }
    Ok(())
}

/// A horizontal and vertical gradient with per-pixel noise from a
/// xorshift generator: detail at every scale, as in a photo.
fn write_photo(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let mut state: u32 = 0x9E37_79B9;
    let photo = RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state & 0x3F) as i32 - 32;
        let channel = |base: u32| (base as i32 + noise).clamp(0, 255) as u8;
        image::Rgb([
            channel(x * 255 / WIDTH),
            channel(y * 255 / HEIGHT),
            channel(((x + y) / 16) % 256),
        ])
    });
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, QUALITY).write_image(
        photo.as_raw(),
        WIDTH,
        HEIGHT,
        image::ExtendedColorType::Rgb8,
    )?;
    drop(photo);
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Resets the peak resident set to the current one (Linux 4.0 and later),
/// so the peak read later is the thumbnail's, not the photo's making.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A kB figure of `/proc/self/status`.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
