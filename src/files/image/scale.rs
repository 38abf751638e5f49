//! Scaling a decoded image down to thumbnail size.
//!
//! A photo shrinks by a factor of 10 or more. The crate's filters are
//! general and per pixel: its area average (`thumbnail`) takes longer
//! than decoding the JPEG, and its triangle filter three times that (the
//! `thumbnail` example measures them). Averaging whole k×k blocks of the
//! 8-bit rows directly is a running sum the compiler vectorises; it
//! brings the image to between one and two times the target size, and the
//! triangle filter, on that small image, does the last fraction smoothly.

use ::image::imageops::FilterType;
use ::image::{DynamicImage, ImageBuffer, Pixel};

/// The largest block averaged in 32-bit sums of 8-bit samples (4096² ×
/// 255 < 2³²); only a thumbnail of a few pixels needs more.
const MAX_BLOCK: u32 = 4096;

/// At most `max_side` on the long side, the aspect ratio kept; an image
/// already that small is returned as it is.
pub(super) fn shrink(image: DynamicImage, max_side: u32) -> DynamicImage {
    let max_side = max_side.max(1);
    let long_side = image.width().max(image.height());
    if long_side <= max_side {
        return image;
    }
    let factor = long_side / max_side;
    let image = if factor >= 2 {
        average_blocks(image, factor)
    } else {
        image
    };
    image.resize(max_side, max_side, FilterType::Triangle)
}

/// Each `factor`×`factor` block (fewer along a side shorter than it)
/// becomes its mean; rows and columns left over at the right and bottom
/// edges are dropped, less than a block. Images of 16-bit or float
/// samples take the crate's area average to the same size.
fn average_blocks(image: DynamicImage, factor: u32) -> DynamicImage {
    let factor = factor.min(MAX_BLOCK);
    match image {
        DynamicImage::ImageLuma8(b) => DynamicImage::ImageLuma8(average(&b, factor)),
        DynamicImage::ImageLumaA8(b) => DynamicImage::ImageLumaA8(average(&b, factor)),
        DynamicImage::ImageRgb8(b) => DynamicImage::ImageRgb8(average(&b, factor)),
        DynamicImage::ImageRgba8(b) => DynamicImage::ImageRgba8(average(&b, factor)),
        other => {
            let width = (other.width() / factor).max(1);
            let height = (other.height() / factor).max(1);
            other.thumbnail_exact(width, height)
        }
    }
}

fn average<P: Pixel<Subpixel = u8>>(
    src: &ImageBuffer<P, Vec<u8>>,
    factor: u32,
) -> ImageBuffer<P, Vec<u8>> {
    let channels = usize::from(P::CHANNEL_COUNT);
    let (width, height) = src.dimensions();
    let block_w = factor.min(width).max(1) as usize;
    let block_h = factor.min(height).max(1) as usize;
    let out_w = width as usize / block_w;
    let out_h = height as usize / block_h;
    let row_len = width as usize * channels;
    let used_len = out_w * block_w * channels;
    let count = (block_w * block_h) as u32;
    let mut sums = vec![0u32; out_w * channels];
    let mut out = Vec::with_capacity(out_w * out_h * channels);
    for band in src.as_raw().chunks_exact(row_len * block_h).take(out_h) {
        sums.fill(0);
        for row in band.chunks_exact(row_len) {
            let blocks = row[..used_len].chunks_exact(block_w * channels);
            for (sum, block) in sums.chunks_exact_mut(channels).zip(blocks) {
                for pixel in block.chunks_exact(channels) {
                    for (s, &v) in sum.iter_mut().zip(pixel) {
                        *s += u32::from(v);
                    }
                }
            }
        }
        out.extend(sums.iter().map(|&s| ((s + count / 2) / count) as u8));
    }
    // The buffer is exactly out_w × out_h pixels, so this always succeeds.
    ImageBuffer::from_raw(out_w as u32, out_h as u32, out)
        .unwrap_or_else(|| ImageBuffer::new(out_w as u32, out_h as u32))
}

#[cfg(test)]
mod tests {
    use ::image::{GrayImage, Luma};

    use super::*;

    #[test]
    fn blocks_become_their_rounded_mean_and_edges_left_over_are_dropped() {
        // 5×3: two 2×2 blocks across the top, the fifth column and the
        // last row left over.
        let src = GrayImage::from_raw(
            5,
            3,
            vec![
                0, 2, 10, 20, 99, //
                4, 5, 30, 41, 99, //
                99, 99, 99, 99, 99,
            ],
        )
        .expect("5×3");
        let out = average(&src, 2);
        assert_eq!(out.dimensions(), (2, 1));
        assert_eq!(out.get_pixel(0, 0), &Luma([3])); // 11 / 4 = 2.75
        assert_eq!(out.get_pixel(1, 0), &Luma([25])); // 101 / 4 = 25.25
    }

    #[test]
    fn a_thin_image_keeps_at_least_one_pixel_across() {
        let src = GrayImage::from_pixel(3, 9000, Luma([7]));
        let out = shrink(DynamicImage::ImageLuma8(src), 400);
        assert_eq!((out.width(), out.height()), (1, 400));
        assert_eq!(out.to_luma8().get_pixel(0, 0), &Luma([7]));
    }
}
