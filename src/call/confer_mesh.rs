//! Joining through Confer's own signaling server (docs/PROTOCOL.md) as a mesh: a connection
//! with each participant, the newcomer offering to everyone already there. Its additions to
//! plain WebRTC signaling live here too: the call `session` that outlives a peer id, ICE
//! restarts on the same connection, and `resume` after a server restart. A room that
//! outgrows the mesh moves its media to the Janus room its server names (`media`): an embedded
//! `JanusRoom` carries it from then on, while everything above the media stays here.

use std::collections::BTreeMap;

use str0m::media::Mid;

use super::events::{CallError, MediaState, Notice};
use super::ids::{ConnectionId, ParticipantId};
use super::janus_room::JanusRoom;
use super::room::{Farewell, Room};
use super::way::{JoinWay, ShareStep, reconcile_share};
use crate::rtc::peer::Towards;
use crate::signal::client::{Closed, Command, Event};
use crate::signal::janus_client::{JanusCommand, JanusEvent};
use crate::signal::proto::{MediaRoute, PeerId, PeerInfo};
use crate::signal::relayed::{PeerSignal, RoomMessage, clean_chat};

/// What the way sends: Confer's server its protocol's messages; once the room's media moved to
/// Janus, Janus its own (the transport opens that connection at `OpenJanus`).
#[derive(Debug)]
pub enum ConferMessage {
    Confer(Command),
    OpenJanus(String),
    Janus(JanusCommand),
}

impl From<Command> for ConferMessage {
    fn from(command: Command) -> Self {
        ConferMessage::Confer(command)
    }
}

impl From<JanusCommand> for ConferMessage {
    fn from(command: JanusCommand) -> Self {
        ConferMessage::Janus(command)
    }
}

/// What the way hears: Confer's server, and Janus once the media moved there.
#[derive(Debug)]
pub enum ConferEvent {
    Confer(Event),
    Janus(JanusEvent),
}

/// Someone in the room, as the server listed them.
struct Member {
    name: String,
    /// Their microphone, camera and hand as they said (it may come before their connection).
    media: Option<MediaState>,
}

/// Our connection with one participant.
struct Link {
    peer: PeerId,
    participant: ParticipantId,
    /// Their call session, from their offer or answer.
    session: Option<String>,
    /// Offers of our share (or its end) in a row that they did not agree to.
    share_tries: u8,
}

pub struct ConferMesh {
    /// Ours, sent with offers and answers: it outlives our peer id, which a signaling server
    /// that restarts cannot give back.
    session: String,
    members: BTreeMap<PeerId, Member>,
    links: BTreeMap<ConnectionId, Link>,
    /// Our microphone, camera and hand as last announced (newcomers are told them too).
    media: MediaState,
    /// Why the server turned us away, when it did (it closes the connection next).
    refused: Option<CallError>,
    /// Our peer id, from the last welcome.
    me: Option<PeerId>,
    /// Where the media goes once the room outgrew the mesh: a Janus room (docs/PROTOCOL.md).
    sfu: Option<JanusRoom>,
    /// We share our screen: each connection is to carry it (its own offer, `reconcile_share`).
    sharing: bool,
}

impl ConferMesh {
    /// `session`: a random string of ours for the whole call.
    pub fn new(session: String) -> Self {
        Self {
            session,
            members: BTreeMap::new(),
            links: BTreeMap::new(),
            media: MediaState {
                camera_on: false,
                ..MediaState::default()
            },
            refused: None,
            me: None,
            sfu: None,
            sharing: false,
        }
    }

