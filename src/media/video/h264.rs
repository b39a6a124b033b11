//! H.264 with OpenH264: Constrained Baseline for real-time camera video (what every WebRTC
//! stack decodes), bitrate changeable between frames, keyframes on demand; decoding to I420 or
//! straight into an RGBA buffer for a texture.

use std::ffi::c_void;
use std::sync::Arc;
use std::time::SystemTime;

use openh264::OpenH264API;
use openh264::Timestamp;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, QpRange,
    RateControlMode, UsageType,
};
use openh264::formats::YUVSource;
use openh264_sys2::{
    ENCODER_OPTION_BITRATE, ENCODER_OPTION_MAX_BITRATE, SBitrateInfo, SPATIAL_LAYER_0,
    SPATIAL_LAYER_ALL,
};
use thiserror::Error;

use super::frame::{I420Frame, i420_to_rgba_fitted};
use super::pattern::{Stripe, read_stripe};

/// What the encoder may be asked for (docs/ARCHITECTURE.md, "Media": 150 kbit/s to 2.5 Mbit/s).
pub const MIN_BITRATE_BPS: u32 = 150_000;
pub const MAX_BITRATE_BPS: u32 = 2_500_000;

/// The finest quantiser the encoder may use. OpenH264's rate control otherwise spends the whole
/// target on a picture that is already good: a calm 720p scene took 1.6 Mbit/s (6.7 packets a
/// picture, 57.6 dB) where 24 gives 52 dB in 0.65 Mbit/s and 3 packets. Every packet is one
/// more to lose and resend on a lossy path; libwebrtc likewise takes H.264 at QP 24 or below as
/// quality to spare. Pictures that need more than 24 (a real camera at these rates) are unchanged.
pub const MIN_QP: u8 = 24;

/// Bits a pixel may cost at most, at the frame rate set. A small picture needs no more:
/// libwebrtc's own caps come to about this (180p 200 kbit/s, 360p 700 kbit/s, 720p 2.5 Mbit/s).
/// Without it a noisy 320x180 picture took 2.5 Mbit/s of a 2.5 Mbit/s target.
const MAX_BITS_PER_PIXEL: f32 = 0.1;

/// The most a picture of this size is given, within what the design allows.
pub fn max_bitrate_for(width: usize, height: usize, fps: f32) -> u32 {
    let bps = (width * height) as f32 * fps.max(1.0) * MAX_BITS_PER_PIXEL;
    (bps as u32).clamp(MIN_BITRATE_BPS, MAX_BITRATE_BPS)
}

#[derive(Debug, Error)]
pub enum CodecError {
    #[error("cannot start the H.264 encoder: {0}")]
    EncoderInit(String),
    #[error("H.264 encoding failed: {0}")]
    Encode(String),
    #[error("cannot start the H.264 decoder: {0}")]
    DecoderInit(String),
    /// A damaged or incomplete picture: ask the sender for a keyframe.
    #[error("H.264 picture could not be decoded: {0}")]
    Decode(String),
}

#[derive(Debug, Clone, Copy)]
pub struct EncoderSettings {
    pub bitrate_bps: u32,
    pub max_fps: f32,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        Self {
            bitrate_bps: 1_500_000,
            max_fps: 30.0,
        }
    }
}

/// What the pictures are, which decides how they are coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A camera: motion matters, and detail is traded for it.
    Camera,
    /// A shared screen: text must stay sharp. OpenH264's screen-content mode (its tools for
    /// flat areas and text, and only changed regions cost bits); resolution is kept and, when
    /// the rate is short, pictures are dropped instead (rate control skips them), at most
    /// [`SCREEN_MAX_FPS`] a second; and a finer quantiser is allowed than a camera's.
    Screen,
}

/// A shared screen's most pictures a second: text needs detail more than motion.
pub const SCREEN_MAX_FPS: f32 = 15.0;

/// A shared screen's finest quantiser: small text blurs at the camera's [`MIN_QP`], and a
/// screen at rest costs nothing once sent, whatever its quality.
pub const SCREEN_MIN_QP: u8 = 16;

/// Which of our layers a picture is. A mesh peer gets the full one; an SFU both (simulcast),
/// and forwards each receiver the one its tile needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Full,
    /// A quarter of the width and height.
    Quarter,
}

impl Layer {
    /// The RTP stream id it is sent under (RFC 8852), highest first as the SDP lists them.
    pub fn rid(self) -> &'static str {
        match self {
            Self::Full => "f",
            Self::Quarter => "q",
        }
    }
}

/// One encoded picture: an Annex B access unit, shared by every peer it is sent to.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    pub data: Arc<[u8]>,
    pub layer: Layer,
    pub keyframe: bool,
    pub width: usize,
    pub height: usize,
    pub captured: SystemTime,
}

