//! The driver's side of the media: the threads a call runs (camera, encoder, microphone and
//! speaker, our shared screen and its encoder, a decoder per participant's camera and shared
//! screen) and the hand-off between them and the call machine.
//! Commands from the machine go to the threads through their atomics and bounded queues;
//! what the threads made (encoded media, pictures, device news, measurements) goes to the
//! machine. Nothing here waits.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Instant, SystemTime};

use super::events::{CallError, CallReport, Device, DeviceProblem, Setup};
use super::ids::ParticipantId;
use super::machine::{Call, Feed, Measurements, MediaCommand, RemoteMeasurement};
use super::own_camera::OwnCamera;
use super::way::JoinWay;
use crate::media::audio::chime;
use crate::media::audio::engine::{AudioEngine, AudioEvent, PlayoutInput};
use crate::media::audio::processing::ProcessingSettings;
use crate::media::source::{CameraChoice, MicChoice, SpeakerChoice};
use crate::media::video::camera::CameraEvent;
use crate::media::video::decode_thread::{DecodeInput, DecodeThread, Picture, start_decoder};
use crate::media::video::encode_thread::EncodeThread;
use crate::media::video::frame::RgbaImage;
use crate::media::video::h264::Content;
use crate::media::video::mailbox::{FrameSender, Receiver as Mailbox, frame_mailbox, mailbox};
use crate::media::video::screen::ShareTarget;
use crate::media::video::share_thread::{ShareEvent, ShareHandle, start_share};
use crate::media::video::{EncodedFrame, EncoderSettings};

/// Encoded pictures waiting for the call: a few; the encoder drops (and asks for a keyframe)
/// beyond that.
const ENCODED_QUEUE: usize = 8;

/// At most this many pictures a second of a shared screen: text wants sharpness, not motion.
const SCREEN_FPS: u32 = 15;

/// What the media threads are started with.
pub struct MediaChoices {
    pub camera: CameraChoice,
    pub mic: MicChoice,
    pub speaker: SpeakerChoice,
    pub processing: ProcessingSettings,
    /// The encoder's first rate, bit/s.
    pub start_bps: u32,
    /// Pictures are converted for a screen, and our own camera is shown.
    pub render: bool,
    /// Shared screens' pictures are converted even when `render` is off (a headless run that
    /// keeps them).
    pub render_shares: bool,
}

/// One participant's decoder. Fields drop in order: the input first, which ends the thread.
struct Decoder {
    input: DecodeInput,
    pictures: Mailbox<Picture>,
    _thread: DecodeThread,
}

/// Our shared screen: the capture thread and the screen encoder. The encoder outlives a
/// share (the next one reuses it); the capture ends with its share.
struct OwnShare {
    frames: FrameSender,
    encoder: EncodeThread,
    encoded: Receiver<EncodedFrame>,
    capture: Option<ShareHandle>,
}

pub struct MediaThreads {
    camera: OwnCamera,
    encoder: EncodeThread,
    encoded: Receiver<EncodedFrame>,
    preview: Option<Mailbox<RgbaImage>>,
    audio: AudioEngine,
    /// Each participant's decoders (camera, screen) once that video came; None when it could
    /// not start.
    decoders: HashMap<(ParticipantId, Feed), Option<Decoder>>,
    render: bool,
    render_shares: bool,
    /// Started at the first share.
    share: Option<OwnShare>,
    share_events: (SyncSender<ShareEvent>, Receiver<ShareEvent>),
}

impl MediaThreads {
    pub fn start(choices: MediaChoices) -> Result<Self, CallError> {
        let (frames, pictures) = frame_mailbox();
        let camera = OwnCamera::new(choices.camera, frames);
        let (encoded_tx, encoded) = std::sync::mpsc::sync_channel(ENCODED_QUEUE);
        // Our own camera for the self view, when a window shows it.
        let (preview_tx, preview) = mailbox();
        let settings = EncoderSettings {
            bitrate_bps: choices.start_bps,
            ..EncoderSettings::default()
        };
        let encoder = EncodeThread::start(
            pictures,
            settings,
            encoded_tx,
            choices.render.then_some(preview_tx),
        )
        .map_err(|e| CallError::Setup {
            what: Setup::VideoEncoder,
            reason: e.to_string(),
        })?;
        let audio = AudioEngine::start(&choices.mic, choices.speaker, choices.processing).map_err(
            |reason| CallError::Setup {
                what: Setup::Audio,
                reason,
            },
        )?;
        Ok(Self {
            camera,
            encoder,
            encoded,
            preview: choices.render.then_some(preview),
            audio,
            decoders: HashMap::new(),
            render: choices.render,
            render_shares: choices.render || choices.render_shares,
            share: None,
            share_events: std::sync::mpsc::sync_channel(8),
        })
    }