    /// Offers `connection` our share, or its end, where what was agreed on it differs from
    /// what we want, unless an offer of ours waits for its answer there (this is done again
    /// when it comes) or the connection is not up yet (done again when it is).
    fn reconcile_share(&mut self, room: &mut Room<ConferMessage>, connection: ConnectionId) {
        let Some(link) = self.links.get_mut(&connection) else {
            return;
        };
        let peer_id = link.peer.clone();
        let Some(peer) = room.peer(connection) else {
            return;
        };
        let step = reconcile_share(peer, self.sharing, &mut link.share_tries);
        let name = self.name_of(&peer_id);
        match step {
            ShareStep::Nothing => {}
            ShareStep::GiveUp => room.notice(Notice::Problem(format!(
                "{name} does not take our shared screen"
            ))),
            ShareStep::Offer(sdp) => {
                let session = Some(self.session.clone());
                Self::signal(room, &peer_id, PeerSignal::Offer { sdp, session });
            }
            ShareStep::Failed(e) => room.notice(Notice::Problem(format!(
                "cannot offer our screen to {name}: {e}"
            ))),
        }
    }

    /// Whether we give way when an offer of theirs crosses one of ours (both offered on the
    /// connection at once): the side whose peer id sorts lower, byte by byte, does
    /// (docs/PROTOCOL.md).
    fn polite_towards(&self, peer: &PeerId) -> bool {
        self.me
            .as_ref()
            .is_some_and(|me| me.as_str().as_bytes() < peer.as_str().as_bytes())
    }

    /// The room's media goes through an SFU from now on: the mesh's connections close (their
    /// participants come back as their feeds arrive through Janus) and Janus is joined. Once:
    /// a room never moves back.
    fn move_media(&mut self, room: &mut Room<ConferMessage>, route: MediaRoute) {
        if self.sfu.is_some() || route.via != "janus" {
            return;
        }
        let Some(me) = self.me.clone() else {
            return;
        };
        for (connection, link) in std::mem::take(&mut self.links) {
            room.remove_participant(&link.participant, Farewell::Quietly);
            room.close_connection(connection, Farewell::Quietly);
        }
        let mut sfu = JanusRoom::for_confer_room(&route, me.to_string());
        for (peer, member) in &self.members {
            sfu.member(room, peer.as_str(), &member.name, member.media);
        }
        self.sfu = Some(sfu);
        room.send(ConferMessage::OpenJanus(route.url));
    }

    /// Someone in the room, as the server listed them.
    fn meet(&mut self, peer: &PeerInfo) {
        let member = Member {
            name: peer.name.clone(),
            media: None,
        };
        self.members.insert(peer.id.clone(), member);
    }

    fn link_of(&self, peer: &PeerId) -> Option<ConnectionId> {
        self.links
            .iter()
            .find(|(_, link)| link.peer == *peer)
            .map(|(id, _)| *id)
    }

    fn name_of(&self, peer: &PeerId) -> String {
        self.members
            .get(peer)
            .map_or_else(|| peer.to_string(), |m| m.name.clone())
    }

    /// The connection we hold with `session` under another id than `peer`'s.
    fn same_session(&self, peer: &PeerId, session: &str) -> Option<ConnectionId> {
        self.links
            .iter()
            .find(|(_, l)| l.peer != *peer && l.session.as_deref() == Some(session))
            .map(|(id, _)| *id)
    }

    /// An id for a new participant: their peer id, unless the call already has that one.
    fn fresh_participant(room: &Room<ConferMessage>, peer: &PeerId) -> ParticipantId {
        let mut id = ParticipantId::from(peer.as_str());
        let mut n = 1;
        while room.participant(&id).is_some() {
            n += 1;
            id = ParticipantId::from(format!("{peer}~{n}"));
        }
        id
    }

    fn broadcast_media(&self, room: &mut Room<ConferMessage>) {
        let said = self.media;
        room.send(
            Command::Broadcast(RoomMessage::MediaState {
                audio: said.mic_on,
                video: said.camera_on,
                hand: said.hand_up,
            })
            .into(),
        );
    }

    fn signal(room: &mut Room<ConferMessage>, to: &PeerId, signal: PeerSignal) {
        room.send(
            Command::Signal {
                to: to.clone(),
                signal,
            }
            .into(),
        );
    }

