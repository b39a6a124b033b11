//! One remote participant as the call engine holds them: the peer connection and everything
//! that hangs off it (decoder, stats, path rate, liveness).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::Candidate;

use super::events::PeerState;
use super::liveness::Liveness;
use super::rate::PathRate;
use super::stats::RemoteStats;
use crate::media::video::decode_thread::{DecodeInput, DecodeStats, DecodeThread, Picture};
use crate::media::video::mailbox::Receiver as Mailbox;
use crate::rtc::peer::Peer;

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