pub struct H264Encoder {
    encoder: Encoder,
    settings: EncoderSettings,
    /// The rate the encoder runs at; `settings.bitrate_bps` is what was asked for.
    applied_bps: Option<u32>,
    /// The rate it was set up with (at its first picture, whatever was asked since).
    initial_bps: u32,
    /// The most the size of the pictures lately encoded is given ([`max_bitrate_for`]).
    size_cap_bps: u32,
    keyframe_wanted: bool,
    /// The first picture's capture time, and the last timestamp given to the encoder.
    first_captured: Option<SystemTime>,
    last_ms: Option<u64>,
}

impl H264Encoder {
    /// An encoder for a camera's pictures.
    pub fn new(settings: EncoderSettings) -> Result<Self, CodecError> {
        Self::for_content(settings, Content::Camera)
    }

    /// An encoder for `content`: a camera's pictures or a shared screen's.
    pub fn for_content(settings: EncoderSettings, content: Content) -> Result<Self, CodecError> {
        let bitrate = settings.bitrate_bps.clamp(MIN_BITRATE_BPS, MAX_BITRATE_BPS);
        let (usage, min_qp, settings) = match content {
            Content::Camera => (UsageType::CameraVideoRealTime, MIN_QP, settings),
            Content::Screen => (
                UsageType::ScreenContentRealTime,
                SCREEN_MIN_QP,
                EncoderSettings {
                    max_fps: settings.max_fps.min(SCREEN_MAX_FPS),
                    ..settings
                },
            ),
        };
        let config = EncoderConfig::new()
            .usage_type(usage)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bitrate))
            // Without it OpenH264 assumes 1 fps and its rate control goes wrong.
            .max_frame_rate(FrameRate::from_hz(settings.max_fps))
            // Keyframes only when asked (a peer joins, a PLI): periodic ones waste bandwidth.
            .intra_frame_period(IntraFramePeriod::from_num_frames(0))
            // Skipping is how OpenH264 keeps to a low rate after a burst; the receiver copes.
            .skip_frames(true)
            // One thread: the call already runs a thread per stage.
            .num_threads(1)
            // Scene-change keyframes are large bursts a congested path pays for; keyframes come
            // when a receiver asks. OpenH264's screen mode wants its detection on (it finds
            // what changed on a screen with it, and warns without it).
            .scene_change_detect(content == Content::Screen)
            // Neither is available in screen mode (OpenH264 turns them off, with a warning).
            .adaptive_quantization(content == Content::Camera)
            .background_detection(content == Content::Camera)
            .complexity(Complexity::Low)
            .qp(QpRange::new(min_qp, 51));
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| CodecError::EncoderInit(e.to_string()))?;
        Ok(Self {
            encoder,
            settings: EncoderSettings {
                bitrate_bps: bitrate,
                ..settings
            },
            applied_bps: None,
            initial_bps: bitrate,
            size_cap_bps: MAX_BITRATE_BPS,
            keyframe_wanted: false,
            first_captured: None,
            last_ms: None,
        })
    }

    /// The target bitrate from the next picture on, kept within what the design allows.
    pub fn set_bitrate(&mut self, bps: u32) {
        self.settings.bitrate_bps = bps.clamp(MIN_BITRATE_BPS, MAX_BITRATE_BPS);
    }

    pub fn bitrate(&self) -> u32 {
        self.settings.bitrate_bps
    }

    /// The next picture will be a keyframe (IDR).
    pub fn request_keyframe(&mut self) {
        self.keyframe_wanted = true;
    }

    /// Encodes one picture. None when rate control skipped it.
    pub fn encode(&mut self, frame: &I420Frame) -> Result<Option<EncodedFrame>, CodecError> {
        // Rate control paces by the pictures' own capture times (not the clock at encoding),
        // so a picture that waited is not mistaken for a slower camera.
        let first = *self.first_captured.get_or_insert(frame.captured);
        let mut ms = frame
            .captured
            .duration_since(first)
            .unwrap_or_default()
            .as_millis() as u64;
        if let Some(last) = self.last_ms
            && ms <= last
        {
            ms = last + 1;
        }
        self.last_ms = Some(ms);
        self.size_cap_bps = max_bitrate_for(frame.width(), frame.height(), self.settings.max_fps);
        if self.applied_bps.is_some() {
            self.apply_bitrate();
        }
        let forced = std::mem::take(&mut self.keyframe_wanted);
        if forced {
            self.encoder.force_intra_frame();
        }
        let at = Timestamp::from_millis(ms);
        let stream = self
            .encoder
            .encode_at(frame, at)
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        let frame_type = stream.frame_type();
        let data = stream.to_vec();
        // The encoder is set up by its first picture, at the rate it was made with; only then
        // does a rate change apply (one asked before it included).
        if self.applied_bps.is_none() {
            self.applied_bps = Some(self.initial_bps);
            self.apply_bitrate();
        }
        if matches!(frame_type, FrameType::Skip) || data.is_empty() {
            // Rate control may skip the very picture a keyframe was forced on: the request
            // stands for the next one (a receiver waiting on it, an SFU's new subscriber,
            // would otherwise wait for a request that may never come again).
            self.keyframe_wanted |= forced;
            return Ok(None);
        }
        Ok(Some(EncodedFrame {
            data: data.into(),
            layer: Layer::Full,
            keyframe: matches!(frame_type, FrameType::IDR | FrameType::I),
            width: frame.width(),
            height: frame.height(),
            captured: frame.captured,
        }))
    }

    fn apply_bitrate(&mut self) {
        let want = self.settings.bitrate_bps.min(self.size_cap_bps);
        let Some(had) = self.applied_bps else { return };
        if want == had {
            return;
        }
        let bps = i32::try_from(want).unwrap_or(i32::MAX);
        let mut max = SBitrateInfo {
            iLayer: SPATIAL_LAYER_0,
            iBitrate: bps,
        };
        let mut target = SBitrateInfo {
            iLayer: SPATIAL_LAYER_ALL,
            iBitrate: bps,
        };
        let max_ptr = (&raw mut max).cast::<c_void>();
        let target_ptr = (&raw mut target).cast::<c_void>();
        let steps = if want > had {
            [
                (ENCODER_OPTION_MAX_BITRATE, max_ptr),
                (ENCODER_OPTION_BITRATE, target_ptr),
            ]
        } else {
            [
                (ENCODER_OPTION_BITRATE, target_ptr),
                (ENCODER_OPTION_MAX_BITRATE, max_ptr),
            ]
        };
        // SAFETY: the encoder is initialised (a picture went through it), and both pointers are
        // to live SBitrateInfo values, which is what these two options read. OpenH264 refuses a
        // target above the layer's maximum, hence the order.
        let ok = steps.iter().all(|(option, value)| unsafe {
            self.encoder.raw_api().set_option(*option, *value) == 0
        });
        if ok {
            self.applied_bps = Some(want);
        } else {
            tracing::warn!(bps = want, "the H.264 encoder refused a bitrate change");
            self.settings.bitrate_bps = had;
        }
    }
}

