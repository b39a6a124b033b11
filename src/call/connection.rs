//! One peer connection of a call and what hangs off it: when str0m wants its next turn, whether
//! its path still lives, what it can carry, and what it says of itself.

use std::net::SocketAddr;
use std::time::Instant;

use str0m::Candidate;

use super::liveness::Liveness;
use super::rate::PathRate;
use super::stats::PathFigures;
use crate::rtc::peer::{Peer, Towards};

pub struct Connection {
    pub peer: Peer,
    pub(crate) liveness: Liveness,
    /// When str0m wants its next timeout.
    pub(crate) wake: Instant,
    pub(crate) rate: PathRate,
    pub(crate) path: PathFigures,
    /// Our media goes out on it (a mesh: every connection; an SFU: the one we publish on).
    pub sends: bool,
}

impl Connection {
    /// A connection offering `hosts` and the candidates `gathered` so far; `offerer` is the
    /// side that made the first offer (and restarts ICE: one side only, or offers would cross).
    pub(crate) fn new(
        now: Instant,
        hosts: &[SocketAddr],
        gathered: &[Candidate],
        offerer: bool,
        towards: Towards,
    ) -> Self {
        let mut peer = Peer::towards(now, hosts, towards);
        for candidate in gathered {
            peer.add_local_candidate(candidate.clone());
        }
        Self {
            peer,
            liveness: Liveness::new(now, offerer),
            wake: now,
            rate: PathRate::default(),
            path: PathFigures::default(),
            sends: towards != Towards::SfuReceiving,
        }
    }
}
