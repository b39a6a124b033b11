//! Camera pixel formats straight to I420, the encoder's input: no RGB step in between (RGB is
//! only made for the local preview). Screens come as RGB (`bgrx_to_i420`).

use thiserror::Error;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::frame::{I420Frame, clamp_u8};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConvertError {
    #[error(
        "the camera sent {got} bytes for a {width}x{height} {format} picture (expected {want})"
    )]
    ShortFrame {
        format: &'static str,
        width: usize,
        height: usize,
        got: usize,
        want: usize,
    },
    #[error("the camera sent a broken JPEG picture: {0}")]
    Jpeg(String),
    #[error("the camera's {0} format is not supported")]
    Unsupported(String),
}

fn check_len(
    format: &'static str,
    (width, height): (usize, usize),
    got: usize,
    want: usize,
) -> Result<(), ConvertError> {
    if got < want {
        return Err(ConvertError::ShortFrame {
            format,
            width,
            height,
            got,
            want,
        });
    }
    Ok(())
}

/// Packed 4:2:2 (Y0 U Y1 V), what most webcams send uncompressed. Chroma rows are averaged in
/// pairs to get 4:2:0.
pub fn yuyv_to_i420(data: &[u8], width: usize, height: usize) -> Result<I420Frame, ConvertError> {
    check_len("YUYV", (width, height), data.len(), width * height * 2)?;
    let mut frame = I420Frame::black(width, height);
    let (w, h) = (frame.width(), frame.height());
    let stride = width * 2;
    let (y, u, v) = frame.planes_mut();
    for row in 0..h {
        let line = &data[row * stride..row * stride + w * 2];
        for (col, px) in line.chunks_exact(2).enumerate() {
            y[row * w + col] = px[0];
        }
    }
    for row in 0..h / 2 {
        let top = &data[2 * row * stride..];
        let bottom = &data[(2 * row + 1) * stride..];
        for col in 0..w / 2 {
            let i = col * 4;
            u[row * w / 2 + col] = avg(top[i + 1], bottom[i + 1]);
            v[row * w / 2 + col] = avg(top[i + 3], bottom[i + 3]);
        }
    }
    Ok(frame)
}

/// Y plane then interleaved UV at quarter size (what many USB and built-in cameras offer).
pub fn nv12_to_i420(data: &[u8], width: usize, height: usize) -> Result<I420Frame, ConvertError> {
    check_len("NV12", (width, height), data.len(), width * height * 3 / 2)?;
    let mut frame = I420Frame::black(width, height);
    let (w, h) = (frame.width(), frame.height());
    let (y, u, v) = frame.planes_mut();
    for row in 0..h {
        y[row * w..(row + 1) * w].copy_from_slice(&data[row * width..row * width + w]);
    }
    let uv = &data[width * height..];
    for row in 0..h / 2 {
        for col in 0..w / 2 {
            let i = row * width + col * 2;
            u[row * w / 2 + col] = uv[i];
            v[row * w / 2 + col] = uv[i + 1];
        }
    }
    Ok(frame)
}

/// Motion JPEG, decoded to YCbCr (never RGB), squeezed from JPEG's full range to video range
/// and from 4:4:4 to 4:2:0.
pub fn mjpeg_to_i420(data: &[u8]) -> Result<I420Frame, ConvertError> {
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::YCbCr);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
    decoder
        .decode_headers()
        .map_err(|e| ConvertError::Jpeg(e.to_string()))?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| ConvertError::Jpeg("no picture size".into()))?;
    let ycc = decoder
        .decode()
        .map_err(|e| ConvertError::Jpeg(e.to_string()))?;
    check_len("JPEG", (width, height), ycc.len(), width * height * 3)?;
    let mut frame = I420Frame::black(width, height);
    let (w, h) = (frame.width(), frame.height());
    let (y, u, v) = frame.planes_mut();
    for row in 0..h {
        let line = &ycc[row * width * 3..];
        for col in 0..w {
            y[row * w + col] = full_to_video_luma(line[col * 3]);
        }
    }
    for row in 0..h / 2 {
        let top = &ycc[2 * row * width * 3..];
        let bottom = &ycc[(2 * row + 1) * width * 3..];
        for col in 0..w / 2 {
            let i = col * 6;
            let cb = u16::from(top[i + 1])
                + u16::from(top[i + 4])
                + u16::from(bottom[i + 1])
                + u16::from(bottom[i + 4]);
            let cr = u16::from(top[i + 2])
                + u16::from(top[i + 5])
                + u16::from(bottom[i + 2])
                + u16::from(bottom[i + 5]);
            u[row * w / 2 + col] = full_to_video_chroma(((cb + 2) / 4) as u8);
            v[row * w / 2 + col] = full_to_video_chroma(((cr + 2) / 4) as u8);
        }
    }
    Ok(frame)
}