    /// Our answer, with our session.
    fn answer(&self, room: &mut Room<ConferMessage>, to: &PeerId, sdp: String) {
        let session = Some(self.session.clone());
        Self::signal(room, to, PeerSignal::Answer { sdp, session });
    }

    /// The newcomer offers to everyone already there (PROTOCOL.md). `told`: the window hears
    /// of them at once (see [`Room::tell`]).
    fn offer_to(&mut self, room: &mut Room<ConferMessage>, peer: PeerId, told: bool) {
        let connection = room.open_connection(true, Towards::Participant);
        let offer = match room.peer(connection).map(|p| p.create_offer()) {
            Some(Ok(sdp)) => sdp,
            Some(Err(e)) => {
                let name = self.name_of(&peer);
                room.close_connection(connection, Farewell::Quietly);
                room.notice(Notice::Problem(format!("cannot offer to {name}: {e}")));
                return;
            }
            None => return,
        };
        let participant = Self::fresh_participant(room, &peer);
        let media = self.members.get(&peer).and_then(|m| m.media);
        room.add_participant(
            participant.clone(),
            peer.to_string(),
            self.name_of(&peer),
            media,
            told,
        );
        room.attach(&participant, connection, None);
        self.links.insert(
            connection,
            Link {
                peer: peer.clone(),
                participant,
                session: None,
                share_tries: 0,
            },
        );
        let session = Some(self.session.clone());
        Self::signal(
            room,
            &peer,
            PeerSignal::Offer {
                sdp: offer,
                session,
            },
        );
    }

    /// The connection `kept` goes on under `peer`'s new id; one we had started for that id
    /// (our offer to them) is not needed.
    fn carry_on(&mut self, room: &mut Room<ConferMessage>, kept: ConnectionId, peer: &PeerId) {
        if let Some(started) = self.link_of(peer)
            && started != kept
            && let Some(link) = self.links.remove(&started)
        {
            room.remove_participant(&link.participant, Farewell::Quietly);
            room.close_connection(started, Farewell::Quietly);
        }
        if let Some(link) = self.links.get_mut(&kept) {
            link.peer = peer.clone();
            room.set_peer_id(&link.participant, peer.to_string());
        }
    }

