//! Video: pictures, camera formats, the synthetic camera, and H.264.

pub mod camera;
pub mod convert;
pub mod decode_thread;
pub mod encode_thread;
pub mod frame;
pub mod h264;
pub mod mailbox;
pub mod pattern;
pub mod preview_thread;
pub mod screen;
pub mod share_thread;
pub mod worker;

pub use frame::{I420Frame, RgbaImage};
pub use h264::{CodecError, EncodedFrame, EncoderSettings, H264Decoder, H264Encoder};
pub use pattern::{Stripe, TestPattern, read_stripe};
