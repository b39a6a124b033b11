//! The synthetic camera: a moving picture that carries, in a stripe of black and white blocks
//! along its top, a frame counter, its capture time and a flash mark. A receiver reads the
//! stripe back from the decoded picture to count lost frames and measure glass-to-glass latency
//! without trusting anything but the pixels.
//!
//! The stripe is two rows of 80 blocks (16 pixels square at 1280 wide): 160 bits, of which 128
//! are used: magic byte, counter (32), capture time in µs since the Unix epoch (64), flags (8),
//! CRC-16 over the rest. Blocks this large survive any bitrate the encoder is allowed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::frame::I420Frame;

const BLOCKS_PER_ROW: usize = 80;
const BLOCK_ROWS: usize = 2;
const MAGIC: u8 = 0xC5;
const PAYLOAD_BITS: usize = 128;
const FLAG_FLASH: u8 = 1;
const WHITE: u8 = 235;
/// The gradient rises over 256 pixels and falls over the next 256.
const RAMP_PERIOD: usize = 512;
const BLACK: u8 = 16;

/// What the stripe says about a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe {
    pub counter: u32,
    pub captured: SystemTime,
    /// The first picture of a second (wall clock): the synthetic microphone beeps at the same
    /// instant, so a receiver can measure audio/video sync.
    pub flash: bool,
}

/// The moving picture. Each call to [`TestPattern::frame`] is the next picture.
pub struct TestPattern {
    width: usize,
    height: usize,
    counter: u32,
    last_second: Option<u64>,
    /// The gradient's values along a diagonal, long enough that any row is one slice of it,
    /// and the chroma planes, which do not move: drawing a picture is then copying (a camera
    /// stand-in must not cost more than the camera).
    ramp: Vec<u8>,
    chroma: (Vec<u8>, Vec<u8>),
}

impl TestPattern {
    /// The stripe needs at least 4 pixels a block: 320 × 32.
    pub const MIN_SIZE: (usize, usize) = (BLOCKS_PER_ROW * 4, BLOCK_ROWS * 4 * 4);

    pub fn new(width: usize, height: usize) -> Self {
        let width = width.max(Self::MIN_SIZE.0) & !1;
        let height = height.max(Self::MIN_SIZE.1) & !1;
        let ramp = (0..RAMP_PERIOD + width)
            .map(|i| {
                let ramp = i % RAMP_PERIOD;
                let ramp = if ramp < 256 { ramp } else { 511 - ramp };
                16 + (ramp * 219 / 255) as u8
            })
            .collect();
        let (cw, ch) = (width / 2, height / 2);
        let mut u = vec![0u8; cw * ch];
        let mut v = vec![0u8; cw * ch];
        for row in 0..ch {
            for col in 0..cw {
                u[row * cw + col] = 96 + ((col * 64) / cw) as u8;
                v[row * cw + col] = 96 + ((row * 64) / ch) as u8;
            }
        }
        Self {
            width,
            height,
            counter: 0,
            last_second: None,
            ramp,
            chroma: (u, v),
        }
    }

    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Draws the next picture, stamped with `captured`.
    pub fn frame(&mut self, captured: SystemTime) -> I420Frame {
        let since_epoch = captured.duration_since(UNIX_EPOCH).unwrap_or_default();
        let second = since_epoch.as_secs();
        let flash = self.last_second.is_some_and(|s| s != second);
        self.last_second = Some(second);
        let stripe = Stripe {
            counter: self.counter,
            captured,
            flash,
        };
        self.counter = self.counter.wrapping_add(1);

        let mut frame = I420Frame::black(self.width, self.height);
        frame.captured = captured;
        self.draw_scene(&mut frame, stripe.counter, flash);
        draw_stripe(&mut frame, &stripe);
        frame
    }

