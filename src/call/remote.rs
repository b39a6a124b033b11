//! One remote participant as the call engine holds them: the peer connection and everything
//! that hangs off it (decoder, stats, path rate, liveness).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use str0m::Candidate;

use super::events::{CallReport, PeerState};
use super::liveness::{Liveness, RESTART_AFTER, Verdict};
use super::rate::PathRate;
use super::stats::RemoteStats;
use crate::media::audio::engine::PlayoutInput;
use crate::media::video::decode_thread::{DecodeInput, DecodeStats, DecodeThread, Picture};
use crate::media::video::mailbox::Receiver as Mailbox;
use crate::rtc::driver::Sockets;
use crate::rtc::gather::{Gatherer, Route};
use crate::rtc::peer::{Peer, PeerEvent};

const PLI_EVERY_AT_MOST: Duration = Duration::from_millis(500);

/// What a turn of the engine lends each remote.
pub(super) struct Turn<'a> {
    pub(super) now: Instant,
    pub(super) gatherer: &'a mut Gatherer,
    pub(super) sockets: &'a Sockets,
    pub(super) playout: &'a SyncSender<PlayoutInput>,
    /// When we entered the room (for the time to the first picture).
    pub(super) in_room: Option<Instant>,
    /// Pictures go to a screen (a window), not only into the stats.
    pub(super) render: bool,
}

/// What a remote's turn asks of the whole call.
pub(super) struct Outcome {
    /// Our next picture must be a keyframe (they connected, or asked for one).
    pub(super) keyframe: bool,
    /// What the path to them can carry now, bit/s.
    pub(super) allowed_bps: Option<u64>,
    pub(super) verdict: Verdict,
}

pub(super) struct Remote {
    pub(super) name: String,
    /// The id this participant had when the connection was made: their audio stays under it
    /// when the signaling server gives them a new one (see `resume`).
    pub(super) key: String,
    /// The remote's call session, from its offer or answer: the same person under a new id
    /// after a signaling server restart has the same session.
    pub(super) session: Option<String>,
    pub(super) peer: Peer,
    pub(super) liveness: Liveness,
    pub(super) wake: Instant,
    pub(super) decode: DecodeInput,
    pub(super) pictures: Mailbox<Picture>,
    pub(super) _decoder: DecodeThread,
    pub(super) stats: RemoteStats,
    pub(super) decode_stats: Arc<DecodeStats>,
    /// What the path to them can carry.
    pub(super) rate: PathRate,
    /// The state last reported.
    pub(super) shown: Option<PeerState>,
    /// What the remote reports losing of what we send (0 to 1).
    pub(super) loss_out: Option<f32>,
    pub(super) last_pli: Option<Instant>,
}

/// A connection to a participant; `hosts` and `gathered` are our candidates so far.
pub(super) fn new_remote(
    (hosts, gathered): (&[SocketAddr], &[Candidate]),
    id: &str,
    name: &str,
    render: bool,
    offerer: bool,
) -> Result<Remote, String> {
    let now = Instant::now();
    let mut peer = Peer::new(now, hosts);
    for candidate in gathered {
        peer.add_local_candidate(candidate.clone());
    }
    let (decode, pictures, decoder) =
        crate::media::video::decode_thread::start_decoder(render).map_err(|e| e.to_string())?;
    let decode_stats = Arc::clone(decode.stats());
    Ok(Remote {
        name: name.to_string(),
        key: id.to_string(),
        session: None,
        peer,
        liveness: Liveness::new(now, offerer),
        wake: now,
        decode,
        pictures,
        _decoder: decoder,
        stats: RemoteStats::new(name.to_string()),
        decode_stats,
        rate: PathRate::default(),
        shown: None,
        loss_out: None,
        last_pli: None,
    })
}

