//! One remote participant's video: a "video-decode" thread takes access units from a bounded
//! queue (full: the unit is dropped and a keyframe asked for, since what follows cannot decode),
//! decodes straight into RGBA, and leaves the newest picture in a mailbox for the screen. A
//! picture that does not decode raises the keyframe flag the network side turns into a PLI.
//! Each unit comes with how long its picture is held after decoding, so that pictures show on
//! the participant's timeline (`call::video_timing`: late enough for resends, and with the
//! sound that waited in the audio jitter buffer).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::frame::RgbaImage;
use super::h264::{CodecError, H264Decoder};
use super::mailbox::{self, Receiver as PictureReceiver, Sender as PictureSender};
use super::pattern::Stripe;

/// Access units waiting to be decoded. A picture repaired late by a resend holds back those
/// behind it, and they all come at once when it is done (at a 200 ms round trip, a resend that
/// was lost itself stalls about half a second, 15 pictures): a queue of eight overflowed then,
/// and the dropped units broke the stream until a keyframe. A second's worth is a stall's
/// burst; more means the decoder cannot keep up.
const QUEUE: usize = 32;
/// The longest a picture is held (a round trip for resends, or the sound's wait, is less).
pub const MAX_HOLD: Duration = Duration::from_millis(500);

/// A picture for the screen, with what the synthetic camera's stripe said (for latency).
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// Converted for its tile: at most the stream's size, smaller when the tile is.
    pub image: RgbaImage,
    /// The size the picture was sent at.
    pub stream_size: (usize, usize),
    pub stripe: Option<Stripe>,
    /// When it was handed to the screen (after decoding and any hold).
    pub shown_at: SystemTime,
}

#[derive(Debug, Default)]
pub struct DecodeStats {
    pub decoded: AtomicU64,
    pub errors: AtomicU64,
    /// Units dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Set when the stream is broken until the next keyframe; the network side clears it
    /// when it sends a PLI.
    pub keyframe_needed: AtomicBool,
    /// The size of the tile that shows these pictures, in pixels (`width << 32 | height`);
    /// 0 for the stream's own size.
    pub fit: AtomicU64,
}

impl DecodeStats {
    /// Pictures are shown in a tile this size (in pixels); they are converted no larger than
    /// needed to fill it.
    pub fn fit_to(&self, width: u32, height: u32) {
        self.fit
            .store(u64::from(width) << 32 | u64::from(height), Relaxed);
    }

    fn fit(&self) -> Option<(usize, usize)> {
        match self.fit.load(Relaxed) {
            0 => None,
            packed => Some(((packed >> 32) as usize, (packed & 0xffff_ffff) as usize)),
        }
    }
}

/// The network side's end: hands units to the decoder without ever waiting.
pub struct DecodeInput {
    units: SyncSender<(Arc<[u8]>, Duration)>,
    stats: Arc<DecodeStats>,
}

impl DecodeInput {
    /// A unit to decode, and how long to hold its picture once decoded.
    pub fn push(&self, access_unit: Arc<[u8]>, hold: Duration) {
        match self.units.try_send((access_unit, hold)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.stats.dropped.fetch_add(1, Relaxed);
                self.stats.keyframe_needed.store(true, Relaxed);
            }
        }
    }

    pub fn stats(&self) -> &Arc<DecodeStats> {
        &self.stats
    }
}

pub struct DecodeThread {
    thread: Option<JoinHandle<()>>,
}

