//! One meeting: the signaling client, a peer connection per remote participant (the mesh),
//! the sockets, and the media threads. One task runs it all; media reaches it through the
//! media threads' bounded queues and leaves through the sockets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{mpsc, watch};

pub use super::events::{CallControl, CallReport, Device, Notice, PeerState};
use super::liveness::Verdict;
use super::network::{add_new_hosts, deliver, gather};
use super::own_camera::OwnCamera;
use super::rate::video_share;
use super::remote::{Remote, Turn, new_remote};
use super::signals::{
    SignalContext, announce, announce_media, chat_text, media_state, on_signal, send_chat,
    send_signal,
};
use crate::invite::Invite;
use crate::media::audio::engine::{AudioEngine, AudioEvent, PlayoutInput};
use crate::media::audio::processing::ProcessingSettings;
use crate::media::source::{CameraChoice, MicChoice, SpeakerChoice};
use crate::media::video::camera::CameraEvent;
use crate::media::video::encode_thread::EncodeThread;
use crate::media::video::mailbox::{frame_mailbox, mailbox};
use crate::media::video::{EncodedFrame, EncoderSettings};
use crate::rtc::driver::{Sockets, datagram_queue, local_addresses};
use crate::rtc::gather::Gatherer;
use crate::signal::client::{ClientConfig, Command, Event, SignalingClient};
use crate::signal::proto::ErrorCode;
use crate::token::random_id;
use str0m::Candidate;

/// How often the engine turns over when nothing wakes it: the media queues are read then.
const TICK: Duration = Duration::from_millis(5);
/// How long leaving waits for the server to have our `leave`.
const LEAVE_LIMIT: Duration = Duration::from_secs(1);
const KEYFRAME_EVERY_AT_MOST: Duration = Duration::from_secs(1);

pub struct CallConfig {
    pub invite: Invite,
    pub name: String,
    pub camera: CameraChoice,
    pub mic: MicChoice,
    pub speaker: SpeakerChoice,
    /// Whether the microphone and the camera are on when the call starts (the pre-join
    /// screen's switches). Off means never opened, not opened and then muted.
    pub mic_on: bool,
    pub camera_on: bool,
    pub processing: ProcessingSettings,
    /// The most video we send (the settings' quality cap), bit/s.
    pub max_video_bps: u32,
    /// Convert decoded pictures for a screen (a window shows them; a headless run does not).
    pub render_video: bool,
    /// Reach peers only through the TURN servers (a browser's iceTransportPolicy "relay"):
    /// no host or server-reflexive candidates are offered.
    pub relay_only: bool,
}

const LEVELS_EVERY: Duration = Duration::from_millis(100);
/// Lip sync: pictures wait for the sound that waits in the audio jitter buffer and the
/// device, less this much (sound a little after the picture is what people notice least, and
/// every millisecond held is glass-to-glass latency).
const AUDIO_MAY_LAG: Duration = Duration::from_millis(10);

/// What a person is told when the server will not let them in.
fn refusal(code: ErrorCode) -> Option<&'static str> {
    match code {
        ErrorCode::BadToken => {
            Some("this invite link is not valid or has expired: ask for a new one")
        }
        ErrorCode::RoomFull => Some("this meeting is full: try again when someone leaves"),
        ErrorCode::Version => Some("the server speaks another version of Confer: update the app"),
        _ => None,
    }
}

