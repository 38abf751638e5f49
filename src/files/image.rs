//! What an uploaded image is (its format and size) and its thumbnail.
//!
//! Both run on the blocking pool once the upload is on disk; both read the
//! file themselves, so the caller holds no image bytes.
//!
//! An image is the one upload whose cost is not its size: a few kilobytes
//! of PNG can claim a 100,000-pixel square, and decoding it would take
//! gigabytes. [`probe`] therefore reads headers only, and [`thumbnail`]
//! works out what decoding will hold in memory (the output buffer, the
//! decoder's own planes, the file itself where the decoder reads it whole)
//! from the headers, refuses beyond [`MAX_PIXELS`] or [`DECODE_BUDGET`]
//! before a single pixel is decoded, and hands the decoder the rest of the
//! budget as its allocation limit.
//!
//! A thumbnail is encoded from pixels, so none of the original's metadata
//! (EXIF, GPS position, camera serial, comments) reaches it; the original
//! is served unchanged.

#[cfg(test)]
mod fuzz;
mod jpeg;
mod scale;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use ::image::codecs::jpeg::JpegEncoder;
use ::image::codecs::png::PngEncoder;
use ::image::metadata::Orientation;
use ::image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageReader, Limits};

/// Images with more pixels get no thumbnail (the bound: a 50 MP
/// camera photo still passes).
pub const MAX_PIXELS: u64 = 50_000_000;

/// The most memory decoding one image may hold, all buffers counted.
pub const DECODE_BUDGET: u64 = 256 << 20;

/// The longest side any decoder may accept: the JPEG and GIF format
/// limit. Only PNG can claim more, and only a bomb would.
const MAX_SIDE: u32 = 65_535;

/// Quality of the JPEG thumbnails: no visible loss at 400 pixels, a third
/// of the bytes of quality 95.
const JPEG_QUALITY: u8 = 80;

/// What reading headers may allocate (PNG text and colour-profile chunks
/// before the image data are read whole).
const HEADER_ALLOC: u64 = 16 << 20;

/// The image formats the server recognises, and so the only ones decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    WebP,
}

impl ImageFormat {
    /// The media type the file is served as.
    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Gif => "image/gif",
            ImageFormat::WebP => "image/webp",
        }
    }

    fn from_crate(format: ::image::ImageFormat) -> Option<Self> {
        match format {
            ::image::ImageFormat::Png => Some(ImageFormat::Png),
            ::image::ImageFormat::Jpeg => Some(ImageFormat::Jpeg),
            ::image::ImageFormat::Gif => Some(ImageFormat::Gif),
            ::image::ImageFormat::WebP => Some(ImageFormat::WebP),
            _ => None,
        }
    }

    fn to_crate(self) -> ::image::ImageFormat {
        match self {
            ImageFormat::Png => ::image::ImageFormat::Png,
            ImageFormat::Jpeg => ::image::ImageFormat::Jpeg,
            ImageFormat::Gif => ::image::ImageFormat::Gif,
            ImageFormat::WebP => ::image::ImageFormat::WebP,
        }
    }
}

/// An image's format and size as it is displayed: the EXIF orientation
/// applied, so a portrait photo stored sideways reports portrait
/// dimensions, as browsers show it and as its thumbnail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// A thumbnail ready to store as a blob: JPEG, or PNG when the image has
/// transparent pixels (JPEG would turn them black).
#[derive(Debug, Clone)]
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Why an image has no size or no thumbnail. None of these is the
/// uploader's fault to be told about at length: the file stays a file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Reading the file failed: a server problem, not the image's.
    #[error("reading the image failed: {0}")]
    Io(#[from] io::Error),
    /// The file is not a PNG, JPEG, GIF or WebP image.
    #[error("not a PNG, JPEG, GIF or WebP image")]
    NotAnImage,
    /// The bytes claim to be an image but are broken or cut short.
    #[error("the image cannot be decoded: {0}")]
    Invalid(String),
    /// Decoding would pass [`MAX_PIXELS`] or [`DECODE_BUDGET`].
    #[error("the image is too large to decode: {0}")]
    TooLarge(String),
}

impl From<::image::ImageError> for ImageError {
    fn from(err: ::image::ImageError) -> Self {
        match err {
            ::image::ImageError::IoError(err) => from_io(err),
            ::image::ImageError::Limits(err) => ImageError::TooLarge(err.to_string()),
            other => ImageError::Invalid(other.to_string()),
        }
    }
}

/// A read that ends early or finds nonsense is the image's fault; any
/// other I/O error is the disk's.
fn from_io(err: io::Error) -> ImageError {
    match err.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData => {
            ImageError::Invalid(err.to_string())
        }
        _ => ImageError::Io(err),
    }
}

/// The format and displayed size of a PNG, JPEG, GIF or WebP file, from
/// its headers alone (no pixel is decoded, and a JPEG is not read whole);
/// `None` for any other file. An image too large for a thumbnail is still
/// measured. `Err(Invalid)` for a file that starts like an image but whose
/// headers are broken: the caller keeps it as a plain file.
pub fn probe(path: &Path) -> Result<Option<ImageInfo>, ImageError> {
    let mut reader = BufReader::new(File::open(path)?);
    let Some(format) = sniff(&mut reader)? else {
        return Ok(None);
    };
    let (width, height, orientation) = if format == ImageFormat::Jpeg {
        let header = read_jpeg_header(&mut reader)?;
        (header.width, header.height, header.orientation)
    } else {
        let mut limits = Limits::no_limits();
        limits.max_alloc = Some(HEADER_ALLOC);
        let mut decoder = open_decoder(reader, format, limits)?;
        let (width, height) = decoder.dimensions();
        (width, height, decoder.orientation().ok())
    };
    let (width, height) = displayed(width, height, orientation);
    Ok(Some(ImageInfo {
        format,
        width,
        height,
    }))
}

