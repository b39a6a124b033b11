//! The video encode thread: takes the newest picture from the camera's mailbox, encodes it, and
//! hands the access unit to the network side through a bounded queue (full: the picture is
//! dropped and counted, and the next one is a keyframe; the encoder never blocks on the
//! network). Bitrate and keyframe requests
//! arrive through atomics, so the call never waits for the encoder either.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::frame::RgbaImage;
use super::h264::{
    CodecError, Content, EncodedFrame, EncoderSettings, H264Encoder, Layer, max_bitrate_for,
};
use super::mailbox::{FrameReceiver, Sender};
use super::preview_thread::Preview;

/// How the call steers the encoder, and what it reports.
#[derive(Debug, Default)]
pub struct EncoderControl {
    bitrate_bps: AtomicU32,
    keyframe: AtomicBool,
    /// A quarter-size layer too (someone takes simulcast).
    simulcast: AtomicBool,
    stop: AtomicBool,
    pub encoded: AtomicU64,
    pub skipped: AtomicU64,
    /// Encoded pictures the network side had no room for.
    pub dropped: AtomicU64,
}

impl EncoderControl {
    pub fn set_bitrate(&self, bps: u32) {
        self.bitrate_bps.store(bps, Relaxed);
    }

    pub fn request_keyframe(&self) {
        self.keyframe.store(true, Relaxed);
    }

    /// Whether to encode the quarter-size layer too. The bitrate set is then shared: the small
    /// layer gets what its size needs, at most a quarter.
    pub fn set_simulcast(&self, on: bool) {
        self.simulcast.store(on, Relaxed);
    }
}

/// Pictures narrower than this have no small layer (a quarter of them would be too small to
/// be worth a stream).
const SIMULCAST_MIN_WIDTH: usize = 640;

/// Below this the full layer is not worth sending beside the small one: the path carries the
/// small one alone, and the SFU falls back to it for everyone (Janus does within 250 ms).
const FULL_LAYER_MIN_BPS: u32 = 300_000;

/// The bitrate `total` split between the full layer and the quarter one (when there is one);
/// a full layer of 0 is paused.
fn split_bitrate(total: u32, width: usize, height: usize, fps: f32) -> (u32, u32) {
    let small_needs = max_bitrate_for(width / 4, height / 4, fps);
    let small = small_needs.min(total / 4);
    if total - small < FULL_LAYER_MIN_BPS {
        return (0, small_needs.min(total));
    }
    (total - small, small)
}

/// Pictures not worth handing to a screen encoder: while what it made lately is over its rate
/// (a leaky bucket of a second's bytes), the picture is dropped before the encoder sees it.
/// OpenH264's screen mode analyses a picture (hashing it for its scroll and motion search)
/// before its rate control decides to skip it; a 1080p page scrolling had it skip half of
/// the pictures it was given, each analysed for nothing (benches/share.sh, under perf).
#[derive(Debug, Default)]
struct FrameDropper {
    /// Bytes the rate still allows (negative: owed), and when that was last brought up.
    allowance: f64,
    at: Option<std::time::Instant>,
}

impl FrameDropper {
    /// Whether the next picture may go to the encoder, at `bps`, now.
    fn admits(&mut self, now: std::time::Instant, bps: u32) -> bool {
        let second = f64::from(bps) / 8.0;
        if let Some(at) = self.at {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            self.allowance = (self.allowance + elapsed * second).min(second);
        }
        self.at = Some(now);
        self.allowance >= 0.0
    }

    /// The encoder made `bytes` of the picture admitted.
    fn spent(&mut self, bytes: usize) {
        self.allowance -= bytes as f64;
    }
}

pub struct EncodeThread {
    control: Arc<EncoderControl>,
    thread: Option<JoinHandle<()>>,
}

impl EncodeThread {
    /// `preview`: where a half-size copy of the camera goes for the self view, 15 times a second
    /// (a window); None when nobody looks (headless).
    pub fn start(
        pictures: FrameReceiver,
        settings: EncoderSettings,
        out: SyncSender<EncodedFrame>,
        preview: Option<Sender<RgbaImage>>,
    ) -> Result<Self, CodecError> {
        Self::start_for(pictures, settings, Content::Camera, out, preview)
    }