    fn on_signal(
        &mut self,
        room: &mut Room<ConferMessage>,
        from: PeerId,
        signal: PeerSignal,
    ) -> Result<(), String> {
        let name = self.name_of(&from);
        match signal {
            PeerSignal::Offer { sdp, session } => {
                // It may be an ICE restart after the path died: if this machine moved to
                // another network, the peer needs its new addresses too.
                room.find_new_addresses();
                // Someone we are connected to, back under a new id: keep the connection.
                if let Some(kept) = session
                    .as_deref()
                    .and_then(|s| self.same_session(&from, s))
                    .filter(|c| room.is_connected(*c))
                {
                    self.carry_on(room, kept, &from);
                    let session = self.session.clone();
                    Self::signal(room, &from, PeerSignal::Resume { session });
                    room.notice(Notice::CarriedOn { name });
                    return Ok(());
                }
                // The same connection offered again: an ICE restart (it goes on with new
                // credentials) or a change of what it carries (a share).
                if let Some(connection) = self.link_of(&from)
                    && session.is_some()
                    && self
                        .links
                        .get(&connection)
                        .is_some_and(|l| l.session == session)
                {
                    let polite = self.polite_towards(&from);
                    let peer = room.peer(connection).ok_or("a connection that is gone")?;
                    if peer.offer_pending() && !polite {
                        // Both offered at once: they give way, answer ours, and offer again.
                        tracing::debug!("{name}'s offer crossed ours: kept ours");
                        return Ok(());
                    }
                    let restart = peer.is_ice_restart(&sdp);
                    let answer = peer.accept_offer(&sdp).map_err(|e| e.to_string())?;
                    self.answer(room, &from, answer);
                    if restart {
                        room.notice(Notice::TheyLookForPath { name });
                    }
                    // An offer of ours they crossed was dropped: what it carried goes again.
                    self.reconcile_share(room, connection);
                    return Ok(());
                }
                // Otherwise a new connection: they are new, or came back.
                let connection = room.open_connection(false, Towards::Participant);
                let answer = match room.peer(connection).map(|p| p.accept_offer(&sdp)) {
                    Some(Ok(answer)) => answer,
                    Some(Err(e)) => {
                        room.close_connection(connection, Farewell::Quietly);
                        return Err(e.to_string());
                    }
                    None => return Err("a connection that is gone".into()),
                };
                let participant = match self.link_of(&from) {
                    // It replaces the connection we had with them; they stay who they were.
                    Some(old) => {
                        let link = self.links.remove(&old).ok_or("a link that is gone")?;
                        room.attach(&link.participant, connection, None);
                        room.close_connection(old, Farewell::Quietly);
                        link.participant
                    }
                    None => {
                        let participant = Self::fresh_participant(room, &from);
                        let media = self.members.get(&from).and_then(|m| m.media);
                        room.add_participant(
                            participant.clone(),
                            from.to_string(),
                            name,
                            media,
                            true,
                        );
                        room.attach(&participant, connection, None);
                        participant
                    }
                };
                self.links.insert(
                    connection,
                    Link {
                        peer: from.clone(),
                        participant,
                        session,
                        share_tries: 0,
                    },
                );
                self.answer(room, &from, answer);
                Ok(())
            }
            PeerSignal::Answer { sdp, session } => {
                let connection = self.link_of(&from).ok_or("an answer to no offer")?;
                let link = self
                    .links
                    .get_mut(&connection)
                    .ok_or("an answer to no offer")?;
                link.session = session;
                let participant = link.participant.clone();
                let peer = room.peer(connection).ok_or("an answer to no offer")?;
                peer.accept_answer(&sdp).map_err(|e| e.to_string())?;
                room.tell(&participant);
                // What changed while this offer waited (a share begun or ended) goes now.
                self.reconcile_share(room, connection);
                Ok(())
            }
            // Our offer reached someone who still has a working connection with us: it goes
            // on under their new id, and the offer's connection is not needed.
            PeerSignal::Resume { session } => {
                let kept = self
                    .same_session(&from, &session)
                    .ok_or("a resume of no connection")?;
                self.carry_on(room, kept, &from);
                room.notice(Notice::CarriedOn { name });
                Ok(())
            }
            PeerSignal::Candidate { candidate } => {
                // None, or an empty line: the end of their candidates.
                let Some(line) = candidate.map(|c| c.candidate).filter(|l| !l.is_empty()) else {
                    return Ok(());
                };
                let connection = self.link_of(&from).ok_or("a candidate for no connection")?;
                let peer = room
                    .peer(connection)
                    .ok_or("a candidate for no connection")?;
                peer.add_remote_candidate(&line)
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
        }
    }
}

impl ConferMesh {
    fn on_server_event(&mut self, room: &mut Room<ConferMessage>, event: Event) {
        match event {
            Event::MediaMoved(route) => self.move_media(room, route),
            // Past the mesh, what peers signal is no longer for us (a late offer of someone
            // who had not heard of the move yet).
            Event::Signal { .. } if self.sfu.is_some() => {}
            Event::Joined {
                id,
                peers,
                resumed,
                ice_servers,
                media,
            } => {
                self.me = Some(id);
                let again = room.entered_before();
                room.signaling(true);
                if !again {
                    room.use_ice_servers(&ice_servers);
                }
                room.enter();
                room.notice(match (again, resumed) {
                    (false, _) => Notice::Joined {
                        already: peers.len(),
                    },
                    (true, true) => Notice::BackInRoom,
                    // The server lost us (it restarted): everyone comes back under new ids, and
                    // connections that still work are kept (`resume`).
                    (true, false) => Notice::Rejoined { here: peers.len() },
                });
                self.broadcast_media(room);
                if self.sfu.is_some() || media.is_some() {
                    // Through an SFU: no offers; the people list is all this server gives.
                    for peer in &peers {
                        self.meet(peer);
                        if let Some(sfu) = &mut self.sfu {
                            sfu.member(room, peer.id.as_str(), &peer.name, None);
                        }
                    }
                    if let Some(route) = media {
                        self.move_media(room, route);
                    }
                } else if !resumed {
                    for peer in peers {
                        self.meet(&peer);
                        // After a restart the one we offer to may be someone still connected
                        // under their old id: the window hears of them once they answer.
                        self.offer_to(room, peer.id, !again);
                    }
                }
            }
            Event::PeerJoined(peer) => {
                room.notice(Notice::Arrived {
                    name: peer.name.clone(),
                });
                self.meet(&peer);
                if let Some(sfu) = &mut self.sfu {
                    sfu.member(room, peer.id.as_str(), &peer.name, None);
                }
                // The newcomer learns whether our microphone and camera are on.
                self.broadcast_media(room);
            }
            Event::PeerLeft(peer) => {
                self.members.remove(&peer);
                if let Some(sfu) = &mut self.sfu {
                    sfu.member_left(peer.as_str());
                    room.remove_participant(&ParticipantId::from(peer.as_str()), Farewell::Left);
                }
                if let Some(connection) = self.link_of(&peer)
                    && let Some(link) = self.links.remove(&connection)
                {
                    room.remove_participant(&link.participant, Farewell::Left);
                    room.close_connection(connection, Farewell::Left);
                }
            }
            Event::Signal { from, signal } => {
                let name = self.name_of(&from);
                if let Err(e) = signal.and_then(|signal| self.on_signal(room, from, signal)) {
                    room.notice(Notice::Problem(format!("from {name}: {e}")));
                }
            }
            Event::Broadcast { from, message } => {
                // Through an SFU, participants are known by their peer id.
                let participant = self
                    .link_of(&from)
                    .and_then(|c| self.links.get(&c))
                    .map(|l| l.participant.clone())
                    .or_else(|| {
                        self.sfu
                            .is_some()
                            .then(|| ParticipantId::from(from.as_str()))
                    });
                match message {
                    RoomMessage::MediaState { audio, video, hand } => {
                        let said = MediaState {
                            mic_on: audio,
                            camera_on: video,
                            hand_up: hand,
                        };
                        if let Some(member) = self.members.get_mut(&from) {
                            member.media = Some(said);
                            if let Some(sfu) = &mut self.sfu {
                                let name = member.name.clone();
                                sfu.member(room, from.as_str(), &name, Some(said));
                            }
                        }
                        if let Some(participant) = participant {
                            room.set_media(&participant, said);
                        }
                    }
                    RoomMessage::Chat { text } => {
                        if let Some(text) = clean_chat(&text) {
                            let id =
                                participant.unwrap_or_else(|| ParticipantId::from(from.as_str()));
                            let name = self.name_of(&from);
                            room.report(super::events::CallReport::Chat { id, name, text });
                        }
                    }
                }
            }
            Event::Refused { code, message } => {
                room.notice(Notice::Problem(format!(
                    "the server refused: {code}: {message}"
                )));
                if code.closes() {
                    self.refused = Some(CallError::refused(code, message));
                }
            }
            Event::Reconnecting { attempt, after } => {
                room.signaling(false);
                room.notice(Notice::SignalingLost { attempt, after });
            }
            Event::Closed(closed) => {
                let result = match closed {
                    Closed::Left => Ok(()),
                    Closed::Refused { code, message } => Err(self
                        .refused
                        .take()
                        .unwrap_or(CallError::refused(code, message))),
                    Closed::Unreachable { attempts } => Err(CallError::Unreachable { attempts }),
                    Closed::Abandoned => Err(CallError::SignalingEnded),
                };
                room.end(result);
            }
        }
    }
}

impl JoinWay for ConferMesh {
    type Event = ConferEvent;
    type Message = ConferMessage;

