//! The audio threads of a call.
//!
//! "audio-send": microphone (a device through its callback ring, or a synthetic source on its
//! own clock) -> 48 kHz -> echo cancellation against what the speaker played, noise, gain ->
//! Opus -> a bounded queue of packets for the network side.
//!
//! "audio-playout": packets of every remote peer -> its `playout::PeerPlayout` (jitter buffer,
//! Opus decoder with FEC and concealment, time compression) -> mix -> the speaker's rate ->
//! the speaker's callback ring, kept a few periods full so the device's clock paces
//! everything. Without a speaker it keeps time by itself.
//!
//! A device that goes away is reported and reopened from these threads (never from a device
//! callback); the call goes on meanwhile, sending silence or playing nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use super::device::{AudioStream, open_microphone, open_speaker};
use super::opus_codec::{FRAME_SAMPLES, OpusError, SAMPLE_RATE};
pub use super::playout::PeerAudio;
use super::playout::PeerPlayout;
use super::processing::{BLOCK, ProcessingSettings};
use super::resample::Resampler;
use super::send::AudioSendPath;
use super::synthetic::SyntheticMic;
use crate::media::DeviceProblem;
use crate::media::source::{MicChoice, SpeakerChoice};

const FRAME: Duration = Duration::from_millis(20);
/// How often a lost device is tried again.
const REOPEN_EVERY: Duration = Duration::from_secs(1);
/// An open device that delivers or takes nothing this long is treated as gone.
const DEVICE_SILENCE: Duration = Duration::from_secs(1);
/// Ring sizes between callbacks and threads: far more than a callback period.
const RING_SECONDS_FRACTION: usize = 2; // half a second
/// Speaker ring kept this full: enough for a late wake-up of the playout thread.
const PLAYOUT_TARGET: Duration = Duration::from_millis(60);

/// One encoded 20 ms frame from the microphone.
#[derive(Debug, Clone)]
pub struct AudioPacket {
    pub seq: u16,
    /// In 48 kHz samples, as RTP counts.
    pub timestamp: u32,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioEvent {
    MicStarted {
        name: String,
        rate: u32,
    },
    /// The microphone went away or failed; Confer keeps trying to reopen it.
    MicLost(DeviceProblem),
    SpeakerStarted {
        name: String,
        rate: u32,
    },
    SpeakerLost(DeviceProblem),
}

/// The speaker's echo reference, handed from the playout thread to the send thread whenever a
/// speaker (re)opens.
pub struct FarEnd {
    pub ring: HeapCons<f32>,
    pub rate: u32,
}

#[derive(Debug, Default)]
pub struct SendControl {
    stop: AtomicBool,
    pub muted: AtomicBool,
    loss_percent: AtomicU8,
    pub packets: AtomicU64,
    /// Packets the network side had no room for.
    pub dropped: AtomicU64,
    /// The microphone's level before processing, RMS in [0, 1] as f32 bits (for a meter).
    level_bits: AtomicU32,
}

impl SendControl {
    /// Loss the receivers report, for Opus' FEC.
    pub fn set_loss_percent(&self, percent: u8) {
        self.loss_percent.store(percent.min(100), Relaxed);
    }