impl Remote {
    /// One turn of the engine for this participant: timers, keyframe requests, what the peer
    /// sends (to the sockets) and says (to the decoder, playout, stats and rate), new pictures
    /// (to `report`), and whether the path still lives.
    pub(super) fn service(
        &mut self,
        id: &str,
        turn: &mut Turn<'_>,
        report: &mut dyn FnMut(CallReport),
    ) -> Outcome {
        let now = turn.now;
        let mut keyframe = false;
        if now >= self.wake {
            let _ = self.peer.handle_timeout(now);
        }
        if self.decode_stats.keyframe_needed.swap(false, Relaxed)
            && self.last_pli.is_none_or(|t| now - t >= PLI_EVERY_AT_MOST)
        {
            self.last_pli = Some(now);
            let _ = self.peer.request_keyframe();
        }
        loop {
            match self.peer.poll() {
                Ok(Ok(t)) => match turn.gatherer.route(now, &t) {
                    Route::Direct => turn.sockets.send(t.source, t.destination, &t.data),
                    Route::Relayed(Some(r)) => turn.sockets.send(r.source, r.destination, &r.data),
                    Route::Relayed(None) => {}
                },
                Ok(Err(at)) => {
                    self.wake = at;
                    break;
                }
                Err(e) => {
                    tracing::debug!("peer {id}: {e}");
                    break;
                }
            }
        }
        let events: Vec<PeerEvent> = self.peer.take_events().collect();
        for event in events {
            keyframe |= self.on_event(now, event, turn.playout);
        }
        while let Some(picture) = self.pictures.take() {
            if self.stats.first_frame.is_none() {
                self.stats.first_frame = turn.in_room.map(|t| now - t);
            }
            self.stats.picture(
                now,
                picture.stream_size.0,
                picture.stream_size.1,
                picture.stripe.map(|s| s.captured),
                picture.shown_at,
            );
            if turn.render {
                let id = self.key.clone();
                report(CallReport::Picture { id, picture });
            }
        }
        let verdict = self
            .liveness
            .check(now, self.peer.is_connected(), self.peer.last_heard());
        Outcome {
            keyframe,
            allowed_bps: self.rate.allowed(),
            verdict,
        }
    }

    /// What the peer said; true when our next picture must be a keyframe.
    fn on_event(
        &mut self,
        now: Instant,
        event: PeerEvent,
        playout: &SyncSender<PlayoutInput>,
    ) -> bool {
        match event {
            PeerEvent::Connected => {
                self.stats.state = "connected";
                return true;
            }
            PeerEvent::Disconnected => self.stats.state = "disconnected",
            PeerEvent::Audio { seq, payload } => {
                self.stats.audio_packets_in += 1;
                let _ = playout.try_send(PlayoutInput::Packet {
                    peer: self.key.clone(),
                    seq,
                    payload: payload.to_vec(),
                    arrived: now,
                });
            }
            PeerEvent::Video {
                data, contiguous, ..
            } => {
                // A gap before this frame breaks every picture until a keyframe.
                if !contiguous {
                    self.decode_stats.keyframe_needed.store(true, Relaxed);
                }
                self.decode.push(data);
            }
            PeerEvent::KeyframeRequested => return true,
            PeerEvent::BitrateEstimate(bps) => self.rate.on_estimate(bps),
            PeerEvent::Stats(s) => {
                self.stats.rtt = s.rtt;
                if let Some(rtt) = s.rtt {
                    self.rate.on_rtt(now, rtt);
                }
                self.stats.loss_in = s.loss_in;
                self.stats.bytes_in = s.bytes_in;
                self.stats.bytes_out = s.bytes_out;
                self.stats.candidate_pair = s.candidate_pair;
                self.stats.jitter = s.jitter;
                self.loss_out = s.loss_out;
                if let Some(loss) = s.loss_out {
                    self.rate.on_loss(now, loss);
                }
            }
        }
        false
    }

    /// Where the connection stands, when that changed since it was last reported.
    pub(super) fn new_state(&mut self, now: Instant) -> Option<PeerState> {
        let state = if !self.peer.is_connected() {
            PeerState::Connecting
        } else if self
            .peer
            .last_heard()
            .is_some_and(|t| now - t > RESTART_AFTER)
        {
            PeerState::Reconnecting
        } else {
            PeerState::Connected
        };
        (self.shown != Some(state)).then(|| {
            self.shown = Some(state);
            state
        })
    }
}