    fn handle_event(&mut self, room: &mut Room<ConferMessage>, event: ConferEvent) {
        match event {
            ConferEvent::Confer(event) => self.on_server_event(room, event),
            ConferEvent::Janus(event) => {
                if let Some(sfu) = &mut self.sfu {
                    sfu.handle_event_in(room, event);
                }
            }
        }
    }

    fn restart_path(&mut self, room: &mut Room<ConferMessage>, connection: ConnectionId) {
        if let Some(sfu) = self.sfu.as_mut().filter(|s| s.owns(connection)) {
            sfu.restart_path_in(room, connection);
            return;
        }
        let Some(link) = self.links.get(&connection) else {
            return;
        };
        let (peer, name) = (link.peer.clone(), self.name_of(&link.peer));
        match room.peer(connection).map(|p| p.restart_ice()) {
            Some(Ok(sdp)) => {
                room.notice(Notice::LookingForPath { name });
                let session = Some(self.session.clone());
                Self::signal(room, &peer, PeerSignal::Offer { sdp, session });
            }
            Some(Err(e)) => room.notice(Notice::Problem(format!(
                "cannot restart the path to {name}: {e}"
            ))),
            None => {}
        }
    }

    fn trickle(&mut self, room: &mut Room<ConferMessage>, connection: ConnectionId, line: String) {
        if let Some(sfu) = self.sfu.as_mut().filter(|s| s.owns(connection)) {
            sfu.trickle_in(room, connection, line);
            return;
        }
        let Some(link) = self.links.get(&connection) else {
            return;
        };
        let peer = link.peer.clone();
        let mid = room.peer(connection).and_then(|p| p.candidate_mid());
        Self::signal(room, &peer, PeerSignal::candidate(line, mid));
    }

