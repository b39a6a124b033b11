//! Raw pictures: I420 for the encoder (what cameras and the test pattern produce) and RGBA for
//! the screen (what the decoder hands the UI).

use std::time::SystemTime;

use openh264::formats::YUVSource;

/// A picture in I420 (planar 4:2:0, BT.601 limited range): a Y plane then quarter-size U and V
/// planes, tightly packed in one allocation. Width and height are even.
#[derive(Clone, PartialEq, Eq)]
pub struct I420Frame {
    width: usize,
    height: usize,
    data: Vec<u8>,
    /// When the picture was taken, for glass-to-glass latency.
    pub captured: SystemTime,
}

impl std::fmt::Debug for I420Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "I420Frame({}x{})", self.width, self.height)
    }
}

impl I420Frame {
    /// A black picture. Odd sizes are rounded down to even ones (4:2:0 needs pairs).
    pub fn black(width: usize, height: usize) -> Self {
        let (width, height) = (width & !1, height & !1);
        let luma = width * height;
        let mut data = vec![16u8; luma + luma / 2];
        data[luma..].fill(128);
        Self {
            width,
            height,
            data,
            captured: SystemTime::UNIX_EPOCH,
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn y(&self) -> &[u8] {
        &self.data[..self.width * self.height]
    }

    pub fn u(&self) -> &[u8] {
        let luma = self.width * self.height;
        &self.data[luma..luma + luma / 4]
    }

    pub fn v(&self) -> &[u8] {
        let luma = self.width * self.height;
        &self.data[luma + luma / 4..]
    }

    /// The three planes, mutably.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let luma = self.width * self.height;
        let (y, chroma) = self.data.split_at_mut(luma);
        let (u, v) = chroma.split_at_mut(luma / 4);
        (y, u, v)
    }

    /// Copies planes with any strides (a decoder's output) into a packed frame.
    pub fn from_planes(
        (width, height): (usize, usize),
        (y, u, v): (&[u8], &[u8], &[u8]),
        (stride_y, stride_u, stride_v): (usize, usize, usize),
    ) -> Self {
        let mut frame = Self::black(width, height);
        let (width, height) = (frame.width, frame.height);
        let (fy, fu, fv) = frame.planes_mut();
        copy_plane(fy, width, height, y, stride_y);
        copy_plane(fu, width / 2, height / 2, u, stride_u);
        copy_plane(fv, width / 2, height / 2, v, stride_v);
        frame
    }

    /// The picture at a quarter of its width and height (each pixel the mean of a 4x4 block):
    /// the small layer of simulcast. Sizes are rounded down to even ones.
    pub fn quarter(&self) -> Self {
        let mut small = Self::black(self.width / 4, self.height / 4);
        small.captured = self.captured;
        let (w, h) = (small.width, small.height);
        let (sy, su, sv) = small.planes_mut();
        box_shrink(self.y(), self.width, sy, w, h);
        box_shrink(self.u(), self.width / 2, su, w / 2, h / 2);
        box_shrink(self.v(), self.width / 2, sv, w / 2, h / 2);
        small
    }

    /// Peak signal-to-noise ratio of the luma plane against `reference`, in dB (the usual
    /// measure of codec quality). None when the sizes differ.
    pub fn psnr_y(&self, reference: &I420Frame) -> Option<f64> {
        if (self.width, self.height) != (reference.width, reference.height) {
            return None;
        }
        let squared: u64 = self
            .y()
            .iter()
            .zip(reference.y())
            .map(|(a, b)| {
                let d = i64::from(*a) - i64::from(*b);
                (d * d) as u64
            })
            .sum();
        let mse = squared as f64 / self.y().len() as f64;
        Some(if mse == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (255.0 * 255.0 / mse).log10()
        })
    }

    /// Converts to RGBA for the local preview (BT.601 limited range).
    pub fn to_rgba(&self) -> RgbaImage {
        let mut pixels = vec![0u8; self.width * self.height * 4];
        i420_to_rgba(
            (self.width, self.height),
            (self.y(), self.u(), self.v()),
            (self.width, self.width / 2, self.width / 2),
            &mut pixels,
        );
        RgbaImage {
            width: self.width,
            height: self.height,
            pixels,
        }
    }
}