    fn draw_scene(&self, frame: &mut I420Frame, counter: u32, flash: bool) {
        let (w, h) = (self.width, self.height);
        let t = counter as usize;
        let (y, u, v) = frame.planes_mut();
        // A diagonal gradient that scrolls: motion everywhere, as a camera gives.
        for row in 0..h {
            let start = (row + 4 * t) % RAMP_PERIOD;
            y[row * w..(row + 1) * w].copy_from_slice(&self.ramp[start..start + w]);
        }
        u.copy_from_slice(&self.chroma.0);
        v.copy_from_slice(&self.chroma.1);
        // A square bouncing across the picture, bright and coloured.
        let side = (h / 4) & !1;
        let span_x = (w - side).max(1);
        let span_y = (h - side).max(1);
        let x = bounce(t * 12, span_x) & !1;
        let y0 = bounce(t * 7, span_y) & !1;
        let (luma, cb, cr) = if flash {
            (WHITE, 128, 128)
        } else {
            (180, 60, 200)
        };
        for row in y0..y0 + side {
            y[row * w + x..row * w + x + side].fill(luma);
        }
        for row in y0 / 2..(y0 + side) / 2 {
            u[row * w / 2 + x / 2..row * w / 2 + (x + side) / 2].fill(cb);
            v[row * w / 2 + x / 2..row * w / 2 + (x + side) / 2].fill(cr);
        }
    }
}

fn bounce(pos: usize, span: usize) -> usize {
    let p = pos % (2 * span);
    if p < span { p } else { 2 * span - p }
}

fn block_size(width: usize) -> usize {
    width / BLOCKS_PER_ROW
}