    fn keyframe_wanted(
        &mut self,
        room: &mut Room<ConferMessage>,
        connection: ConnectionId,
        mids: &[Mid],
    ) {
        if let Some(sfu) = &mut self.sfu {
            sfu.keyframe_wanted_in(room, connection, mids);
        }
    }

    fn tile_fit(
        &mut self,
        room: &mut Room<ConferMessage>,
        participant: &ParticipantId,
        width: u32,
        height: u32,
    ) {
        if let Some(sfu) = &mut self.sfu {
            sfu.tile_fit_in(room, participant, width, height);
        }
    }

    fn receive_loss(
        &mut self,
        room: &mut Room<ConferMessage>,
        connection: ConnectionId,
        loss: f32,
    ) {
        if let Some(sfu) = &mut self.sfu {
            sfu.receive_loss_in(room, connection, loss);
        }
    }

    fn share(&mut self, room: &mut Room<ConferMessage>, on: bool) {
        if let Some(sfu) = &mut self.sfu {
            sfu.share_in(room, on);
            return;
        }
        self.sharing = on;
        let connections: Vec<ConnectionId> = self.links.keys().copied().collect();
        for connection in connections {
            self.reconcile_share(room, connection);
        }
    }

    fn connection_closed(&mut self, room: &mut Room<ConferMessage>, connection: ConnectionId) {
        self.links.remove(&connection);
        if let Some(sfu) = self.sfu.as_mut().filter(|s| s.owns(connection)) {
            sfu.connection_closed_in(room, connection);
        }
    }

    fn announce_media(&mut self, room: &mut Room<ConferMessage>, media: MediaState) {
        self.media = media;
        // Before the first welcome it waits: joining announces it.
        if room.entered_before() {
            self.broadcast_media(room);
        }
    }

    fn send_chat(&mut self, room: &mut Room<ConferMessage>, text: String) {
        room.send(Command::Broadcast(RoomMessage::Chat { text }).into());
    }

    fn leave(&mut self, room: &mut Room<ConferMessage>) {
        if let Some(sfu) = &mut self.sfu {
            sfu.leave_in(room);
        }
        room.send(Command::Leave.into());
    }
}
