//! The tokio side of a call: the I/O around the sans-IO call machine (`call::machine`). It
//! owns the UDP sockets, the signaling client, DNS lookups and the media threads, feeds what
//! they give to the machine with the time, and does what the machine's outputs say. One task
//! runs it; it never waits on anything but its inputs (the signaling client's queue included:
//! what it cannot take yet waits here, in order).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::confer_mesh::ConferMesh;
use super::events::{CallControl, CallError, CallReport, Setup};
use super::janus_room::JanusRoom;
use super::machine::{Call, CallSettings, Lookup, Output};
use super::media_threads::{MediaChoices, MediaThreads};
use super::way::JoinWay;
use crate::invite::Invite;
use crate::media::audio::processing::ProcessingSettings;
use crate::media::source::{CameraChoice, MicChoice, SpeakerChoice};
use crate::media::video::EncoderSettings;
use crate::rtc::driver::{Sockets, datagram_queue, local_addresses};
use crate::signal::client::{ClientConfig, SignalingClient};
use crate::signal::janus_client::JanusClient;
use crate::token::random_id;

/// How often the driver turns over when nothing wakes it: the media threads' queues are read
/// then.
const TICK: Duration = Duration::from_millis(5);
/// How long leaving waits for the server to have our `leave`.
const LEAVE_LIMIT: Duration = Duration::from_secs(1);
/// Messages for the signaling server kept while its client cannot take them; beyond this the
/// oldest go (the client keeps as many again while it reconnects).
const SIGNALING_KEPT: usize = 256;
/// Window controls waiting for the call (see `call::running`).
pub const CONTROLS_QUEUE: usize = 64;

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
    /// Convert shared screens' pictures even so (a headless run that keeps them).
    pub render_shares: bool,
    /// Reach peers only through the TURN servers (a browser's iceTransportPolicy "relay"):
    /// no host or server-reflexive candidates are offered.
    pub relay_only: bool,
    /// A sound when someone joins or leaves.
    pub chimes: bool,
}

/// Messages for the signaling client, handed over without waiting: what its queue cannot
/// take now goes at a later turn, in order.
struct SignalingOutbox<M> {
    client: mpsc::Sender<M>,
    waiting: VecDeque<M>,
    dropped: u64,
}

impl<M> SignalingOutbox<M> {
    fn push(&mut self, command: M) {
        if self.waiting.len() >= SIGNALING_KEPT {
            self.waiting.pop_front();
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(
                    "the signaling client is not taking messages; {} dropped, the oldest first",
                    self.dropped
                );
            }
        }
        self.waiting.push_back(command);
    }

    fn flush(&mut self) {
        while let Some(command) = self.waiting.pop_front() {
            match self.client.try_send(command) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(command)) => {
                    self.waiting.push_front(command);
                    return;
                }
                // The client is gone; the call hears it as an event.
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.waiting.clear();
                    return;
                }
            }
        }
    }
}

/// Connection attempts to the signaling server before the first join.
const FIRST_ATTEMPTS: u32 = 5;

/// Runs the meeting until `stop` turns true (Ok) or it cannot go on (Err with why), doing
/// what `controls` asks on the way. The link says how it is joined: Confer's own server (a
/// mesh) or a room of a Janus server.
pub async fn run(
    config: CallConfig,
    stop: watch::Receiver<bool>,
    controls: mpsc::Receiver<CallControl>,
    report: impl FnMut(CallReport),
) -> Result<(), CallError> {
    let setup = |e: crate::signal::client::ClientError| CallError::Setup {
        what: Setup::Signaling,
        reason: e.to_string(),
    };
    if config.invite.janus.is_some() {
        let client = JanusClient::start(config.invite.signaling_url(), Some(FIRST_ATTEMPTS))
            .map_err(setup)?;
        let way = JanusRoom::new(&config.invite, config.name.clone());
        let transport = (client.commands, client.events);
        return drive(config, way, transport, stop, controls, report).await;
    }
    let signaling = SignalingClient::start(ClientConfig {
        url: config.invite.signaling_url(),
        room: config.invite.room.clone(),
        token: config.invite.token.clone(),
        name: config.name.clone(),
        extra_roots: Vec::new(),
        max_attempts: Some(FIRST_ATTEMPTS),
    })
    .map_err(setup)?;
    // Our call session: it outlives our peer id, which a signaling server that restarts
    // cannot give back.
    let way = ConferMesh::new(random_id(9));
    let transport = super::confer_transport::start(signaling);
    drive(config, way, transport, stop, controls, report).await
}