pub struct H264Decoder {
    decoder: Decoder,
}

/// A decoded picture's size, and the synthetic camera's stripe if it carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub width: usize,
    pub height: usize,
    pub stripe: Option<Stripe>,
    /// The size it was converted to (`decode_rgba`; fitting may make it smaller), (0, 0) when
    /// it was not converted.
    pub converted: (usize, usize),
}

impl H264Decoder {
    pub fn new() -> Result<Self, CodecError> {
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())
            .map_err(|e| CodecError::DecoderInit(e.to_string()))?;
        Ok(Self { decoder })
    }

    /// Decodes one access unit to I420. Ok(None): no picture yet (parameter sets only).
    pub fn decode(&mut self, access_unit: &[u8]) -> Result<Option<I420Frame>, CodecError> {
        let decoded = self
            .decoder
            .decode(access_unit)
            .map_err(|e| CodecError::Decode(e.to_string()))?;
        Ok(decoded.map(|yuv| {
            I420Frame::from_planes(yuv.dimensions(), (yuv.y(), yuv.u(), yuv.v()), yuv.strides())
        }))
    }

    /// Decodes one access unit without converting it (nobody will look at it: a headless
    /// participant still needs its size and stripe).
    pub fn decode_info(&mut self, access_unit: &[u8]) -> Result<Option<Decoded>, CodecError> {
        let decoded = self
            .decoder
            .decode(access_unit)
            .map_err(|e| CodecError::Decode(e.to_string()))?;
        Ok(decoded.map(|yuv| {
            let (width, height) = yuv.dimensions();
            Decoded {
                width,
                height,
                stripe: read_stripe(yuv.y(), width, height, yuv.strides().0),
                converted: (0, 0),
            }
        }))
    }

    /// Decodes one access unit straight into `rgba` (resized to fit): the one copy between the
    /// decoder and a texture. With `fit`, a picture larger than that is converted reduced
    /// (`reduction_for`): a tile's texture need not hold more than twice its pixels.
    pub fn decode_rgba(
        &mut self,
        access_unit: &[u8],
        rgba: &mut Vec<u8>,
        fit: Option<(usize, usize)>,
    ) -> Result<Option<Decoded>, CodecError> {
        let decoded = self
            .decoder
            .decode(access_unit)
            .map_err(|e| CodecError::Decode(e.to_string()))?;
        let Some(yuv) = decoded else { return Ok(None) };
        let (width, height) = yuv.dimensions();
        let stripe = read_stripe(yuv.y(), width, height, yuv.strides().0);
        let converted = i420_to_rgba_fitted(
            (width, height),
            (yuv.y(), yuv.u(), yuv.v()),
            yuv.strides(),
            fit,
            rgba,
        );
        Ok(Some(Decoded {
            width,
            height,
            stripe,
            converted,
        }))
    }
}