    pub fn level(&self) -> f32 {
        f32::from_bits(self.level_bits.load(Relaxed))
    }
}

pub struct AudioSendThread {
    control: Arc<SendControl>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for AudioSendThread {
    fn drop(&mut self) {
        self.control.stop.store(true, Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Where the send thread's samples come from.
enum MicInput {
    Device {
        id: Option<String>,
        stream: Option<Box<(AudioStream, HeapCons<f32>, Resampler)>>,
        retry_at: Instant,
        /// When the open stream last delivered samples.
        heard: Instant,
        /// Loss is reported once, not at every failed reopen.
        reported: bool,
    },
    Synthetic {
        source: SyntheticMic,
        due: Instant,
    },
    Silent {
        due: Instant,
    },
}

impl MicInput {
    fn new(choice: &MicChoice) -> Result<Self, String> {
        let now = Instant::now();
        Ok(match choice {
            MicChoice::Default => Self::Device {
                id: None,
                stream: None,
                retry_at: now,
                heard: now,
                reported: false,
            },
            MicChoice::Device(id) => Self::Device {
                id: Some(id.clone()),
                stream: None,
                retry_at: now,
                heard: now,
                reported: false,
            },
            MicChoice::Tone => Self::Synthetic {
                source: SyntheticMic::tone(),
                due: now,
            },
            MicChoice::Wav(path) => Self::Synthetic {
                source: SyntheticMic::wav(path).map_err(|e| e.to_string())?,
                due: now,
            },
            MicChoice::Off => Self::Silent { due: now },
        })
    }

    /// Appends what is ready (48 kHz mono) to `out`; returns how long to wait before asking again.
    fn read(&mut self, out: &mut Vec<f32>, events: &Sender<AudioEvent>) -> Duration {
        let now = Instant::now();
        match self {
            Self::Device {
                id,
                stream,
                retry_at,
                heard,
                reported,
            } => {
                if let Some(open) = stream.as_deref().map(|s| &s.0) {
                    // Some systems report a vanished device; others just stop calling back.
                    let silent = now.saturating_duration_since(*heard) > DEVICE_SILENCE;
                    if open.health.is_lost() || silent {
                        let name = open.device_name.clone();
                        *stream = None;
                        *retry_at = now + REOPEN_EVERY;
                        *reported = true;
                        let _ = events.send(AudioEvent::MicLost(DeviceProblem::Failed(format!(
                            "the microphone \"{name}\" stopped working or was disconnected"
                        ))));
                    }
                }
                if stream.is_none() && now >= *retry_at {
                    *retry_at = now + REOPEN_EVERY;
                    let (producer, consumer) = HeapRb::new(48_000 / RING_SECONDS_FRACTION).split();
                    let opened = open_microphone(id.as_deref(), producer)
                        .map_err(|e| e.problem())
                        .and_then(|open| {
                            Resampler::new(open.rate, SAMPLE_RATE)
                                .map(|r| (open, r))
                                .map_err(|e| DeviceProblem::Failed(e.to_string()))
                        });
                    match opened {
                        Ok((open, resampler)) => {
                            let _ = events.send(AudioEvent::MicStarted {
                                name: open.device_name.clone(),
                                rate: open.rate,
                            });
                            *stream = Some(Box::new((open, consumer, resampler)));
                            // Opening can take a while (a sound server to connect to).
                            *heard = Instant::now();
                            *reported = false;
                        }
                        Err(e) => {
                            tracing::debug!("microphone: {e}");
                            if !*reported {
                                *reported = true;
                                let _ = events.send(AudioEvent::MicLost(e));
                            }
                        }
                    }
                }
                match stream.as_deref_mut() {
                    Some((_, ring, resampler)) => {
                        let mut buffer = [0.0f32; 1024];
                        loop {
                            let n = ring.pop_slice(&mut buffer);
                            if n == 0 {
                                break;
                            }
                            *heard = now;
                            resampler.process(&buffer[..n], out);
                        }
                        Duration::from_millis(5)
                    }
                    // No microphone: keep the stream going with silence, on the clock.
                    None => {
                        out.extend_from_slice(&[0.0; FRAME_SAMPLES]);
                        FRAME
                    }
                }
            }
            Self::Synthetic { source, due } => {
                if now < *due {
                    return *due - now;
                }
                let start = out.len();
                out.resize(start + FRAME_SAMPLES, 0.0);
                source.fill(&mut out[start..], SystemTime::now());
                *due += FRAME;
                if *due + FRAME < now {
                    *due = now; // after a stall, do not rush to catch up
                }
                due.saturating_duration_since(now)
            }
            Self::Silent { due } => {
                if now < *due {
                    return *due - now;
                }
                out.extend_from_slice(&[0.0; FRAME_SAMPLES]);
                *due += FRAME;
                due.saturating_duration_since(now)
            }
        }
    }
}

impl AudioSendThread {
    pub fn start(
        mic: &MicChoice,
        settings: ProcessingSettings,
        far_end: Receiver<FarEnd>,
        out: SyncSender<AudioPacket>,
        events: Sender<AudioEvent>,
    ) -> Result<Self, String> {
        let mut path = AudioSendPath::new(settings).map_err(|e: OpusError| e.to_string())?;
        let mut input = MicInput::new(mic)?;
        let control = Arc::new(SendControl::default());
        let shared = control.clone();
        let thread = std::thread::Builder::new()
            .name("audio-send".into())
            .spawn(move || {
                let mut mic48 = Vec::with_capacity(FRAME_SAMPLES * 4);
                let mut far: Option<(HeapCons<f32>, Resampler)> = None;
                let mut far48 = Vec::with_capacity(FRAME_SAMPLES * 4);
                let mut far_raw = [0.0f32; 1024];
                let mut frame = [0.0f32; FRAME_SAMPLES];
                let mut loss = 255u8;
                let (mut seq, mut timestamp) = (0u16, 0u32);
                while !shared.stop.load(Relaxed) {
                    let wait = input.read(&mut mic48, &events);
                    match far_end.try_recv() {
                        Ok(new) => {
                            far = Resampler::new(new.rate, SAMPLE_RATE)
                                .ok()
                                .map(|r| (new.ring, r));
                            far48.clear();
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => {}
                    }
                    let wanted_loss = shared.loss_percent.load(Relaxed);
                    if wanted_loss != loss {
                        loss = wanted_loss;
                        let _ = path.encoder().set_loss_percent(loss);
                    }
                    while mic48.len() >= FRAME_SAMPLES {
                        frame.copy_from_slice(&mic48[..FRAME_SAMPLES]);
                        mic48.drain(..FRAME_SAMPLES);
                        let rms = (frame.iter().map(|s| s * s).sum::<f32>() / FRAME_SAMPLES as f32)
                            .sqrt();
                        shared.level_bits.store(rms.to_bits(), Relaxed);
                        if shared.muted.load(Relaxed) {
                            frame.fill(0.0);
                        }
                        if let Some((ring, resampler)) = far.as_mut() {
                            loop {
                                let n = ring.pop_slice(&mut far_raw);
                                if n == 0 {
                                    break;
                                }
                                resampler.process(&far_raw[..n], &mut far48);
                            }
                        }
                        // The echo canceller wants render and capture in step: hand it the
                        // whole blocks played since the last frame, at most a few.
                        let blocks = (far48.len() / BLOCK).min(4);
                        let played = blocks * BLOCK;
                        let result = path.send(&far48[..played], &frame);
                        far48.drain(..played.max(far48.len().saturating_sub(FRAME_SAMPLES * 4)));
                        let payload = match result {
                            Ok(packet) => packet.to_vec(),
                            Err(e) => {
                                tracing::warn!("{e}");
                                continue;
                            }
                        };
                        let packet = AudioPacket {
                            seq,
                            timestamp,
                            payload,
                        };
                        seq = seq.wrapping_add(1);
                        timestamp = timestamp.wrapping_add(FRAME_SAMPLES as u32);
                        shared.packets.fetch_add(1, Relaxed);
                        match out.try_send(packet) {
                            Ok(()) => {}
                            Err(TrySendError::Full(_)) => {
                                shared.dropped.fetch_add(1, Relaxed);
                            }
                            Err(TrySendError::Disconnected(_)) => return,
                        }
                    }
                    std::thread::sleep(wait.min(FRAME));
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Self {
            control,
            thread: Some(thread),
        })
    }

    pub fn control(&self) -> &Arc<SendControl> {
        &self.control
    }
}

/// What reaches the playout thread.
pub enum PlayoutInput {
    Packet {
        peer: String,
        seq: u16,
        payload: Vec<u8>,
        arrived: Instant,
    },
    PeerLeft(String),
}

#[derive(Debug, Default)]
pub struct PlayoutControl {
    stop: AtomicBool,
    peers: Mutex<HashMap<String, PeerAudio>>,
    /// Samples the speaker ring had no room for.
    pub overflow: AtomicU64,
}

impl PlayoutControl {
    pub fn peers(&self) -> HashMap<String, PeerAudio> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

struct Speaker {
    stream: AudioStream,
    ring: HeapProd<f32>,
    resampler: Resampler,
    /// When the device last took samples, and how many were queued then; None until it first
    /// takes some (starting up can take a moment).
    drained: Option<(Instant, usize)>,
    queued_after_fill: usize,
}

pub struct AudioPlayoutThread {
    control: Arc<PlayoutControl>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for AudioPlayoutThread {
    fn drop(&mut self) {
        self.control.stop.store(true, Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl AudioPlayoutThread {
    pub fn start(
        speaker: SpeakerChoice,
        input: Receiver<PlayoutInput>,
        far_end: SyncSender<FarEnd>,
        events: Sender<AudioEvent>,
    ) -> Result<Self, String> {
        let control = Arc::new(PlayoutControl::default());
        let shared = control.clone();
        let thread = std::thread::Builder::new()
            .name("audio-playout".into())
            .spawn(move || {
                let mut remotes: HashMap<String, PeerPlayout> = HashMap::new();
                let mut out: Option<Speaker> = None;
                let mut retry_at = Instant::now();
                let mut reported = false;
                let mut due = Instant::now();
                let mut mix = [0.0f32; FRAME_SAMPLES];
                let mut resampled = Vec::with_capacity(FRAME_SAMPLES * 2);
                while !shared.stop.load(Relaxed) {
                    let now = Instant::now();
                    if !receive(&input, &mut remotes) {
                        return;
                    }
                    if let Some(open) = out.as_mut()
                        && open.ring.occupied_len() < open.queued_after_fill
                    {
                        open.drained = Some((now, open.ring.occupied_len()));
                    }
                    // Some systems report a vanished device; others just stop taking samples.
                    let stalled = |open: &Speaker| {
                        open.drained.is_some_and(|(at, _)| {
                            now.saturating_duration_since(at) > DEVICE_SILENCE
                        })
                    };
                    if let Some(open) = &out
                        && (open.stream.health.is_lost() || stalled(open))
                    {
                        let _ =
                            events.send(AudioEvent::SpeakerLost(DeviceProblem::Failed(format!(
                                "the speaker \"{}\" stopped working or was disconnected",
                                open.stream.device_name
                            ))));
                        out = None;
                        retry_at = now + REOPEN_EVERY;
                        reported = true;
                    }
                    if out.is_none() && speaker != SpeakerChoice::Off && now >= retry_at {
                        retry_at = now + REOPEN_EVERY;
                        match open(&speaker, &far_end) {
                            Ok(open) => {
                                let _ = events.send(AudioEvent::SpeakerStarted {
                                    name: open.stream.device_name.clone(),
                                    rate: open.stream.rate,
                                });
                                out = Some(open);
                                reported = false;
                            }
                            Err(e) => {
                                tracing::debug!("speaker: {e}");
                                if !reported {
                                    reported = true;
                                    let _ = events.send(AudioEvent::SpeakerLost(e));
                                }
                            }
                        }
                    }
                    match out.as_mut() {
                        // The device's clock paces: top its ring up to the target.
                        Some(open) => {
                            let target = PLAYOUT_TARGET.as_micros() as usize
                                * open.stream.rate as usize
                                / 1_000_000;
                            while open.ring.occupied_len() < target {
                                let queued = Duration::from_micros(
                                    open.ring.occupied_len() as u64 * 1_000_000
                                        / u64::from(open.stream.rate.max(1)),
                                );
                                let at = Instant::now();
                                produce(&mut remotes, &mut mix, at, at + queued);
                                resampled.clear();
                                open.resampler.process(&mix, &mut resampled);
                                let pushed = open.ring.push_slice(&resampled);
                                shared
                                    .overflow
                                    .fetch_add((resampled.len() - pushed) as u64, Relaxed);
                                if pushed < resampled.len() {
                                    break;
                                }
                            }
                            open.queued_after_fill = open.ring.occupied_len();
                            due = now;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        // No speaker: keep time ourselves so the jitter buffers still drain.
                        None => {
                            if now >= due {
                                produce(&mut remotes, &mut mix, now, now);
                                due += FRAME;
                                if due + FRAME < now {
                                    due = now;
                                }
                            }
                            std::thread::sleep(due.saturating_duration_since(now).min(FRAME));
                        }
                    }
                    let mut peers = shared.peers.lock().unwrap_or_else(|p| p.into_inner());
                    peers.clear();
                    peers.extend(remotes.iter().map(|(id, r)| (id.clone(), r.stats())));
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(Self {
            control,
            thread: Some(thread),
        })
    }

    pub fn control(&self) -> &Arc<PlayoutControl> {
        &self.control
    }
}

/// Takes everything queued; false when the sender side is gone (the call ended).
fn receive(input: &Receiver<PlayoutInput>, remotes: &mut HashMap<String, PeerPlayout>) -> bool {
    loop {
        match input.try_recv() {
            Ok(PlayoutInput::Packet {
                peer,
                seq,
                payload,
                arrived,
            }) => {
                if !remotes.contains_key(&peer) {
                    let Ok(playout) = PeerPlayout::new() else {
                        continue;
                    };
                    remotes.insert(peer.clone(), playout);
                }
                if let Some(remote) = remotes.get_mut(&peer) {
                    remote.push(seq, &payload, arrived);
                }
            }
            Ok(PlayoutInput::PeerLeft(peer)) => {
                remotes.remove(&peer);
            }
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Disconnected) => return false,
        }
    }
}

/// Decodes the next 20 ms of every remote and mixes them into `mix`. `plays_at` is when the
/// frame will reach the speaker.
fn produce(
    remotes: &mut HashMap<String, PeerPlayout>,
    mix: &mut [f32; FRAME_SAMPLES],
    now: Instant,
    plays_at: Instant,
) {
    mix.fill(0.0);
    for remote in remotes.values_mut() {
        for (m, s) in mix.iter_mut().zip(remote.play(now, plays_at)) {
            *m += s;
        }
    }
    for m in mix.iter_mut() {
        *m = m.clamp(-1.0, 1.0);
    }
}

fn open(choice: &SpeakerChoice, far_end: &SyncSender<FarEnd>) -> Result<Speaker, DeviceProblem> {
    let (producer, consumer) = HeapRb::new(48_000 / RING_SECONDS_FRACTION).split();
    let (reference, reference_out) = HeapRb::new(48_000 / RING_SECONDS_FRACTION).split();
    let stream =
        open_speaker(choice.device_id(), consumer, Some(reference)).map_err(|e| e.problem())?;
    let resampler = Resampler::new(SAMPLE_RATE, stream.rate)
        .map_err(|e| DeviceProblem::Failed(e.to_string()))?;
    let _ = far_end.try_send(FarEnd {
        ring: reference_out,
        rate: stream.rate,
    });
    Ok(Speaker {
        stream,
        ring: producer,
        resampler,
        drained: None,
        queued_after_fill: 0,
    })
}

/// The two audio threads of a call and the queues between them and the network side.
pub struct AudioEngine {
    pub send: AudioSendThread,
    pub playout: AudioPlayoutThread,
    /// Encoded microphone frames for the network side.
    pub packets: Receiver<AudioPacket>,
    /// Where the network side puts what arrives (`try_send`: a full queue drops the packet,
    /// which the jitter buffer then treats as lost).
    pub incoming: SyncSender<PlayoutInput>,
    pub events: Receiver<AudioEvent>,
}

impl AudioEngine {
    pub fn start(
        mic: &MicChoice,
        speaker: SpeakerChoice,
        settings: ProcessingSettings,
    ) -> Result<Self, String> {
        // One message per speaker (re)opening; the send thread takes it within 20 ms.
        let (far_tx, far_rx) = mpsc::sync_channel(2);
        // Unbounded, but events come only when a device changes state (reported once each).
        let (events_tx, events) = mpsc::channel();
        // A second of packets: the network side is never that far behind unless it is gone.
        let (packets_tx, packets) = mpsc::sync_channel(50);
        let (incoming, incoming_rx) = mpsc::sync_channel(500);
        let send = AudioSendThread::start(mic, settings, far_rx, packets_tx, events_tx.clone())?;
        let playout = AudioPlayoutThread::start(speaker, incoming_rx, far_tx, events_tx)?;
        Ok(Self {
            send,
            playout,
            packets,
            incoming,
            events,
        })
    }
}