/// The call's loop, whichever way it joins: `transport` is the signaling client's queues.
async fn drive<W: JoinWay>(
    config: CallConfig,
    way: W,
    (commands, mut events): (mpsc::Sender<W::Message>, mpsc::Receiver<W::Event>),
    mut stop: watch::Receiver<bool>,
    mut controls: mpsc::Receiver<CallControl>,
    mut report: impl FnMut(CallReport),
) -> Result<(), CallError> {
    let camera_on = config.camera_on && config.camera != CameraChoice::Off;
    let mut media = MediaThreads::start(MediaChoices {
        camera: config.camera,
        mic: config.mic,
        speaker: config.speaker,
        processing: config.processing,
        start_bps: EncoderSettings::default()
            .bitrate_bps
            .min(config.max_video_bps),
        render: config.render_video,
        render_shares: config.render_shares,
    })?;
    let (datagram_tx, mut datagrams) = datagram_queue();
    let mut sockets = Sockets::bind(&local_addresses(), datagram_tx)
        .await
        .map_err(|e| CallError::Setup {
            what: Setup::Network,
            reason: e.to_string(),
        })?;
    let settings = CallSettings {
        render_video: config.render_video,
        relay_only: config.relay_only,
        max_video_bps: config.max_video_bps,
        mic_on: config.mic_on,
        camera_on,
        chimes: config.chimes,
    };
    let mut call = Call::new(Instant::now(), settings, way, sockets.local_addrs());
    let mut outbox = SignalingOutbox {
        client: commands,
        waiting: VecDeque::new(),
        dropped: 0,
    };
    let (found_tx, mut found) = mpsc::channel::<(Lookup, Result<Option<SocketAddr>, String>)>(16);
    let mut leave_by: Option<tokio::time::Instant> = None;

    let result = 'call: loop {
        // Everything the call wants done.
        let wake = loop {
            match call.poll() {
                Output::Transmit(t) => sockets.send(t.source, t.destination, &t.data),
                Output::Signal(command) => outbox.push(command),
                Output::Report(r) => report(r),
                Output::Media(command) => media.apply(Instant::now(), &mut call, command),
                Output::Lookup(lookup) => {
                    let found_tx = found_tx.clone();
                    tokio::spawn(async move {
                        let target = (lookup.host.as_str(), lookup.port);
                        let result = tokio::net::lookup_host(target)
                            .await
                            .map(|mut addresses| addresses.next())
                            .map_err(|e| e.to_string());
                        let _ = found_tx.send((lookup, result)).await;
                    });
                }
                Output::FindAddresses => {
                    let added = sockets.bind_new(&local_addresses()).await;
                    call.handle_addresses(Instant::now(), added);
                }
                Output::Measure => call.handle_measurements(Instant::now(), media.measure()),
                Output::Ended(result) => break 'call result,
                Output::Timeout(at) => break at,
            }
        };
        outbox.flush();
        let wake = tokio::time::Instant::from_std(wake).min(tokio::time::Instant::now() + TICK);
        tokio::select! {
            _ = stop.changed(), if leave_by.is_none() => {
                call.leave(Instant::now());
                leave_by = Some(tokio::time::Instant::now() + LEAVE_LIMIT);
            }
            // The leave must reach the server before the process ends: otherwise the others
            // see us go only after the server's grace period for dropped connections (20 s).
            // Past this, we go anyway.
            _ = tokio::time::sleep_until(leave_by.unwrap_or_else(tokio::time::Instant::now)), if leave_by.is_some() => {
                break 'call Ok(());
            }
            event = events.recv() => match event {
                Some(event) => call.handle_signaling(Instant::now(), event),
                None if leave_by.is_some() => break 'call Ok(()),
                None => break 'call Err(CallError::SignalingEnded),
            },
            datagram = datagrams.recv() => {
                let Some(d) = datagram else { break 'call Err(CallError::NetworkGone) };
                call.handle_datagram(d.at, d.source, d.destination, &d.data);
                // Whatever else has arrived goes in before one turn of the call, not one turn
                // each (a 720p picture is a burst of a dozen datagrams).
                while let Ok(d) = datagrams.try_recv() {
                    call.handle_datagram(d.at, d.source, d.destination, &d.data);
                }
            }
            Some(control) = controls.recv() => call.handle_control(Instant::now(), control),
            Some((lookup, result)) = found.recv() => call.handle_lookup(Instant::now(), &lookup, result),
            _ = tokio::time::sleep_until(wake) => {}
        }
        let now = Instant::now();
        media.collect(now, &mut call, &mut report);
        call.handle_timeout(now);
    };
    // What is still queued goes to the client, which sends it on its own.
    outbox.flush();
    drop(call);
    drop(sockets);
    result
}