/// A thumbnail of the image at `path`, at most `max_side` pixels on its
/// long side (never enlarged), the EXIF orientation applied. An animated
/// GIF or WebP gives its first frame. `Err(TooLarge)` before any pixel is
/// decoded when the image passes [`MAX_PIXELS`] or decoding it would pass
/// [`DECODE_BUDGET`].
pub fn thumbnail(path: &Path, max_side: u32) -> Result<Thumbnail, ImageError> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    let format = sniff(&mut reader)?.ok_or(ImageError::NotAnImage)?;
    let (decoder, orientation) = if format == ImageFormat::Jpeg {
        let header = read_jpeg_header(&mut reader)?;
        let channels: u64 = match header.sampling.len() {
            1 => 1,
            4 => 4,
            _ => 3,
        };
        let pixels = u64::from(header.width) * u64::from(header.height);
        // The decoder reads the whole file into memory before decoding.
        let need = pixels * channels + header.coefficient_bytes() + file_len;
        let remaining = check_budget(header.width, header.height, need)?;
        reader.rewind()?;
        let decoder = open_decoder(reader, format, decode_limits(remaining))?;
        (decoder, header.orientation)
    } else {
        let mut decoder = open_decoder(reader, format, decode_limits(DECODE_BUDGET))?;
        let (width, height) = decoder.dimensions();
        let need = decoder
            .total_bytes()
            .saturating_add(working_bytes(format, width, height));
        let remaining = check_budget(width, height, need)?;
        decoder.set_limits(decode_limits(remaining))?;
        let orientation = decoder.orientation().ok();
        (decoder, orientation)
    };
    let image = DynamicImage::from_decoder(decoder)?;
    let mut small = scale::shrink(image, max_side);
    if let Some(orientation) = orientation {
        // After shrinking: a quarter turn copies the image, and the
        // thumbnail is the small one.
        small.apply_orientation(orientation);
    }
    encode(small)
}

/// The format the file's first bytes announce, if it is one of ours;
/// the reader is left at the start.
fn sniff<R: Read + Seek>(reader: &mut R) -> Result<Option<ImageFormat>, ImageError> {
    let mut start = Vec::with_capacity(16);
    reader.by_ref().take(16).read_to_end(&mut start)?;
    reader.rewind()?;
    Ok(::image::guess_format(&start)
        .ok()
        .and_then(ImageFormat::from_crate))
}

fn read_jpeg_header<R: io::BufRead + Seek>(reader: &mut R) -> Result<jpeg::JpegHeader, ImageError> {
    jpeg::read_header(reader)
        .map_err(from_io)?
        .ok_or(ImageError::NotAnImage)
}

fn open_decoder(
    reader: BufReader<File>,
    format: ImageFormat,
    limits: Limits,
) -> Result<impl ImageDecoder, ImageError> {
    let mut reader = ImageReader::with_format(reader, format.to_crate());
    reader.limits(limits);
    Ok(reader.into_decoder()?)
}

/// Limits for a decoder that may allocate `alloc` more bytes than the
/// output buffer already counted.
fn decode_limits(alloc: u64) -> Limits {
    let mut limits = Limits::no_limits();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(alloc);
    limits
}

/// What a decoder holds besides its output, where it does not count it
/// against `max_alloc` itself: WebP decodes through a plane of 32-bit
/// pixels (lossless) or YUV planes (lossy, less). PNG decodes row by row;
/// GIF counts its frame buffer itself.
fn working_bytes(format: ImageFormat, width: u32, height: u32) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    match format {
        ImageFormat::WebP => pixels * 4,
        ImageFormat::Png | ImageFormat::Gif | ImageFormat::Jpeg => 0,
    }
}

/// Refuses an image over [`MAX_PIXELS`] or one needing more than
/// [`DECODE_BUDGET`]; returns what is left of the budget.
fn check_budget(width: u32, height: u32, need: u64) -> Result<u64, ImageError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(ImageError::TooLarge(format!(
            "{width}×{height} is {pixels} pixels, over the limit of {MAX_PIXELS}"
        )));
    }
    DECODE_BUDGET.checked_sub(need).ok_or_else(|| {
        ImageError::TooLarge(format!(
            "decoding {width}×{height} would need {} MiB, over the limit of {} MiB",
            need >> 20,
            DECODE_BUDGET >> 20
        ))
    })
}

/// The size as displayed once `orientation` is applied.
fn displayed(width: u32, height: u32, orientation: Option<Orientation>) -> (u32, u32) {
    match orientation {
        Some(
            Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH,
        ) => (height, width),
        _ => (width, height),
    }
}

/// JPEG unless a pixel is not opaque; then PNG, which keeps it.
fn encode(image: DynamicImage) -> Result<Thumbnail, ImageError> {
    let (width, height) = (image.width(), image.height());
    let mut bytes = Vec::new();
    let content_type = if image.color().has_alpha() && has_transparency(&image) {
        let rgba = image.to_rgba8();
        PngEncoder::new(&mut bytes).write_image(
            rgba.as_raw(),
            width,
            height,
            ExtendedColorType::Rgba8,
        )?;
        ImageFormat::Png.content_type()
    } else {
        let rgb = image.to_rgb8();
        JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY).write_image(
            rgb.as_raw(),
            width,
            height,
            ExtendedColorType::Rgb8,
        )?;
        ImageFormat::Jpeg.content_type()
    };
    Ok(Thumbnail {
        bytes,
        content_type,
        width,
        height,
    })
}

fn has_transparency(image: &DynamicImage) -> bool {
    image.to_rgba8().pixels().any(|p| p.0[3] < u8::MAX)
}