    /// Shares `target`, replacing any share. Its start (or why it cannot) comes back as a
    /// share event.
    fn start_sharing<W: JoinWay>(&mut self, now: Instant, call: &mut Call<W>, target: ShareTarget) {
        if self.share.is_none() {
            let (frames, pictures) = frame_mailbox();
            let (encoded_tx, encoded) = std::sync::mpsc::sync_channel(ENCODED_QUEUE);
            let settings = EncoderSettings {
                max_fps: SCREEN_FPS as f32,
                ..EncoderSettings::default()
            };
            match EncodeThread::start_for(pictures, settings, Content::Screen, encoded_tx, None) {
                Ok(encoder) => {
                    self.share = Some(OwnShare {
                        frames,
                        encoder,
                        encoded,
                        capture: None,
                    })
                }
                Err(e) => {
                    let why = crate::media::video::screen::ScreenError::Refused(format!(
                        "the screen encoder cannot start: {e}"
                    ));
                    call.handle_share(now, ShareEvent::Ended(why));
                    return;
                }
            }
        }
        let Some(share) = self.share.as_mut() else {
            return;
        };
        // The last share's thread ends before the next one opens the display.
        share.capture = None;
        let events = self.share_events.0.clone();
        match start_share(None, target, SCREEN_FPS, share.frames.clone(), events) {
            Ok(handle) => share.capture = Some(handle),
            Err(why) => call.handle_share(now, ShareEvent::Ended(why)),
        }
    }

    /// Does what the call asks of the media threads.
    pub fn apply<W: JoinWay>(&mut self, now: Instant, call: &mut Call<W>, command: MediaCommand) {
        match command {
            MediaCommand::Keyframe => self.encoder.control().request_keyframe(),
            MediaCommand::Bitrate(bps) => self.encoder.control().set_bitrate(bps),
            MediaCommand::Simulcast(on) => self.encoder.control().set_simulcast(on),
            MediaCommand::AudioLoss(percent) => self.audio.send.control().set_loss_percent(percent),
            MediaCommand::Microphone(on) => self.audio.send.control().muted.store(!on, Relaxed),
            MediaCommand::Camera(true) => {
                // A camera that cannot be opened (missing, busy, access denied) is no reason to
                // miss the meeting: it goes on without our video, and says why.
                if let Err(problem) = self.camera.start() {
                    call.handle_device(now, Device::Camera, Some(DeviceProblem::Failed(problem)));
                }
            }
            MediaCommand::Camera(false) => self.camera.stop(),
            MediaCommand::Share(Some(target)) => self.start_sharing(now, call, target),
            MediaCommand::Share(None) => {
                if let Some(share) = self.share.as_mut() {
                    share.capture = None;
                }
            }
            MediaCommand::ScreenKeyframe => {
                if let Some(share) = &self.share {
                    share.encoder.control().request_keyframe();
                }
            }
            MediaCommand::ScreenBitrate(bps) => {
                if let Some(share) = &self.share {
                    share.encoder.control().set_bitrate(bps);
                }
            }
            MediaCommand::Decode {
                from,
                feed,
                unit,
                hold,
            } => {
                if let Some(decoder) = self.decoder(now, call, &from, feed) {
                    decoder.input.push(unit, hold);
                }
            }
            MediaCommand::Play {
                from,
                seq,
                payload,
                arrived,
            } => {
                // A full queue drops the packet; the jitter buffer treats it as lost.
                let _ = self.audio.incoming.try_send(PlayoutInput::Packet {
                    peer: from.to_string(),
                    seq,
                    payload: payload.to_vec(),
                    arrived,
                });
            }
            MediaCommand::Fit {
                from,
                width,
                height,
            } => {
                if let Some(decoder) = self.decoder(now, call, &from, Feed::Camera) {
                    decoder.input.stats().fit_to(width, height);
                }
            }
            MediaCommand::ScreenGone(from) => {
                self.decoders.remove(&(from, Feed::Screen));
            }
            MediaCommand::Gone(from) => {
                self.decoders.retain(|(id, _), _| *id != from);
                let _ = self
                    .audio
                    .incoming
                    .try_send(PlayoutInput::PeerLeft(from.to_string()));
            }
            MediaCommand::Chime(sound) => chime::play(sound, self.audio.incoming.clone()),
        }
    }