impl Drop for DecodeThread {
    fn drop(&mut self) {
        // The thread ends when its input is dropped; it never blocks longer than a poll.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a decoder for one peer. Drop the `DecodeInput` first to end it. Without `to_screen`
/// pictures are decoded but not converted (their images come out empty).
pub fn start_decoder(
    to_screen: bool,
) -> Result<(DecodeInput, PictureReceiver<Picture>, DecodeThread), CodecError> {
    let mut decoder = H264Decoder::new()?;
    let (units, queue) = sync_channel::<(Arc<[u8]>, Duration)>(QUEUE);
    let (pictures, screen) = mailbox::mailbox();
    let stats = Arc::new(DecodeStats::default());
    let shared = stats.clone();
    let thread = std::thread::Builder::new()
        .name("video-decode".into())
        .spawn(move || run(&mut decoder, to_screen, &queue, &pictures, &shared))
        .map_err(|e| CodecError::DecoderInit(e.to_string()))?;
    Ok((
        DecodeInput { units, stats },
        screen,
        DecodeThread {
            thread: Some(thread),
        },
    ))
}

fn run(
    decoder: &mut H264Decoder,
    to_screen: bool,
    queue: &Receiver<(Arc<[u8]>, Duration)>,
    pictures: &PictureSender<Picture>,
    stats: &DecodeStats,
) {
    let mut rgba = Vec::new();
    let mut held: VecDeque<(Instant, Picture)> = VecDeque::new();
    loop {
        // Pictures whose hold is over go to the screen, in order.
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, picture)) = held.pop_front() {
                pictures.send(Picture {
                    shown_at: SystemTime::now(),
                    ..picture
                });
            }
        }
        let wait = held
            .front()
            .map_or(Duration::from_millis(200), |(due, _)| *due - now);
        let (unit, hold) = match queue.recv_timeout(wait) {
            Ok(unit) => unit,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let decoded = if to_screen {
            decoder.decode_rgba(&unit, &mut rgba, stats.fit())
        } else {
            decoder.decode_info(&unit)
        };
        match decoded {
            Ok(Some(decoded)) => {
                let (width, height) = decoded.converted;
                stats.decoded.fetch_add(1, Relaxed);
                let picture = Picture {
                    image: RgbaImage {
                        width,
                        height,
                        // Handed over, not copied: the next picture gets a fresh buffer.
                        pixels: std::mem::take(&mut rgba),
                    },
                    stream_size: (decoded.width, decoded.height),
                    stripe: decoded.stripe,
                    shown_at: SystemTime::now(),
                };
                held.push_back((Instant::now() + hold.min(MAX_HOLD), picture));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!("{e}");
                stats.errors.fetch_add(1, Relaxed);
                stats.keyframe_needed.store(true, Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::video::{EncoderSettings, H264Encoder, TestPattern};

    #[test]
    fn pictures_come_out_with_their_stripes_and_damage_asks_for_a_keyframe() {
        let (input, screen, thread) = start_decoder(true).unwrap();
        let mut pattern = TestPattern::new(640, 360);
        let mut encoder = H264Encoder::new(EncoderSettings::default()).unwrap();
        let first = encoder
            .encode(&pattern.frame(SystemTime::now()))
            .unwrap()
            .unwrap();
        input.push(first.data, Duration::ZERO);
        let picture = screen.wait(Duration::from_secs(10)).expect("a picture");
        assert_eq!((picture.image.width, picture.image.height), (640, 360));
        assert_eq!(picture.image.pixels.len(), 640 * 360 * 4);
        assert_eq!(picture.stripe.map(|s| s.counter), Some(0));
        assert_eq!(picture.stream_size, (640, 360));
        assert!(!input.stats().keyframe_needed.load(Relaxed));

        // Shown in a small tile: converted at a quarter size, the stream's size still known.
        input.stats().fit_to(160, 90);
        encoder.request_keyframe();
        let key = encoder
            .encode(&pattern.frame(SystemTime::now()))
            .unwrap()
            .unwrap();
        input.push(key.data, Duration::ZERO);
        let picture = screen.wait(Duration::from_secs(10)).expect("a picture");
        assert_eq!((picture.image.width, picture.image.height), (160, 90));
        assert_eq!(picture.image.pixels.len(), 160 * 90 * 4);
        assert_eq!(picture.stream_size, (640, 360));
        assert_eq!(picture.stripe.map(|s| s.counter), Some(1));

        input.push(
            Arc::from(&b"\x00\x00\x00\x01\x41broken slice"[..]),
            Duration::ZERO,
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !input.stats().keyframe_needed.load(Relaxed) {
            assert!(std::time::Instant::now() < deadline, "no keyframe request");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(input);
        drop(thread);
    }

    #[test]
    fn the_burst_after_a_resend_stall_is_decoded_whole() {
        let (input, _screen, thread) = start_decoder(true).unwrap();
        let mut pattern = TestPattern::new(1280, 720);
        let mut encoder = H264Encoder::new(EncoderSettings::default()).unwrap();
        let units: Vec<_> = (0..15)
            .filter_map(|_| encoder.encode(&pattern.frame(SystemTime::now())).unwrap())
            .collect();
        // Half a second of pictures, handed over at once as str0m does after a stall.
        for unit in &units {
            input.push(unit.data.clone(), Duration::ZERO);
        }
        // Decoded, or dropped for want of room.
        let stats = input.stats().clone();
        let handled = || stats.decoded.load(Relaxed) + stats.dropped.load(Relaxed);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while handled() < units.len() as u64 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        // The thread ends when its input goes: before any assertion can unwind past it.
        drop(input);
        drop(thread);
        assert_eq!(stats.dropped.load(Relaxed), 0);
        assert_eq!(stats.decoded.load(Relaxed), units.len() as u64);
        assert!(!stats.keyframe_needed.load(Relaxed));
    }

    #[test]
    fn a_held_picture_is_not_shown_before_its_hold_is_over() {
        let (input, screen, thread) = start_decoder(false).unwrap();
        let mut pattern = TestPattern::new(640, 360);
        let mut encoder = H264Encoder::new(EncoderSettings::default()).unwrap();
        let unit = encoder
            .encode(&pattern.frame(SystemTime::now()))
            .unwrap()
            .unwrap();
        let pushed = SystemTime::now();
        input.push(unit.data, Duration::from_millis(150));
        let picture = screen.wait(Duration::from_secs(10)).expect("a picture");
        let waited = picture.shown_at.duration_since(pushed).unwrap_or_default();
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert_eq!(input.stats().decoded.load(Relaxed), 1);
        drop(input);
        drop(thread);
    }
}