/// 32-bit pixels, blue, green, red and an unused byte (how X11 and Windows hold a 24-bit
/// screen), rows `stride` bytes apart, to BT.601 limited range. Chroma is the mean of each 2x2
/// block's colour: a screen's sharp edges keep their luma, as they would with any 4:2:0.
pub fn bgrx_to_i420(
    data: &[u8],
    width: usize,
    height: usize,
    stride: usize,
) -> Result<I420Frame, ConvertError> {
    let want = if height == 0 {
        0
    } else {
        stride * (height - 1) + width * 4
    };
    check_len("BGRX", (width, height), data.len(), want)?;
    if stride < width * 4 {
        return Err(ConvertError::Unsupported(format!(
            "BGRX rows {stride} bytes apart for {width} pixels"
        )));
    }
    let mut frame = I420Frame::black(width, height);
    let w = frame.width();
    let (y, u, v) = frame.planes_mut();
    // One pass over each pair of rows: both rows' luma and their 2x2 blocks' chroma, with no
    // index checks in the loop (a 1080p screen is converted up to 15 times a second).
    let rows = y
        .chunks_exact_mut(2 * w)
        .zip(u.chunks_exact_mut(w / 2))
        .zip(v.chunks_exact_mut(w / 2));
    for (pair, ((ys, us), vs)) in rows.enumerate() {
        let top = &data[2 * pair * stride..][..w * 4];
        let bottom = &data[(2 * pair + 1) * stride..][..w * 4];
        let (y_top, y_bottom) = ys.split_at_mut(w);
        let blocks = top
            .chunks_exact(8)
            .zip(bottom.chunks_exact(8))
            .zip(y_top.chunks_exact_mut(2).zip(y_bottom.chunks_exact_mut(2)))
            .zip(us.iter_mut().zip(vs.iter_mut()));
        for (((t, b), (yt, yb)), (cu, cv)) in blocks {
            let px =
                |p: &[u8], i: usize| (i32::from(p[i + 2]), i32::from(p[i + 1]), i32::from(p[i]));
            let (r0, g0, b0) = px(t, 0);
            let (r1, g1, b1) = px(t, 4);
            let (r2, g2, b2) = px(b, 0);
            let (r3, g3, b3) = px(b, 4);
            yt[0] = luma(r0, g0, b0);
            yt[1] = luma(r1, g1, b1);
            yb[0] = luma(r2, g2, b2);
            yb[1] = luma(r3, g3, b3);
            let (r, g, b) = (r0 + r1 + r2 + r3, g0 + g1 + g2 + g3, b0 + b1 + b2 + b3);
            // The sums are four pixels': the coefficients' scale takes the mean.
            *cu = clamp_u8(((-38 * r - 74 * g + 112 * b + 512) >> 10) + 128);
            *cv = clamp_u8(((112 * r - 94 * g - 18 * b + 512) >> 10) + 128);
        }
    }
    Ok(frame)
}

/// BT.601 limited-range luma of one RGB pixel (coefficients in 8.8 fixed point).
fn luma(r: i32, g: i32, b: i32) -> u8 {
    clamp_u8(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16)
}

fn avg(a: u8, b: u8) -> u8 {
    (u16::from(a) + u16::from(b)).div_ceil(2) as u8
}

