//! The seam for how a meeting is joined: a signaling protocol and the topology it implies (who
//! offers to whom, which connection carries whose media). Confer's own protocol with a mesh is
//! the first (`call::confer_mesh`); an SFU's is another, on the same call.
//!
//! A way is sans-IO like the rest of the call: the driver hands it what its signaling transport
//! heard (`Event`), it answers by working on the [`Room`] (connections, participants, notices)
//! and queueing its protocol's messages there (`Message`, sent by the driver). The call calls
//! it for what only the protocol can do: offer a dead path a new one, trickle a candidate,
//! tell the room about our media, chat, leave. docs/ARCHITECTURE.md says the same in prose.

use str0m::media::Mid;

use super::events::MediaState;
use super::ids::{ConnectionId, ParticipantId};
use super::room::Room;
use crate::rtc::peer::{Peer, PeerError};

pub trait JoinWay {
    /// What the way's signaling transport hears (typed, already decoded).
    type Event;
    /// What it sends through that transport.
    type Message;

    /// Something the signaling transport heard.
    fn handle_event(&mut self, room: &mut Room<Self::Message>, event: Self::Event);

    /// `connection` has been silent for seconds and this side restarts it: offer a new path
    /// (an ICE restart), or say why not.
    fn restart_path(&mut self, room: &mut Room<Self::Message>, connection: ConnectionId);

    /// A local candidate of `connection` found after its offer or answer: trickle it.
    fn trickle(&mut self, room: &mut Room<Self::Message>, connection: ConnectionId, line: String);

    /// The call asked for a keyframe of the video on `mids` of `connection` (a PLI went on
    /// it). A way whose server does not act on such PLIs asks it its own way; most need not.
    fn keyframe_wanted(
        &mut self,
        _room: &mut Room<Self::Message>,
        _connection: ConnectionId,
        _mids: &[Mid],
    ) {
    }

    /// `participant`'s pictures are shown in a tile this many pixels across and down: a way
    /// whose server forwards layers (simulcast) asks for the one the tile needs.
    fn tile_fit(
        &mut self,
        _room: &mut Room<Self::Message>,
        _participant: &ParticipantId,
        _width: u32,
        _height: u32,
    ) {
    }

    /// The share of what `connection` carries to us that was lost over the last second: a way
    /// whose server forwards layers falls back to smaller ones while it is high.
    fn receive_loss(
        &mut self,
        _room: &mut Room<Self::Message>,
        _connection: ConnectionId,
        _loss: f32,
    ) {
    }

    /// We share our screen (`on`) or stopped: the others are to receive it as a second video
    /// (a mesh renegotiates each connection, an SFU takes a second published stream). Called
    /// again when a connection comes up while we share; a way does what is not done yet. A
    /// way that cannot carry a share says so.
    fn share(&mut self, room: &mut Room<Self::Message>, on: bool);

    /// The call gave up on `connection` (it closed it; its participants are gone or moved).
    fn connection_closed(&mut self, room: &mut Room<Self::Message>, connection: ConnectionId);

    /// Our microphone and camera, as the others should see them: told at the start (before
    /// joining: for the join) and at each change. Newcomers are told too.
    fn announce_media(&mut self, room: &mut Room<Self::Message>, media: MediaState);

    /// A chat message to everyone.
    fn send_chat(&mut self, room: &mut Room<Self::Message>, text: String);

    /// We leave the meeting (the transport says when it is done: an event that ends the call).
    fn leave(&mut self, room: &mut Room<Self::Message>);
}

/// Offers of our share (or its end) in a row a connection may leave unagreed before we stop
/// offering it (a peer that answers each with the section inactive would otherwise be asked
/// forever).
const SHARE_TRIES: u8 = 3;

/// What reconciling our share on one connection comes to ([`reconcile_share`]).
pub(crate) enum ShareStep {
    /// Nothing to do now: agreed, not up yet, an offer of ours waits, or given up before.
    Nothing,
    /// They did not agree [`SHARE_TRIES`] times running: say so once, and stop offering.
    GiveUp,
    /// Send this offer, the way's way.
    Offer(String),
    Failed(PeerError),
}

/// One step of a way's share on `peer`: where what it carries differs from what we want
/// (`wanted`) and no offer of ours waits, an offer of the share (or its end). `tries` counts
/// the offers in a row not agreed to; the way keeps it per connection and calls again after
/// every answer and whenever the connection comes up. The mesh and Janus both use it.
pub(crate) fn reconcile_share(peer: &mut Peer, wanted: bool, tries: &mut u8) -> ShareStep {
    if !peer.is_connected() || peer.offer_pending() {
        return ShareStep::Nothing;
    }
    // Agreed, or never shared on this connection and nothing to stop.
    let done = peer.share_agreed() == wanted || (!wanted && !peer.has_share());
    *tries = if done { 0 } else { tries.saturating_add(1) };
    if done || *tries > SHARE_TRIES {
        return ShareStep::Nothing;
    }
    if *tries == SHARE_TRIES {
        return ShareStep::GiveUp;
    }
    match peer.offer_share(wanted) {
        Ok(sdp) => ShareStep::Offer(sdp),
        Err(e) => ShareStep::Failed(e),
    }
}