    /// The decoder of `from`'s `feed`, started when first needed; None when it cannot start
    /// (said once, as a notice, and not tried again: those pictures are lost, the call goes
    /// on).
    fn decoder<W: JoinWay>(
        &mut self,
        now: Instant,
        call: &mut Call<W>,
        from: &ParticipantId,
        feed: Feed,
    ) -> Option<&Decoder> {
        let key = (from.clone(), feed);
        if !self.decoders.contains_key(&key) {
            let convert = match feed {
                Feed::Camera => self.render,
                Feed::Screen => self.render_shares,
            };
            let started = match start_decoder(convert) {
                Ok((input, pictures, thread)) => {
                    let decoder = Decoder {
                        input,
                        pictures,
                        _thread: thread,
                    };
                    Some(decoder)
                }
                Err(e) => {
                    call.handle_problem(now, format!("cannot decode video from {from}: {e}"));
                    None
                }
            };
            self.decoders.insert(key.clone(), started);
        }
        self.decoders.get(&key).and_then(Option::as_ref)
    }

    /// What the threads made since the last turn, handed to the call: our encoded media, our
    /// camera's and devices' news, the participants' pictures and broken streams. Our own
    /// picture for the self view goes straight to `report`: the call has nothing to add.
    pub fn collect<W: JoinWay>(
        &mut self,
        now: Instant,
        call: &mut Call<W>,
        report: &mut impl FnMut(CallReport),
    ) {
        while let Ok(packet) = self.audio.packets.try_recv() {
            call.handle_audio(now, packet.timestamp, &packet.payload);
        }
        while let Ok(frame) = self.encoded.try_recv() {
            call.handle_video(now, frame.captured, frame.layer, frame.data);
        }
        while let Ok(event) = self.share_events.1.try_recv() {
            call.handle_share(now, event);
        }
        if let Some(share) = &self.share {
            while let Ok(frame) = share.encoded.try_recv() {
                call.handle_screen(now, frame.captured, frame.data);
            }
        }
        if let Some(image) = self.preview.as_ref().and_then(Mailbox::take) {
            report(CallReport::Preview(image));
        }
        while let Some(event) = self.camera.next_event() {
            match event {
                CameraEvent::Started { .. } => call.handle_device(now, Device::Camera, None),
                CameraEvent::Stopped(e) => {
                    call.handle_device(now, Device::Camera, Some(e.problem()))
                }
                CameraEvent::BadFrame(why) => tracing::debug!("camera: a picture skipped: {why}"),
            }
        }
        while let Ok(event) = self.audio.events.try_recv() {
            let (device, problem) = match event {
                AudioEvent::MicStarted { .. } => (Device::Microphone, None),
                AudioEvent::MicLost(why) => (Device::Microphone, Some(why)),
                AudioEvent::SpeakerStarted { .. } => (Device::Speaker, None),
                AudioEvent::SpeakerLost(why) => (Device::Speaker, Some(why)),
            };
            call.handle_device(now, device, problem);
        }
        for ((id, feed), decoder) in self
            .decoders
            .iter()
            .filter_map(|(key, d)| Some((key, d.as_ref()?)))
        {
            if decoder.input.stats().keyframe_needed.swap(false, Relaxed) {
                call.handle_keyframe_needed(now, id, *feed);
            }
            while let Some(picture) = decoder.pictures.take() {
                call.handle_picture(now, id, *feed, picture);
            }
        }
    }

    /// The levels, playout delays and decoded counts the call asked for.
    pub fn measure(&self) -> Measurements {
        let mut heard = self.audio.playout.control().peers();
        let decoded = |id: &ParticipantId, feed: Feed| {
            self.decoders
                .get(&(id.clone(), feed))
                .and_then(Option::as_ref)
                .map_or(0, |d| d.input.stats().decoded.load(Relaxed))
        };
        let mut ids: Vec<&ParticipantId> = self.decoders.keys().map(|(id, _)| id).collect();
        ids.sort();
        ids.dedup();
        let mut remotes: Vec<(ParticipantId, RemoteMeasurement)> = ids
            .into_iter()
            .map(|id| {
                let audio = heard.remove(id.as_str()).unwrap_or_default();
                let m = RemoteMeasurement {
                    level: audio.level,
                    playout_delay: audio.playout_delay,
                    beep_at: audio.beep_at,
                    frames_decoded: decoded(id, Feed::Camera),
                    screen_frames_decoded: decoded(id, Feed::Screen),
                    concealed: audio.concealed(),
                };
                (id.clone(), m)
            })
            .collect();
        // Those we hear but whose video never came.
        remotes.extend(heard.into_iter().map(|(id, audio)| {
            let m = RemoteMeasurement {
                level: audio.level,
                playout_delay: audio.playout_delay,
                beep_at: audio.beep_at,
                frames_decoded: 0,
                screen_frames_decoded: 0,
                concealed: audio.concealed(),
            };
            (ParticipantId::from(id), m)
        }));
        Measurements {
            mic_level: self.audio.send.control().level(),
            wall: Some(SystemTime::now()),
            remotes,
        }
    }
}