/// Runs the meeting until `stop` turns true (Ok) or it cannot go on (Err with the reason),
/// doing what `controls` asks on the way.
pub async fn run(
    config: CallConfig,
    mut stop: watch::Receiver<bool>,
    mut controls: mpsc::UnboundedReceiver<CallControl>,
    mut report: impl FnMut(CallReport),
) -> Result<(), String> {
    let mut signaling = SignalingClient::start(ClientConfig {
        url: config.invite.signaling_url(),
        room: config.invite.room.clone(),
        token: config.invite.token.clone(),
        name: config.name.clone(),
        extra_roots: Vec::new(),
        max_attempts: Some(5),
    })
    .map_err(|e| e.to_string())?;

    // Media: camera -> encoder thread; microphone and speaker threads.
    let (frames, pictures) = frame_mailbox();
    let mut camera = OwnCamera::new(config.camera.clone(), frames);
    // A camera that cannot be opened (missing, busy, access denied) is no reason to miss the
    // meeting: it goes on without our video, and says why.
    let camera_problem = if config.camera_on && config.camera != CameraChoice::Off {
        camera.start().err()
    } else {
        None
    };
    let (encoded_tx, encoded) = std::sync::mpsc::sync_channel::<EncodedFrame>(8);
    // Our own camera for the self view, when a window shows it.
    let (preview_tx, preview) = mailbox();
    let preview_tx = config.render_video.then_some(preview_tx);
    let start = EncoderSettings::default();
    let start = EncoderSettings {
        bitrate_bps: start.bitrate_bps.min(config.max_video_bps),
        ..start
    };
    let encoder =
        EncodeThread::start(pictures, start, encoded_tx, preview_tx).map_err(|e| e.to_string())?;
    let audio = AudioEngine::start(&config.mic, config.speaker.clone(), config.processing)?;

    let (datagram_tx, mut datagrams) = datagram_queue();
    let mut sockets = Sockets::bind(&local_addresses(), datagram_tx)
        .await
        .map_err(|e| e.to_string())?;
    let local = sockets.local_addrs();
    // The addresses offered as host candidates.
    let mut hosts: Vec<SocketAddr> = if config.relay_only {
        Vec::new()
    } else {
        local.clone()
    };
    let mut gatherer = Gatherer::new(config.relay_only);
    // Candidates found through STUN and TURN: every new peer starts with them.
    let mut gathered: Vec<Candidate> = Vec::new();

    let mut remotes: HashMap<String, Remote> = HashMap::new();
    // Ours, sent with offers and answers: it outlives our peer id, which a signaling server
    // that restarts cannot give back.
    let session = random_id(9);
    let mut names: HashMap<String, String> = HashMap::new();
    // What each participant last said of their microphone and camera (it may come before
    // their connection does).
    let mut media: HashMap<String, (bool, bool)> = HashMap::new();
    let joined_at = Instant::now();
    let mut in_room: Option<Instant> = None;
    let mut last_report = Instant::now();
    let mut last_levels = Instant::now();
    let mut last_keyframe: Option<Instant> = None;
    // Why the server turned us away, in words for people (it closes the connection next).
    let mut refused: Option<String> = None;
    let mut mic_on = config.mic_on;
    audio.send.control().muted.store(!mic_on, Relaxed);
    // What the others were last told: pictures are coming.
    let mut camera_on = false;
    if let Some(problem) = camera_problem {
        report(CallReport::Device {
            device: Device::Camera,
            problem: Some(problem),
        });
    }
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let result = loop {
        tokio::select! {
            _ = stop.changed() => break Ok(()),
            event = signaling.events.recv() => {
                let Some(event) = event else { break Err("the signaling connection ended".into()) };
                match event {
                    Event::Joined { peers, resumed, ice_servers, .. } => {
                        let again = in_room.is_some();
                        report(CallReport::Signaling { connected: true });
                        if !again {
                            gather(&mut gatherer, &ice_servers, &local, &mut report).await;
                        }
                        in_room.get_or_insert_with(Instant::now);
                        report(CallReport::Notice(match (again, resumed) {
                            (false, _) => Notice::Joined { already: peers.len() },
                            (true, true) => Notice::BackInRoom,
                            // The server lost us (it restarted): everyone comes back under new
                            // ids, and connections that still work are kept (`resume`).
                            (true, false) => Notice::Rejoined { here: peers.len() },
                        }));
                        announce_media(&signaling.commands, mic_on, camera_on).await;
                        if !resumed {
                            for peer in peers {
                                names.insert(peer.id.clone(), peer.name.clone());
                                // The newcomer offers (PROTOCOL.md).
                                let mut remote = new_remote((&hosts, &gathered), &peer.id, &peer.name, config.render_video, true)?;
                                match remote.peer.create_offer() {
                                    Ok(sdp) => {
                                        send_signal(&signaling.commands, &peer.id, json!({"type": "offer", "sdp": sdp, "session": session})).await;
                                        remotes.insert(peer.id, remote);
                                    }
                                    Err(e) => report(CallReport::Notice(Notice::Problem(format!("cannot offer to {}: {e}", peer.name)))),
                                }
                            }
                        }
                    }
                    Event::PeerJoined(peer) => {
                        // The newcomer learns whether our microphone and camera are on.
                        announce_media(&signaling.commands, mic_on, camera_on).await;
                        names.insert(peer.id, peer.name);
                    }
                    Event::PeerLeft(id) => {
                        media.remove(&id);
                        if let Some(mut remote) = remotes.remove(&id) {
                            remote.peer.close();
                            let _ = audio.incoming.try_send(PlayoutInput::PeerLeft(remote.key.clone()));
                            report(CallReport::Notice(Notice::Left { name: remote.name.clone() }));
                            report(CallReport::Participant { id: remote.key, name: remote.name, state: PeerState::Left });
                        }
                    }
                    Event::Signal { from, data } => {
                        let name = names.get(&from).cloned().unwrap_or_else(|| from.clone());
                        let cx = SignalContext {
                            signaling: &signaling.commands,
                            hosts: &hosts,
                            gathered: &gathered,
                            render: config.render_video,
                            session: &session,
                        };
                        let offer = data.get("type").and_then(|t| t.as_str()) == Some("offer");
                        match on_signal(&cx, &mut remotes, &from, &name, &data).await {
                            Ok(Some(notice)) => report(CallReport::Notice(notice)),
                            Ok(None) => {}
                            Err(e) => report(CallReport::Notice(Notice::Problem(format!("from {name}: {e}")))),
                        }
                        // An offer may be an ICE restart after the path died: if this machine
                        // moved to another network, the peer needs its new addresses too.
                        if offer && let Some(added) = add_new_hosts(&mut sockets, &mut remotes, &signaling.commands, config.relay_only).await {
                            hosts.extend(added);
                        }
                    }
                    Event::Broadcast { from, data } => {
                        let id = remotes.get(&from).map_or(from.clone(), |r| r.key.clone());
                        if let Some((mic_on, camera_on)) = media_state(&data) {
                            media.insert(from, (mic_on, camera_on));
                            report(CallReport::Media { id, mic_on, camera_on });
                        } else if let Some(text) = chat_text(&data) {
                            let name = names.get(&from).cloned().unwrap_or_else(|| from.clone());
                            report(CallReport::Chat { id, name, text });
                        }
                    }
                    Event::Refused { code, message } => {
                        report(CallReport::Notice(Notice::Problem(format!("the server refused: {code}: {message}"))));
                        if let Some(sentence) = refusal(code) {
                            refused = Some(sentence.to_string());
                        }
                    }
                    Event::Reconnecting { attempt, after } => {
                        report(CallReport::Signaling { connected: false });
                        report(CallReport::Notice(Notice::SignalingLost { attempt, after }));
                    }
                    Event::Closed { reason } => break Err(refused.take().unwrap_or(reason)),
                }
            }
            datagram = datagrams.recv() => {
                let Some(datagram) = datagram else { break Err("the network sockets closed".into()) };
                deliver(&mut remotes, &mut gatherer, &datagram);
                // Whatever else has arrived goes in before one turn of the peers, not one turn
                // each (a 720p frame is a burst of a dozen datagrams).
                while let Ok(datagram) = datagrams.try_recv() {
                    deliver(&mut remotes, &mut gatherer, &datagram);
                }
            }
            Some(control) = controls.recv() => {
                match control {
                    CallControl::Chat(text) => {
                        send_chat(&signaling.commands, &text).await;
                        continue;
                    }
                    CallControl::Fit { id, width, height } => {
                        if let Some(remote) = remotes.values().find(|r| r.key == id) {
                            remote.decode_stats.fit_to(width, height);
                        }
                        continue;
                    }
                    CallControl::Mic(on) => {
                        mic_on = on;
                        audio.send.control().muted.store(!on, Relaxed);
                    }
                    CallControl::Camera(true) => {
                        // On once pictures come (below); if the device fails, it says so.
                        if let Err(problem) = camera.start() {
                            report(CallReport::Device { device: Device::Camera, problem: Some(problem) });
                        }
                    }
                    CallControl::Camera(false) => {
                        camera.stop();
                        camera_on = false;
                    }
                }
                announce_media(&signaling.commands, mic_on, camera_on).await;
            }
            _ = tick.tick() => {}
        }

        let now = Instant::now();
        // Media out: one encode for everyone, audio every 20 ms.
        while let Ok(packet) = audio.packets.try_recv() {
            for remote in remotes.values_mut() {
                let _ = remote
                    .peer
                    .send_audio(now, packet.timestamp, &packet.payload);
            }
        }
        while let Ok(frame) = encoded.try_recv() {
            if !camera_on {
                continue;
            }
            for remote in remotes.values_mut() {
                let _ = remote
                    .peer
                    .send_video(now, frame.captured, frame.data.clone());
            }
        }
        if let Some(image) = preview.take() {
            report(CallReport::Preview(image));
        }
        while let Some(event) = camera.next_event() {
            match event {
                CameraEvent::Started { .. } => {
                    // The first picture after a pause is one the others can decode.
                    encoder.control().request_keyframe();
                    report(CallReport::Device {
                        device: Device::Camera,
                        problem: None,
                    });
                }
                CameraEvent::Stopped(e) => {
                    report(CallReport::Device {
                        device: Device::Camera,
                        problem: Some(e.to_string()),
                    });
                }
                CameraEvent::BadFrame(why) => tracing::debug!("camera: a picture skipped: {why}"),
            }
        }
        if camera.is_live() != camera_on {
            camera_on = camera.is_live();
            announce_media(&signaling.commands, mic_on, camera_on).await;
        }
        while let Ok(event) = audio.events.try_recv() {
            let (device, problem) = match event {
                AudioEvent::MicStarted { .. } => (Device::Microphone, None),
                AudioEvent::MicLost(why) => (Device::Microphone, Some(why)),
                AudioEvent::SpeakerStarted { .. } => (Device::Speaker, None),
                AudioEvent::SpeakerLost(why) => (Device::Speaker, Some(why)),
            };
            report(CallReport::Device { device, problem });
        }

        // STUN and TURN: requests, refreshes, and candidates to add to every peer and trickle.
        gatherer.handle_timeout(now);
        for t in gatherer.take_transmits() {
            sockets.send(t.source, t.destination, &t.data);
        }
        let found: Vec<Candidate> = gatherer.take_candidates().collect();
        for candidate in found {
            announce(&mut remotes, &candidate, &signaling.commands).await;
            gathered.push(candidate);
        }
        for notice in gatherer.take_notices() {
            report(CallReport::Notice(Notice::Problem(notice)));
        }

        // Timers, then everything the peers have to send and say.
        let mut keyframe = false;
        let mut lowest_estimate: Option<u64> = None;
        let mut dropped = Vec::new();
        let mut restarts = Vec::new();
        let mut turn = Turn {
            now,
            gatherer: &mut gatherer,
            sockets: &sockets,
            playout: &audio.incoming,
            in_room,
            render: config.render_video,
        };
        for (id, remote) in remotes.iter_mut() {
            let outcome = remote.service(id, &mut turn, &mut report);
            keyframe |= outcome.keyframe;
            if let Some(bps) = outcome.allowed_bps {
                lowest_estimate = Some(lowest_estimate.map_or(bps, |l| l.min(bps)));
            }
            match outcome.verdict {
                Verdict::Fine => {}
                Verdict::RestartIce => restarts.push(id.clone()),
                Verdict::Drop => dropped.push(id.clone()),
            }
        }
        if !restarts.is_empty() {
            // The path died: perhaps this machine moved to another network, so offer its new
            // addresses with the restart.
            if let Some(added) = add_new_hosts(
                &mut sockets,
                &mut remotes,
                &signaling.commands,
                config.relay_only,
            )
            .await
            {
                hosts.extend(added);
            }
        }
        for id in restarts {
            let Some(remote) = remotes.get_mut(&id) else {
                continue;
            };
            match remote.peer.restart_ice() {
                Ok(sdp) => {
                    report(CallReport::Notice(Notice::LookingForPath {
                        name: remote.name.clone(),
                    }));
                    send_signal(
                        &signaling.commands,
                        &id,
                        json!({"type": "offer", "sdp": sdp, "session": session}),
                    )
                    .await;
                }
                Err(e) => report(CallReport::Notice(Notice::Problem(format!(
                    "cannot restart the path to {}: {e}",
                    remote.name
                )))),
            }
        }
        for id in dropped {
            if let Some(mut remote) = remotes.remove(&id) {
                remote.peer.close();
                let _ = audio
                    .incoming
                    .try_send(PlayoutInput::PeerLeft(remote.key.clone()));
                report(CallReport::Notice(Notice::Dropped {
                    name: remote.name.clone(),
                }));
                report(CallReport::Participant {
                    id: remote.key,
                    name: remote.name,
                    state: PeerState::Unreachable,
                });
            }
        }
        for remote in remotes.values_mut() {
            if let Some(state) = remote.new_state(now) {
                report(CallReport::Participant {
                    id: remote.key.clone(),
                    name: remote.name.clone(),
                    state,
                });
            }
        }
        if now - last_levels >= LEVELS_EVERY {
            last_levels = now;
            let heard = audio.playout.control().peers();
            for remote in remotes.values_mut() {
                let hold = heard.get(&remote.key).map_or(Duration::ZERO, |p| {
                    p.playout_delay.saturating_sub(AUDIO_MAY_LAG)
                });
                remote
                    .decode_stats
                    .hold_us
                    .store(hold.as_micros() as u64, Relaxed);
                remote.stats.video_hold = hold;
            }
            let remotes = remotes
                .values()
                .map(|r| (r.key.clone(), heard.get(&r.key).map_or(0.0, |p| p.level)))
                .collect();
            report(CallReport::Levels {
                local: audio.send.control().level(),
                remotes,
            });
        }
        // Opus protects against the loss of the worst path (in-band FEC sized by it).
        let worst_loss = remotes
            .values()
            .filter_map(|r| r.loss_out)
            .fold(0.0f32, f32::max);
        audio
            .send
            .control()
            .set_loss_percent((worst_loss * 100.0).round().clamp(0.0, 100.0) as u8);
        // The encoder follows the weakest path.
        if let Some(bps) = lowest_estimate {
            encoder
                .control()
                .set_bitrate(video_share(bps).min(config.max_video_bps));
        }
        if keyframe && last_keyframe.is_none_or(|t| now - t >= KEYFRAME_EVERY_AT_MOST) {
            last_keyframe = Some(now);
            encoder.control().request_keyframe();
        }
        let since = now - last_report;
        if since >= Duration::from_secs(1) {
            last_report = now;
            let t = (now - joined_at).as_secs_f64();
            let heard = audio.playout.control().peers();
            for (id, remote) in remotes.iter_mut() {
                // The beep starts at a whole second of the sender's clock (same machine, or
                // synchronised clocks): its latency is how far past the second it played.
                if let Some(played) = heard.get(&remote.key) {
                    remote.stats.audio_level = played.level;
                }
                if let Some(at) = heard.get(&remote.key).and_then(|p| p.beep_at) {
                    let wall = if at > now {
                        std::time::SystemTime::now() + (at - now)
                    } else {
                        std::time::SystemTime::now() - (now - at)
                    };
                    let into_second = wall
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .subsec_micros();
                    remote.stats.audio_latency_ms = Some(f64::from(into_second / 100) / 10.0);
                }
                remote.stats.media = media.get(id).copied();
                let frames = remote.decode_stats.decoded.load(Relaxed);
                let key = remote.key.clone();
                report(CallReport::Stats {
                    id: key,
                    line: remote.stats.report(t, id, frames, since.as_secs_f64()),
                });
            }
        }
    };

    let _ = signaling.commands.send(Command::Leave).await;
    // The leave must reach the server before the process ends: otherwise the others see us go
    // only after the server's grace period for dropped connections (20 s).
    let _ = tokio::time::timeout(LEAVE_LIMIT, async {
        while let Some(event) = signaling.events.recv().await {
            if matches!(event, Event::Closed { .. }) {
                break;
            }
        }
    })
    .await;
    for remote in remotes.values_mut() {
        remote.peer.close();
    }
    drop(sockets);
    result
}
