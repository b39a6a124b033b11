//! Microphone and speaker streams (cpal). The device callbacks only move samples between the
//! device and lock-free rings: no allocation, lock, log or blocking call in them (the test
//! `tests/realtime_callbacks.rs` runs them under an allocation guard). Everything else
//! (resampling, processing, codecs) happens on the audio threads at the rings' other ends.
//!
//! A device that goes away marks its stream lost; the owner rebuilds it off the audio thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SampleFormat};
use ringbuf::traits::{Consumer, Producer};
use ringbuf::{HeapCons, HeapProd};
use thiserror::Error;

use crate::media::{DeviceProblem, audio_host};

/// Samples moved per step inside a callback: a stack buffer, so nothing is allocated.
const STEP: usize = 256;
/// The rate everything inside runs at; devices that offer it need no resampling.
const PREFERRED_RATE: u32 = 48_000;
/// Frames per callback when the device lets us choose: 10 ms for the microphone; 20 ms for the
/// speaker, whose buffer is two periods: 20 ms in all let PulseAudio's sink run dry on a busy
/// machine (measured by tests/audio_pulse.rs as silence inserted), 40 ms did not.
const INPUT_PERIOD: u32 = 480;
const OUTPUT_PERIOD: u32 = 960;

#[derive(Debug, Error)]
pub enum AudioDeviceError {
    #[error("{0}")]
    Host(String),
    #[error("no {0} found")]
    NoDevice(&'static str),
    #[error("the {kind} \"{id}\" is not connected")]
    NotFound { kind: &'static str, id: String },
    #[error("cannot open the {kind}: {reason}")]
    Open { kind: &'static str, reason: String },
    #[error("the {kind} uses a sample format Confer cannot read ({format})")]
    Format { kind: &'static str, format: String },
}

impl AudioDeviceError {
    /// What the window says of it: there is no device of its kind, or the one there failed.
    pub fn problem(&self) -> DeviceProblem {
        match self {
            Self::NoDevice(_) => DeviceProblem::Missing,
            other => DeviceProblem::Failed(other.to_string()),
        }
    }
}

/// What a stream reports, written by its callbacks (atomics only) and read by anyone.
#[derive(Debug, Default)]
pub struct StreamHealth {
    lost: AtomicBool,
    xruns: AtomicU64,
    /// Samples that found the ring full (capture) or empty (playout).
    ring_misses: AtomicU64,
}

impl StreamHealth {
    /// The device went away or the stream broke: rebuild it.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Relaxed)
    }

    /// Over- and underruns the audio system reported.
    pub fn xruns(&self) -> u64 {
        self.xruns.load(Relaxed)
    }

    pub fn ring_misses(&self) -> u64 {
        self.ring_misses.load(Relaxed)
    }

    fn on_error(&self, error: &cpal::Error) {
        match error.kind() {
            cpal::ErrorKind::Xrun => {
                self.xruns.fetch_add(1, Relaxed);
            }
            cpal::ErrorKind::DeviceChanged => {}
            _ => self.lost.store(true, Relaxed),
        }
    }
}

/// The callback of a capture stream: device samples in, mono f32 into the ring.
pub struct CaptureCallback {
    ring: HeapProd<f32>,
    channels: usize,
    health: Arc<StreamHealth>,
}

impl CaptureCallback {
    pub fn new(ring: HeapProd<f32>, channels: usize, health: Arc<StreamHealth>) -> Self {
        Self {
            ring,
            channels: channels.max(1),
            health,
        }
    }

    /// Takes one callback's interleaved samples.
    pub fn on_data<T>(&mut self, data: &[T])
    where
        T: Sample,
        f32: FromSample<T>,
    {
        let mut mono = [0.0f32; STEP];
        let scale = 1.0 / self.channels as f32;
        for frames in data.chunks(STEP * self.channels) {
            let mut n = 0;
            for (slot, frame) in mono.iter_mut().zip(frames.chunks_exact(self.channels)) {
                *slot = frame.iter().map(|s| f32::from_sample(*s)).sum::<f32>() * scale;
                n += 1;
            }
            let pushed = self.ring.push_slice(&mono[..n]);
            if pushed < n {
                self.health
                    .ring_misses
                    .fetch_add((n - pushed) as u64, Relaxed);
            }
        }
    }
}

/// The callback of a playout stream: mono f32 from the ring out to every channel, and what was
/// really played into the echo canceller's reference ring.
pub struct PlayoutCallback {
    ring: HeapCons<f32>,
    played: Option<HeapProd<f32>>,
    channels: usize,
    health: Arc<StreamHealth>,
}

impl PlayoutCallback {
    pub fn new(
        ring: HeapCons<f32>,
        played: Option<HeapProd<f32>>,
        channels: usize,
        health: Arc<StreamHealth>,
    ) -> Self {
        Self {
            ring,
            played,
            channels: channels.max(1),
            health,
        }
    }

    /// Fills one callback's interleaved buffer.
    pub fn on_data<T>(&mut self, data: &mut [T])
    where
        T: Sample + FromSample<f32>,
    {
        let mut mono = [0.0f32; STEP];
        for frames in data.chunks_mut(STEP * self.channels) {
            let want = frames.len() / self.channels;
            let got = self.ring.pop_slice(&mut mono[..want]);
            if got < want {
                mono[got..want].fill(0.0);
                self.health
                    .ring_misses
                    .fetch_add((want - got) as u64, Relaxed);
            }
            for (frame, sample) in frames.chunks_exact_mut(self.channels).zip(&mono[..want]) {
                frame.fill(T::from_sample(*sample));
            }
            if let Some(played) = self.played.as_mut() {
                // A full reference ring means nobody reads it (echo cancellation off): fine.
                played.push_slice(&mono[..want]);
            }
        }
    }
}

/// An open stream and what it runs at.
pub struct AudioStream {
    _stream: cpal::Stream,
    pub rate: u32,
    pub channels: usize,
    pub device_name: String,
    pub health: Arc<StreamHealth>,
}

#[derive(Clone, Copy)]
enum Direction {
    Input,
    Output,
}

impl Direction {
    fn kind(self) -> &'static str {
        match self {
            Direction::Input => "microphone",
            Direction::Output => "speaker",
        }
    }

    fn open_error(self, e: cpal::Error) -> AudioDeviceError {
        AudioDeviceError::Open {
            kind: self.kind(),
            reason: e.to_string(),
        }
    }
}

fn find_device(
    host: &cpal::Host,
    direction: Direction,
    id: Option<&str>,
) -> Result<cpal::Device, AudioDeviceError> {
    let kind = direction.kind();
    let host_error = |e: cpal::Error| AudioDeviceError::Host(e.to_string());
    let Some(id) = id else {
        let default = match direction {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        };
        return default.ok_or(AudioDeviceError::NoDevice(kind));
    };
    let mut devices: Box<dyn Iterator<Item = cpal::Device>> = match direction {
        Direction::Input => Box::new(host.input_devices().map_err(host_error)?),
        Direction::Output => Box::new(host.output_devices().map_err(host_error)?),
    };
    devices
        .find(|d| d.id().is_ok_and(|d| d.to_string() == id))
        .ok_or_else(|| AudioDeviceError::NotFound {
            kind,
            id: id.to_string(),
        })
}

/// The device's own format, at 48 kHz when it offers that, with 10 ms callbacks when it lets us.
fn choose_config(
    device: &cpal::Device,
    direction: Direction,
) -> Result<(cpal::StreamConfig, SampleFormat), AudioDeviceError> {
    let open = |e: cpal::Error| direction.open_error(e);
    let default = match direction {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
    .map_err(open)?;
    let format = default.sample_format();
    let ranges: Vec<cpal::SupportedStreamConfigRange> = match direction {
        Direction::Input => device.supported_input_configs().map_err(open)?.collect(),
        Direction::Output => device.supported_output_configs().map_err(open)?.collect(),
    };
    let at_48k = ranges.iter().find(|r| {
        r.sample_format() == format
            && r.channels() == default.channels()
            && r.min_sample_rate() <= PREFERRED_RATE
            && PREFERRED_RATE <= r.max_sample_rate()
    });
    let (rate, buffer) = match at_48k {
        Some(range) => (PREFERRED_RATE, *range.buffer_size()),
        None => (default.sample_rate(), *default.buffer_size()),
    };
    let period = match direction {
        Direction::Input => INPUT_PERIOD,
        Direction::Output => OUTPUT_PERIOD,
    } * rate
        / PREFERRED_RATE;
    let buffer_size = match buffer {
        cpal::SupportedBufferSize::Range { min, max } if (min..=max).contains(&period) => {
            cpal::BufferSize::Fixed(period)
        }
        _ => cpal::BufferSize::Default,
    };
    Ok((
        cpal::StreamConfig {
            channels: default.channels(),
            sample_rate: rate,
            buffer_size,
        },
        format,
    ))
}

macro_rules! with_sample_type {
    ($format:expr, $kind:expr, |$t:ident| $body:expr) => {
        match $format {
            SampleFormat::F32 => {
                type $t = f32;
                $body
            }
            SampleFormat::I16 => {
                type $t = i16;
                $body
            }
            SampleFormat::I32 => {
                type $t = i32;
                $body
            }
            SampleFormat::U16 => {
                type $t = u16;
                $body
            }
            SampleFormat::U8 => {
                type $t = u8;
                $body
            }
            SampleFormat::I8 => {
                type $t = i8;
                $body
            }
            SampleFormat::F64 => {
                type $t = f64;
                $body
            }
            other => {
                return Err(AudioDeviceError::Format {
                    kind: $kind,
                    format: other.to_string(),
                })
            }
        }
    };
}

/// Streams are opened one at a time: cpal's PulseAudio client, asked for a microphone and a
/// speaker at once from two threads, left the microphone silent (seen in tests/audio_engine.rs).
static OPENING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What the two directions share: find the device, choose its format, build the stream with
/// `build` (which makes the callback), start it.
fn open_stream(
    direction: Direction,
    id: Option<&str>,
    build: impl FnOnce(
        &cpal::Device,
        cpal::StreamConfig,
        SampleFormat,
        Arc<StreamHealth>,
    ) -> Result<cpal::Stream, AudioDeviceError>,
) -> Result<AudioStream, AudioDeviceError> {
    let _one_at_a_time = OPENING.lock().unwrap_or_else(|p| p.into_inner());
    let host = audio_host::open().map_err(|e| AudioDeviceError::Host(e.to_string()))?;
    let device = find_device(&host, direction, id)?;
    let (config, format) = choose_config(&device, direction)?;
    let health = Arc::new(StreamHealth::default());
    let stream = build(&device, config, format, health.clone())?;
    stream.play().map_err(|e| direction.open_error(e))?;
    Ok(AudioStream {
        _stream: stream,
        rate: config.sample_rate,
        channels: usize::from(config.channels),
        device_name: name_of(&device),
        health,
    })
}

/// Opens a microphone (`id` from `confer devices`, or the default) feeding `ring`.
pub fn open_microphone(
    id: Option<&str>,
    ring: HeapProd<f32>,
) -> Result<AudioStream, AudioDeviceError> {
    let direction = Direction::Input;
    open_stream(direction, id, |device, config, format, health| {
        let mut callback = CaptureCallback::new(ring, usize::from(config.channels), health.clone());
        Ok(with_sample_type!(format, direction.kind(), |T| device
            .build_input_stream::<T, _, _>(
                config,
                move |data: &[T], _: &cpal::InputCallbackInfo| callback.on_data(data),
                move |e| health.on_error(&e),
                None,
            )
            .map_err(|e| direction.open_error(e))?))
    })
}

/// Opens a speaker (`id` or the default) playing from `ring`; what it plays also goes to
/// `played`, the echo canceller's reference.
pub fn open_speaker(
    id: Option<&str>,
    ring: HeapCons<f32>,
    played: Option<HeapProd<f32>>,
) -> Result<AudioStream, AudioDeviceError> {
    let direction = Direction::Output;
    open_stream(direction, id, |device, config, format, health| {
        let mut callback =
            PlayoutCallback::new(ring, played, usize::from(config.channels), health.clone());
        Ok(with_sample_type!(format, direction.kind(), |T| device
            .build_output_stream::<T, _, _>(
                config,
                move |data: &mut [T], _: &cpal::OutputCallbackInfo| callback.on_data(data),
                move |e| health.on_error(&e),
                None,
            )
            .map_err(|e| direction.open_error(e))?))
    })
}

fn name_of(device: &cpal::Device) -> String {
    device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| "audio device".into())
}