    /// An encode thread for `content`: a camera's, or a shared screen's (text kept sharp, the
    /// rate lowered before the resolution).
    pub fn start_for(
        pictures: FrameReceiver,
        settings: EncoderSettings,
        content: Content,
        out: SyncSender<EncodedFrame>,
        preview: Option<Sender<RgbaImage>>,
    ) -> Result<Self, CodecError> {
        let mut encoder = H264Encoder::for_content(settings, content)?;
        let control = Arc::new(EncoderControl::default());
        control.set_bitrate(settings.bitrate_bps);
        let shared = control.clone();
        let thread = std::thread::Builder::new()
            .name("video-encode".into())
            .spawn(move || {
                let mut preview = preview.map(Preview::new);
                let mut small: Option<H264Encoder> = None;
                let mut full_paused = false;
                let mut dropper = FrameDropper::default();
                let mut log = EncoderLog::default();
                while !shared.stop.load(Relaxed) {
                    log.maybe_write(&shared);
                    let Some(picture) = pictures.wait(Duration::from_millis(100)) else {
                        continue;
                    };
                    log.pictures += 1;
                    if let Some(preview) = preview.as_mut() {
                        preview.offer(&picture);
                    }
                    let total = shared.bitrate_bps.load(Relaxed);
                    let keyframe = shared.keyframe.swap(false, Relaxed);
                    log.keyframes_asked += u64::from(keyframe);
                    log.bitrate = total;
                    let simulcast =
                        shared.simulcast.load(Relaxed) && picture.width() >= SIMULCAST_MIN_WIDTH;
                    let (full_bps, small_bps) = if simulcast {
                        split_bitrate(total, picture.width(), picture.height(), settings.max_fps)
                    } else {
                        (total, 0)
                    };
                    // A screen's picture over the rate is dropped unseen (a keyframe asked for
                    // waits for the next one admitted).
                    if content == Content::Screen
                        && !dropper.admits(std::time::Instant::now(), full_bps)
                    {
                        shared.keyframe.fetch_or(keyframe, Relaxed);
                        shared.skipped.fetch_add(1, Relaxed);
                        continue;
                    }
                    if full_bps > 0 {
                        encoder.set_bitrate(full_bps);
                        // Back from a pause, receivers switch up on a keyframe.
                        if keyframe || std::mem::take(&mut full_paused) {
                            encoder.request_keyframe();
                        }
                        let full = encoder.encode(&picture);
                        if let Ok(Some(unit)) = &full {
                            dropper.spent(unit.data.len());
                        }
                        send_encoded(&shared, &out, full);
                    } else {
                        full_paused = true;
                    }
                    if !simulcast {
                        small = None;
                        continue;
                    }
                    if small.is_none() {
                        // Its first picture is a keyframe anyway.
                        small = H264Encoder::for_content(settings, content)
                            .inspect_err(|e| tracing::warn!("no small layer: {e}"))
                            .ok();
                    }
                    if let Some(encoder) = small.as_mut() {
                        encoder.set_bitrate(small_bps);
                        if keyframe {
                            encoder.request_keyframe();
                        }
                        let quarter = encoder.encode(&picture.quarter()).map(|f| {
                            f.map(|f| EncodedFrame {
                                layer: Layer::Quarter,
                                ..f
                            })
                        });
                        send_encoded(&shared, &out, quarter);
                    }
                }
            })
            .map_err(|e| CodecError::EncoderInit(e.to_string()))?;
        Ok(Self {
            control,
            thread: Some(thread),
        })
    }

    pub fn control(&self) -> &Arc<EncoderControl> {
        &self.control
    }
}

/// What the encoder did, written to the debug log every few seconds: why a receiver sees
/// few pictures (rate control skipping them, a queue dropping them) is read there.
#[derive(Default)]
struct EncoderLog {
    since: Option<std::time::Instant>,
    pictures: u64,
    keyframes_asked: u64,
    bitrate: u32,
    reported: (u64, u64, u64),
}

impl EncoderLog {
    const EVERY: Duration = Duration::from_secs(5);

    fn maybe_write(&mut self, shared: &EncoderControl) {
        let now = std::time::Instant::now();
        let since = *self.since.get_or_insert(now);
        if now.duration_since(since) < Self::EVERY {
            return;
        }
        let counts = (
            shared.encoded.load(Relaxed),
            shared.skipped.load(Relaxed),
            shared.dropped.load(Relaxed),
        );
        tracing::debug!(
            "video encoder, last {:.1} s: {} pictures in, {} encoded, {} skipped by rate \
             control, {} dropped (queue full), {} keyframes asked; target {} bit/s",
            now.duration_since(since).as_secs_f64(),
            self.pictures,
            counts.0 - self.reported.0,
            counts.1 - self.reported.1,
            counts.2 - self.reported.2,
            self.keyframes_asked,
            self.bitrate,
        );
        *self = Self {
            since: Some(now),
            reported: counts,
            ..Self::default()
        };
    }
}

/// An encoder's result to the network side: a full queue drops the picture and asks for a
/// keyframe (every later picture refers to the one dropped).
fn send_encoded(
    shared: &EncoderControl,
    out: &SyncSender<EncodedFrame>,
    result: Result<Option<EncodedFrame>, CodecError>,
) {
    match result {
        Ok(Some(frame)) => {
            shared.encoded.fetch_add(1, Relaxed);
            match out.try_send(frame) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(_)) => {
                    shared.dropped.fetch_add(1, Relaxed);
                    shared.keyframe.store(true, Relaxed);
                }
            }
        }
        Ok(None) => {
            shared.skipped.fetch_add(1, Relaxed);
        }
        Err(e) => tracing::warn!("{e}"),
    }
}