fn full_to_video_luma(v: u8) -> u8 {
    clamp_u8(16 + (i32::from(v) * 219 + 127) / 255)
}

fn full_to_video_chroma(v: u8) -> u8 {
    clamp_u8(128 + ((i32::from(v) - 128) * 224 + 127).div_euclid(255))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bgrx_is_bt601_limited_range_with_chroma_of_each_block() {
        // 4x2 with rows 20 bytes apart (a padded stride): a red block, then white over black.
        let (red, white, black) = ([0, 0, 255, 0], [255, 255, 255, 0], [0, 0, 0, 0]);
        let mut data = Vec::new();
        for row in [[red, red, white, white], [red, red, black, black]] {
            for px in row {
                data.extend_from_slice(&px);
            }
            data.extend_from_slice(&[9; 4]);
        }
        let f = bgrx_to_i420(&data, 4, 2, 20).unwrap();
        assert_eq!(f.y(), &[82, 82, 235, 235, 82, 82, 16, 16]);
        assert_eq!(f.u(), &[90, 128]);
        assert_eq!(f.v(), &[240, 128]);
        // Too short for its stride: an error, not a panic.
        assert!(bgrx_to_i420(&data[..30], 4, 2, 20).is_err());
    }

    #[test]
    fn yuyv_keeps_luma_and_averages_chroma_rows() {
        // 2x2: Y 10 20 / 30 40, U 100 then 110, V 200 then 210.
        let data = [10, 100, 20, 200, 30, 110, 40, 210];
        let f = yuyv_to_i420(&data, 2, 2).unwrap();
        assert_eq!(f.y(), &[10, 20, 30, 40]);
        assert_eq!(f.u(), &[105]);
        assert_eq!(f.v(), &[205]);
    }

    #[test]
    fn nv12_splits_the_chroma_plane() {
        let data = [1, 2, 3, 4, 50, 60];
        let f = nv12_to_i420(&data, 2, 2).unwrap();
        assert_eq!(f.y(), &[1, 2, 3, 4]);
        assert_eq!((f.u(), f.v()), (&[50u8][..], &[60u8][..]));
    }

    #[test]
    fn screen_pixels_become_video_range_yuv() {
        // 2x2 of pure red, then 2x2 of white, in rows padded to 20 bytes.
        let red = [0, 0, 255, 0];
        let white = [255, 255, 255, 0];
        let mut data = Vec::new();
        for _ in 0..2 {
            data.extend_from_slice(&[red, red, white, white].concat());
            data.extend_from_slice(&[9; 4]); // padding, never read
        }
        let f = bgrx_to_i420(&data, 4, 2, 20).unwrap();
        assert_eq!(f.y(), &[82, 82, 235, 235, 82, 82, 235, 235]);
        assert_eq!(f.u(), &[90, 128]);
        assert_eq!(f.v(), &[240, 128]);
        let e = bgrx_to_i420(&data[..30], 4, 2, 20).unwrap_err();
        assert!(e.to_string().contains("4x2 BGRX"), "{e}");
        assert!(bgrx_to_i420(&data, 4, 2, 8).is_err());
    }

    #[test]
    fn short_frames_are_an_error_not_a_panic() {
        let e = yuyv_to_i420(&[0; 10], 640, 480).unwrap_err();
        assert!(e.to_string().contains("640x480 YUYV"), "{e}");
        assert!(nv12_to_i420(&[], 2, 2).is_err());
        assert!(matches!(
            mjpeg_to_i420(b"not a jpeg"),
            Err(ConvertError::Jpeg(_))
        ));
        assert!(mjpeg_to_i420(&[]).is_err());
    }

    #[test]
    fn full_range_maps_onto_video_range() {
        assert_eq!(full_to_video_luma(0), 16);
        assert_eq!(full_to_video_luma(255), 235);
        assert_eq!(full_to_video_chroma(128), 128);
        assert_eq!(full_to_video_chroma(255), 240);
        assert_eq!(full_to_video_chroma(0), 16);
    }
}