fn payload(stripe: &Stripe) -> [u8; PAYLOAD_BITS / 8] {
    let micros = stripe
        .captured
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64;
    let mut bytes = [0u8; 16];
    bytes[0] = MAGIC;
    bytes[1..5].copy_from_slice(&stripe.counter.to_be_bytes());
    bytes[5..13].copy_from_slice(&micros.to_be_bytes());
    bytes[13] = if stripe.flash { FLAG_FLASH } else { 0 };
    let crc = crc16(&bytes[..14]);
    bytes[14..].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn draw_stripe(frame: &mut I420Frame, stripe: &Stripe) {
    let w = frame.width();
    let block = block_size(w);
    let bytes = payload(stripe);
    let (y, u, v) = frame.planes_mut();
    for bit in 0..BLOCKS_PER_ROW * BLOCK_ROWS {
        // Unused bits alternate, so the stripe always looks like one.
        let on = if bit < PAYLOAD_BITS {
            bytes[bit / 8] & (0x80 >> (bit % 8)) != 0
        } else {
            bit % 2 == 0
        };
        let (bx, by) = (bit % BLOCKS_PER_ROW, bit / BLOCKS_PER_ROW);
        for row in by * block..(by + 1) * block {
            y[row * w + bx * block..row * w + (bx + 1) * block].fill(if on {
                WHITE
            } else {
                BLACK
            });
        }
        for row in by * block / 2..(by + 1) * block / 2 {
            let start = row * w / 2 + bx * block / 2;
            u[start..start + block / 2].fill(128);
            v[start..start + block / 2].fill(128);
        }
    }
}

/// Reads the stripe from a luma plane (any stride). None when there is no valid stripe: a real
/// camera, a picture too small, or blocks damaged beyond reading.
pub fn read_stripe(y: &[u8], width: usize, height: usize, stride: usize) -> Option<Stripe> {
    let block = block_size(width);
    if block < 4 || height < BLOCK_ROWS * block || stride < width {
        return None;
    }
    let mut bytes = [0u8; PAYLOAD_BITS / 8];
    for bit in 0..PAYLOAD_BITS {
        let (bx, by) = (bit % BLOCKS_PER_ROW, bit / BLOCKS_PER_ROW);
        // The middle half of the block: its edges are where a codec smears.
        let (x0, y0) = (bx * block + block / 4, by * block + block / 4);
        let mut sum = 0u32;
        let mut n = 0u32;
        for row in y0..y0 + block / 2 {
            let line = y.get(row * stride + x0..row * stride + x0 + block / 2)?;
            sum += line.iter().map(|p| u32::from(*p)).sum::<u32>();
            n += line.len() as u32;
        }
        if sum / n.max(1) > u32::from(WHITE + BLACK) / 2 {
            bytes[bit / 8] |= 0x80 >> (bit % 8);
        }
    }
    if bytes[0] != MAGIC || crc16(&bytes[..14]).to_be_bytes() != bytes[14..16] {
        return None;
    }
    let counter = u32::from_be_bytes(bytes[1..5].try_into().ok()?);
    let micros = u64::from_be_bytes(bytes[5..13].try_into().ok()?);
    Some(Stripe {
        counter,
        captured: UNIX_EPOCH + Duration::from_micros(micros),
        flash: bytes[13] & FLAG_FLASH != 0,
    })
}

/// CRC-16/CCITT-FALSE.
fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for byte in data {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn the_scene_scrolls_four_pixels_a_picture_along_the_diagonal() {
        let mut pattern = TestPattern::new(640, 360);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let first = pattern.frame(t0);
        let second = pattern.frame(t0 + Duration::from_millis(33));
        let (w, rows) = (640, 100..360);
        // Below the stripe and away from the square: the gradient's value at a point is the
        // previous picture's value four pixels further along the row.
        let luma = |f: &I420Frame, row: usize, col: usize| f.y()[row * w + col];
        let mut compared = 0;
        for row in rows.step_by(37) {
            for col in (0..600).step_by(13) {
                let (a, b) = (luma(&first, row, col + 4), luma(&second, row, col));
                if a != 180 && b != 180 {
                    assert_eq!(a, b, "row {row} col {col}");
                    compared += 1;
                }
            }
        }
        assert!(compared > 200);
        // The gradient spans black to white.
        let values = first.y()[100 * w..101 * w].iter();
        assert_eq!(values.clone().min(), Some(&16));
        assert!(values.max() >= Some(&230));
    }

    #[test]
    fn the_stripe_reads_back_exactly() {
        let mut pattern = TestPattern::new(1280, 720);
        let t0 = UNIX_EPOCH + Duration::from_micros(1_790_000_000_123_456);
        for i in 0..3u32 {
            let at = t0 + Duration::from_millis(400 * u64::from(i));
            let f = pattern.frame(at);
            let s = read_stripe(f.y(), f.width(), f.height(), f.width()).unwrap();
            assert_eq!(s.counter, i);
            assert_eq!(s.captured, at);
            // 0.123 s, 0.523 s, then 0.923 s: no second boundary crossed until...
            assert!(!s.flash);
        }
        let f = pattern.frame(t0 + Duration::from_millis(1200));
        assert!(read_stripe(f.y(), 1280, 720, 1280).unwrap().flash);
    }

    #[test]
    fn pictures_move_and_small_sizes_still_carry_a_stripe() {
        let mut pattern = TestPattern::new(16, 16);
        assert_eq!(pattern.size(), TestPattern::MIN_SIZE);
        let a = pattern.frame(SystemTime::now());
        let b = pattern.frame(SystemTime::now());
        assert_ne!(a.y(), b.y());
        assert!(read_stripe(b.y(), b.width(), b.height(), b.width()).is_some());
    }

    #[test]
    fn damaged_or_absent_stripes_read_as_none() {
        let black = I420Frame::black(1280, 720);
        assert!(read_stripe(black.y(), 1280, 720, 1280).is_none());
        let mut f = TestPattern::new(1280, 720).frame(SystemTime::now());
        // Flip one block of the counter.
        let (y, _, _) = f.planes_mut();
        for row in 0..16 {
            for px in &mut y[row * 1280 + 16 * 20..row * 1280 + 16 * 21] {
                *px = if *px > 128 { BLACK } else { WHITE };
            }
        }
        assert!(read_stripe(f.y(), 1280, 720, 1280).is_none());
        assert!(read_stripe(&[], 1280, 720, 1280).is_none());
        assert!(read_stripe(&[0; 100], 100, 1, 100).is_none());
    }
}