impl Drop for EncodeThread {
    fn drop(&mut self) {
        self.control.stop.store(true, Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dropper_lets_pictures_through_while_the_rate_allows_and_drops_while_owed() {
        let start = std::time::Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut dropper = FrameDropper::default();
        // 80 kbit/s: 10 000 bytes a second.
        assert!(dropper.admits(at(0), 80_000));
        dropper.spent(25_000); // a keyframe, two and a half seconds' worth
        assert!(!dropper.admits(at(1000), 80_000));
        assert!(!dropper.admits(at(2000), 80_000));
        assert!(dropper.admits(at(2500), 80_000));
        dropper.spent(100);
        // A long rest saves up at most a second.
        assert!(dropper.admits(at(60_000), 80_000));
        dropper.spent(10_500);
        assert!(!dropper.admits(at(60_001), 80_000));
    }

    #[test]
    fn the_small_layer_gets_what_its_size_needs_and_a_low_rate_pauses_the_full_one() {
        // 720p at 30 fps: the quarter needs 172.8 kbit/s.
        assert_eq!(
            split_bitrate(1_000_000, 1280, 720, 30.0),
            (827_200, 172_800)
        );
        // At most a quarter of the whole goes to it.
        assert_eq!(split_bitrate(500_000, 1280, 720, 30.0), (375_000, 125_000));
        // Too little for both: the small layer alone, at what it needs.
        assert_eq!(split_bitrate(350_000, 1280, 720, 30.0), (0, 172_800));
        assert_eq!(split_bitrate(150_000, 1280, 720, 30.0), (0, 150_000));
    }
    use crate::media::video::camera::{VideoWanted, start_test_pattern};
    use crate::media::video::h264::H264Decoder;
    use crate::media::video::mailbox::frame_mailbox;
    use crate::media::video::pattern::read_stripe;

    type Encoded = std::sync::mpsc::Receiver<EncodedFrame>;

    /// The synthetic camera at `width` x `height` into an encode thread whose output queue
    /// holds `queue` pictures.
    fn pattern_encoder(
        width: u32,
        height: u32,
        queue: usize,
    ) -> (
        crate::media::video::camera::CameraHandle,
        EncodeThread,
        Encoded,
    ) {
        let (tx, rx) = frame_mailbox();
        let (events, _) = crate::media::video::camera::camera_events();
        let wanted = VideoWanted {
            width,
            height,
            fps: 30,
        };
        let camera = start_test_pattern(wanted, tx, events).unwrap();
        let (out, encoded) = std::sync::mpsc::sync_channel(queue);
        let encoder = EncodeThread::start(rx, EncoderSettings::default(), out, None).unwrap();
        (camera, encoder, encoded)
    }

    #[test]
    fn pictures_flow_from_the_synthetic_camera_through_the_encoder_thread() {
        let (camera, encoder, encoded) = pattern_encoder(640, 360, 4);
        let mut decoder = H264Decoder::new().unwrap();
        let mut counters = Vec::new();
        let mut keyframes = 0;
        while counters.len() < 20 {
            let frame = encoded.recv_timeout(Duration::from_secs(10)).unwrap();
            keyframes += usize::from(frame.keyframe);
            if counters.len() == 10 {
                encoder.control().request_keyframe();
            }
            if let Some(picture) = decoder.decode(&frame.data).unwrap() {
                let stripe = read_stripe(picture.y(), 640, 360, 640).unwrap();
                counters.push(stripe.counter);
            }
        }
        drop(camera);
        drop(encoder);
        assert!(counters.windows(2).all(|w| w[1] > w[0]), "{counters:?}");
        assert_eq!(keyframes, 2, "the first picture and the one asked for");
    }

    #[test]
    fn after_a_picture_is_dropped_on_a_full_queue_the_next_one_is_a_keyframe() {
        // Room for one picture, which nobody takes for a while: the next ones are dropped.
        let (camera, encoder, encoded) = pattern_encoder(320, 180, 1);
        let first = encoded.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(first.keyframe, "the first picture");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while encoder.control().dropped.load(Relaxed) < 3 {
            assert!(std::time::Instant::now() < deadline, "nothing dropped");
            std::thread::sleep(Duration::from_millis(5));
        }
        // The queue held one more picture, encoded before the drops; the one after them must
        // be decodable by itself.
        let _held = encoded.recv_timeout(Duration::from_secs(10)).unwrap();
        let after = encoded.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            after.keyframe,
            "the picture after the drops is not a keyframe"
        );
        drop(camera);
        drop(encoder);
    }
}
