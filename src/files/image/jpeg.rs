//! The few JPEG header facts the image crate does not tell before it
//! decodes: whether the decoder will hold every DCT coefficient of the
//! picture at once, and at which chroma resolution.
//!
//! The crate's JPEG decoder reads the whole file into memory and does not
//! count its coefficient planes against `Limits::max_alloc`; a progressive
//! JPEG at full chroma resolution needs 6 bytes per pixel there on top of
//! the 3 of its output. Walking the markers up to the first scan (they
//! come before any pixel data, a few kilobytes) gives the exact figure, so
//! the memory bound holds without refusing the ordinary baseline photos
//! that need no such planes.

use std::io::{self, BufRead, Read, Seek, SeekFrom};

use ::image::metadata::Orientation;

/// The frame header and first scan header, as far as memory and display
/// depend on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JpegHeader {
    pub width: u32,
    pub height: u32,
    /// Sampling factors (horizontal, vertical) of each component.
    pub sampling: Vec<(u8, u8)>,
    /// Progressive frames, and baseline ones whose first scan does not
    /// carry every component, are decoded through whole-picture
    /// coefficient planes.
    pub buffers_coefficients: bool,
    /// From the EXIF segment, if there is one and it says.
    pub orientation: Option<Orientation>,
}

impl JpegHeader {
    /// Bytes of the coefficient planes the decoder allocates (2 bytes per
    /// coefficient, each component at its own resolution, padded to whole
    /// 8×8 blocks of whole MCUs); 0 when it decodes row by row.
    pub fn coefficient_bytes(&self) -> u64 {
        if !self.buffers_coefficients {
            return 0;
        }
        let h_max = self.sampling.iter().map(|s| s.0).max().unwrap_or(1).max(1);
        let v_max = self.sampling.iter().map(|s| s.1).max().unwrap_or(1).max(1);
        let mcus_across = u64::from(self.width).div_ceil(8 * u64::from(h_max));
        let mcus_down = u64::from(self.height).div_ceil(8 * u64::from(v_max));
        self.sampling
            .iter()
            .map(|&(h, v)| mcus_across * mcus_down * u64::from(h) * u64::from(v) * 64 * 2)
            .sum()
    }
}

/// The largest EXIF segment read for its orientation: one segment cannot
/// be longer anyway.
const MAX_SEGMENT: usize = 65_535;

/// Reads markers from the start of `reader` up to the first scan.
/// Returns `Ok(None)` when the bytes do not start like a JPEG and
/// `InvalidData` when they do but the headers are broken or cut short.
pub(super) fn read_header<R: BufRead + Seek>(reader: &mut R) -> io::Result<Option<JpegHeader>> {
    let mut soi = [0u8; 2];
    if read_up_to(reader, &mut soi)? < 2 || soi != [0xFF, 0xD8] {
        return Ok(None);
    }
    let mut frame: Option<JpegHeader> = None;
    let mut orientation = None;
    loop {
        let marker = next_marker(reader)?;
        match marker {
            // Restart markers and TEM stand alone; nothing to skip.
            0x01 | 0xD0..=0xD7 => continue,
            0xD8 | 0xD9 => return Err(invalid("image data ends before its first scan")),
            _ => {}
        }
        let len = usize::from(read_u16(reader)?);
        let body = len
            .checked_sub(2)
            .ok_or_else(|| invalid("segment length under 2"))?;
        match marker {
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let mut buf = vec![0u8; body];
                reader.read_exact(&mut buf)?;
                frame = Some(parse_frame(marker, &buf)?);
            }
            0xDA => {
                let mut header = frame.ok_or_else(|| invalid("scan before frame header"))?;
                let mut count = [0u8; 1];
                reader.read_exact(&mut count)?;
                header.buffers_coefficients |= usize::from(count[0]) != header.sampling.len();
                header.orientation = orientation;
                return Ok(Some(header));
            }
            0xE1 if orientation.is_none() && body <= MAX_SEGMENT => {
                let mut buf = vec![0u8; body];
                reader.read_exact(&mut buf)?;
                if let Some(tiff) = buf.strip_prefix(b"Exif\0\0") {
                    orientation = Orientation::from_exif_chunk(tiff);
                }
            }
            _ => {
                let skip = i64::try_from(body).map_err(|_| invalid("segment too long"))?;
                reader.seek(SeekFrom::Current(skip))?;
            }
        }
    }
}

/// SOF: precision, height, width, component count, then 3 bytes a
/// component (id, sampling factors, quantisation table).
fn parse_frame(marker: u8, buf: &[u8]) -> io::Result<JpegHeader> {
    let short = || invalid("frame header cut short");
    let head = buf.get(..6).ok_or_else(short)?;
    let height = u32::from(u16::from_be_bytes([head[1], head[2]]));
    let width = u32::from(u16::from_be_bytes([head[3], head[4]]));
    let count = usize::from(head[5]);
    if width == 0 || height == 0 || count == 0 {
        return Err(invalid("frame header without size or components"));
    }
    let comps = buf.get(6..6 + 3 * count).ok_or_else(short)?;
    let sampling = comps
        .chunks_exact(3)
        .map(|c| (c[1] >> 4, c[1] & 0x0F))
        .collect();
    // SOF2, SOF6, SOF10 and SOF14 are the progressive frames.
    let progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
    Ok(JpegHeader {
        width,
        height,
        sampling,
        buffers_coefficients: progressive,
        orientation: None,
    })
}

/// Skips to the next marker: any 0xFF run, then the marker byte.
fn next_marker<R: Read>(reader: &mut R) -> io::Result<u8> {
    let mut byte = [0u8; 1];
    reader.read_exact(&mut byte)?;
    if byte[0] != 0xFF {
        return Err(invalid("expected a marker"));
    }
    while byte[0] == 0xFF {
        reader.read_exact(&mut byte)?;
    }
    Ok(byte[0])
}

fn read_u16<R: Read>(reader: &mut R) -> io::Result<u16> {
    let mut buf = [0u8; 2];
    reader.read_exact(&mut buf)?;
    Ok(u16::from_be_bytes(buf))
}

/// Like `read_exact` but a short file is an answer, not an error.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("JPEG: {what}"))
}