fn copy_plane(dst: &mut [u8], width: usize, height: usize, src: &[u8], stride: usize) {
    for (row, out) in dst.chunks_exact_mut(width).take(height).enumerate() {
        if let Some(line) = src.get(row * stride..row * stride + width) {
            out.copy_from_slice(line);
        }
    }
}

impl YUVSource for I420Frame {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn strides(&self) -> (usize, usize, usize) {
        (self.width, self.width / 2, self.width / 2)
    }

    fn y(&self) -> &[u8] {
        I420Frame::y(self)
    }

    fn u(&self) -> &[u8] {
        I420Frame::u(self)
    }

    fn v(&self) -> &[u8] {
        I420Frame::v(self)
    }
}

/// A picture ready for a texture.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl std::fmt::Debug for RgbaImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbaImage({}x{})", self.width, self.height)
    }
}

/// BT.601 limited-range YUV to RGBA, in 16.16 fixed point. `out` holds width × height × 4 bytes.
/// `to` (`width` x `height`) as the 4x4 block means of `from` (rows `from_width` wide, at
/// least four times `width` and `height`).
fn box_shrink(from: &[u8], from_width: usize, to: &mut [u8], width: usize, height: usize) {
    let mut sums = vec![0u32; width];
    for (y, out) in to.chunks_exact_mut(width).take(height).enumerate() {
        sums.fill(0);
        for row in from[y * 4 * from_width..].chunks(from_width).take(4) {
            for (sum, block) in sums.iter_mut().zip(row.chunks_exact(4)) {
                *sum += block.iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        for (pixel, sum) in out.iter_mut().zip(&sums) {
            *pixel = ((sum + 8) / 16) as u8;
        }
    }
}

pub fn i420_to_rgba(
    (width, height): (usize, usize),
    (y, u, v): (&[u8], &[u8], &[u8]),
    (stride_y, stride_u, stride_v): (usize, usize, usize),
    out: &mut [u8],
) {
    for row in 0..height {
        let y_line = &y[row * stride_y..row * stride_y + width];
        let u_line = &u[(row / 2) * stride_u..];
        let v_line = &v[(row / 2) * stride_v..];
        let out_line = &mut out[row * width * 4..(row + 1) * width * 4];
        for (col, px) in out_line.chunks_exact_mut(4).enumerate() {
            write_rgba(px, y_line[col], u_line[col / 2], v_line[col / 2]);
        }
    }
}

/// A half-size RGBA copy of an I420 picture (a preview of our own camera: a quarter of the
/// pixels to convert, and plenty for a small tile).
pub fn i420_to_rgba_half(frame: &I420Frame) -> RgbaImage {
    let (width, height) = (frame.width() / 2, frame.height() / 2);
    let mut pixels = vec![0u8; width * height * 4];
    i420_to_rgba_reduced(
        2,
        (frame.width(), frame.height()),
        (frame.y(), frame.u(), frame.v()),
        (frame.width(), frame.width() / 2, frame.width() / 2),
        &mut pixels,
    );
    RgbaImage {
        width,
        height,
        pixels,
    }
}

/// The largest power-of-two reduction (at most 8) that still leaves a `width` × `height`
/// picture at least `fit`'s size: a tile gets a texture between its size and twice it, and
/// the GPU's filtering does the rest.
pub fn reduction_for((width, height): (usize, usize), fit: (usize, usize)) -> usize {
    let mut step = 1;
    while step < 8 && width / (step * 2) >= fit.0.max(1) && height / (step * 2) >= fit.1.max(1) {
        step *= 2;
    }
    step
}

/// Converts a picture for a tile of `fit`'s size (None: at its own size), reduced by
/// `reduction_for`, into `out` (resized to hold it); returns the converted size.
pub fn i420_to_rgba_fitted(
    (width, height): (usize, usize),
    planes: (&[u8], &[u8], &[u8]),
    strides: (usize, usize, usize),
    fit: Option<(usize, usize)>,
    out: &mut Vec<u8>,
) -> (usize, usize) {
    let step = fit.map_or(1, |fit| reduction_for((width, height), fit));
    let converted = (width / step, height / step);
    out.resize(converted.0 * converted.1 * 4, 0);
    if step == 1 {
        i420_to_rgba((width, height), planes, strides, out);
    } else {
        i420_to_rgba_reduced(step, (width, height), planes, strides, out);
    }
    converted
}

/// `i420_to_rgba` for every `step`th pixel of every `step`th row (step 2 or more): `out`
/// holds (width / step) × (height / step) × 4 bytes. Each output pixel's luma is the mean of
/// the 2 × 2 block where it samples, so fine detail does not shimmer as much as point sampling
/// makes it; chroma, already at half resolution, is sampled.
pub fn i420_to_rgba_reduced(
    step: usize,
    (width, height): (usize, usize),
    (y, u, v): (&[u8], &[u8], &[u8]),
    (stride_y, stride_u, stride_v): (usize, usize, usize),
    out: &mut [u8],
) {
    debug_assert!(step >= 2);
    let (out_width, out_height) = (width / step, height / step);
    for row in 0..out_height {
        let top = &y[row * step * stride_y..];
        let bottom = &y[(row * step + 1) * stride_y..];
        let u_line = &u[(row * step / 2) * stride_u..];
        let v_line = &v[(row * step / 2) * stride_v..];
        let out_line = &mut out[row * out_width * 4..(row + 1) * out_width * 4];
        for (col, px) in out_line.chunks_exact_mut(4).enumerate() {
            let x = col * step;
            let luma = (u16::from(top[x])
                + u16::from(top[x + 1])
                + u16::from(bottom[x])
                + u16::from(bottom[x + 1])
                + 2)
                / 4;
            write_rgba(px, luma as u8, u_line[x / 2], v_line[x / 2]);
        }
    }
}

/// One pixel: BT.601 limited-range YUV to RGBA, in 16.16 fixed point.
#[inline(always)]
fn write_rgba(px: &mut [u8], y: u8, u: u8, v: u8) {
    let c = (i32::from(y) - 16) * 76_309;
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    px[0] = clamp_u8((c + 104_597 * e + 32_768) >> 16);
    px[1] = clamp_u8((c - 25_675 * d - 53_279 * e + 32_768) >> 16);
    px[2] = clamp_u8((c + 132_201 * d + 32_768) >> 16);
    px[3] = 255;
}

pub(crate) fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_picture_is_the_mean_of_each_block_and_keeps_its_capture_time() {
        let mut frame = I420Frame::black(1280, 720);
        frame.captured = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(7);
        let (y, u, _) = frame.planes_mut();
        // One 4x4 block of luma 16 and 32 in stripes (mean 24), one chroma block of 200.
        for row in 0..4 {
            y[row * 1280..row * 1280 + 4].fill(if row % 2 == 0 { 16 } else { 32 });
        }
        for row in 4..8 {
            u[row * 640 + 8..row * 640 + 12].fill(200);
        }
        let small = frame.quarter();
        assert_eq!((small.width(), small.height()), (320, 180));
        assert_eq!(small.captured, frame.captured);
        assert_eq!(small.y()[0], 24);
        assert_eq!(small.y()[1], 16);
        assert_eq!(small.u()[160 + 2], 200);
        assert_eq!(small.u()[0], 128);
        assert_eq!(small.v()[5], 128);
        // The test pattern looks the same at a quarter: its mean luma barely moves.
        let pattern =
            crate::media::video::TestPattern::new(1280, 720).frame(std::time::SystemTime::now());
        let mean =
            |f: &I420Frame| f.y().iter().map(|&p| f64::from(p)).sum::<f64>() / f.y().len() as f64;
        assert!((mean(&pattern) - mean(&pattern.quarter())).abs() < 1.0);
    }

    #[test]
    fn a_reduced_picture_keeps_its_colours_and_is_cut_to_fit_no_smaller() {
        assert_eq!(reduction_for((1280, 720), (1280, 720)), 1);
        assert_eq!(reduction_for((1280, 720), (640, 360)), 2);
        assert_eq!(reduction_for((1280, 720), (639, 300)), 2);
        assert_eq!(reduction_for((1280, 720), (300, 170)), 4);
        assert_eq!(reduction_for((1280, 720), (10, 10)), 8);
        assert_eq!(reduction_for((1280, 720), (0, 0)), 8);
        assert_eq!(reduction_for((320, 180), (300, 170)), 1);

        // Each reduction of the test pattern looks like the full picture scaled: compare the
        // reduced picture with the full one sampled at the same places.
        let frame =
            crate::media::video::TestPattern::new(1280, 720).frame(std::time::SystemTime::now());
        let full = frame.to_rgba();
        for step in [2, 4, 8] {
            let (w, h) = (1280 / step, 720 / step);
            let mut out = vec![0u8; w * h * 4];
            i420_to_rgba_reduced(
                step,
                (1280, 720),
                (frame.y(), frame.u(), frame.v()),
                (1280, 640, 640),
                &mut out,
            );
            let mut worst = 0;
            let mut total = 0u64;
            for row in 0..h {
                for col in 0..w {
                    let reduced = &out[(row * w + col) * 4..][..3];
                    let original = &full.pixels[((row * step) * 1280 + col * step) * 4..][..3];
                    for (a, b) in reduced.iter().zip(original) {
                        let diff = a.abs_diff(*b);
                        worst = worst.max(diff);
                        total += u64::from(diff);
                    }
                    assert_eq!(out[(row * w + col) * 4 + 3], 255);
                }
            }
            let mean = total as f64 / (w * h * 3) as f64;
            assert!(mean < 4.0, "step {step}: mean difference {mean}");
            assert!(worst < 160, "step {step}: worst difference {worst}");
        }
    }

    #[test]
    fn black_is_black_and_planes_have_their_sizes() {
        let f = I420Frame::black(641, 361);
        assert_eq!((f.width(), f.height()), (640, 360));
        assert_eq!(f.y().len(), 640 * 360);
        assert_eq!(f.u().len(), 320 * 180);
        assert_eq!(f.v().len(), 320 * 180);
        let rgba = f.to_rgba();
        assert_eq!(&rgba.pixels[..4], &[0, 0, 0, 255]);
    }

    #[test]
    fn psnr_is_infinite_for_equal_frames_and_drops_with_noise() {
        let a = I420Frame::black(64, 64);
        assert_eq!(a.psnr_y(&a), Some(f64::INFINITY));
        let mut b = a.clone();
        for (i, p) in b.planes_mut().0.iter_mut().enumerate() {
            *p += (i % 5) as u8;
        }
        let psnr = b.psnr_y(&a).unwrap();
        assert!((35.0..45.0).contains(&psnr), "{psnr}");
        assert_eq!(a.psnr_y(&I420Frame::black(32, 32)), None);
    }

    #[test]
    fn the_half_size_preview_converts_each_blocks_mean_luma_with_its_chroma() {
        let mut f = I420Frame::black(8, 4);
        let (y, u, v) = f.planes_mut();
        for (i, p) in y.iter_mut().enumerate() {
            *p = 16 + (i * 7 % 200) as u8;
        }
        u.iter_mut()
            .enumerate()
            .for_each(|(i, p)| *p = 90 + i as u8 * 9);
        v.iter_mut()
            .enumerate()
            .for_each(|(i, p)| *p = 200 - i as u8 * 11);
        let half = i420_to_rgba_half(&f);
        assert_eq!((half.width, half.height), (4, 2));
        for row in 0..2 {
            for col in 0..4 {
                // The full-size conversion of a 2x2 picture of that block's mean luma and
                // the chroma sample it shares.
                let at = |r: usize, c: usize| u32::from(f.y()[(row * 2 + r) * 8 + col * 2 + c]);
                let mean = ((at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1) + 2) / 4) as u8;
                let chroma = row * 4 + col;
                let block = I420Frame::from_planes(
                    (2, 2),
                    (&[mean; 4], &[f.u()[chroma]], &[f.v()[chroma]]),
                    (2, 1, 1),
                );
                let expected = block.to_rgba();
                let h = &half.pixels[(row * 4 + col) * 4..][..4];
                assert_eq!(h, &expected.pixels[..4], "at {col},{row}");
            }
        }
    }

    #[test]
    fn white_and_primaries_convert_to_rgb() {
        let mut f = I420Frame::black(2, 2);
        let (y, u, v) = f.planes_mut();
        y.fill(235);
        u.fill(128);
        v.fill(128);
        assert_eq!(&f.to_rgba().pixels[..4], &[255, 255, 255, 255]);
        // BT.601 red: Y 81, U 90, V 240.
        let (y, u, v) = f.planes_mut();
        y.fill(81);
        u.fill(90);
        v.fill(240);
        let px = &f.to_rgba().pixels[..3];
        assert!(px[0] > 250 && px[1] < 5 && px[2] < 5, "{px:?}");
    }
}
