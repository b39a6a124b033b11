//! Joining a room of a Janus server's VideoRoom plugin: a way of joining (`call::way`) that
//! speaks Janus's API (`signal::janus`) over its own transport (`signal::janus_client`).
//!
//! Two connections to Janus, as its own multistream clients have them: one on which we publish
//! (we offer; Janus answers, receiving only) and one on which we receive everyone else (Janus
//! offers a section per stream of each publisher we subscribe to, and offers again whenever
//! that set changes). Each publisher is a participant whose media arrives in their sections of
//! the receiving connection.
//!
//! A Janus that restarts has forgotten us: when the transport connects again, the way starts a
//! new session and joins again, and the others come back as they publish again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use super::events::{CallError, MediaState, Notice};
use super::ids::{ConnectionId, ParticipantId};
use super::room::{Farewell, Room};
use super::way::{JoinWay, ShareStep, reconcile_share};
use crate::invite::Invite;
use crate::rtc::peer::Towards;
use crate::signal::janus::{
    Action, FeedId, Jsep, Ptype, PublishedStream, Publisher, Reply, Request, RoomEvent, RoomId,
    SCREEN_DESCRIPTION, StreamDescription, StreamRef, SubscribedStream, Trickled, VideoRoom,
    error_code, scheme_and_host,
};
use crate::signal::janus_client::{JanusClosed, JanusCommand, JanusEvent};
use crate::signal::proto::MediaRoute;
use crate::signal::relayed::CandidateInit;
use str0m::media::Mid;

const PLUGIN: &str = "janus.plugin.videoroom";
/// Janus's substream of our full layer (it orders the rids of our offer highest first).
const FULL: u8 = 1;
/// How long a section forwarded below the layer it should have waits before it is asked for
/// again (and between askings).
const ASK_AGAIN_EVERY: Duration = Duration::from_secs(8);

/// The reason of a hang-up that Janus's VideoRoom asked for itself (`janus_close_pc`).
const ROOM_CLOSED_IT: &str = "Close PC";

/// What a request we sent was for: Janus's answer names it by transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Create,
    AttachPublisher,
    AttachSubscriber,
    Join,
    Publish,
    JoinSubscriber,
    Start,
    Subscribe,
    Restart,
    /// Answered by an `ack` alone.
    Trickle,
    Other,
}

/// Our place in Janus, for one connection to it (a new one starts over).
#[derive(Default)]
struct Session {
    id: Option<u64>,
    publisher: Option<u64>,
    subscriber: Option<u64>,
    private_id: Option<u64>,
    me: Option<FeedId>,
    /// Whether the subscriber handle has joined (Janus's first offer came).
    subscriber_joined: bool,
    /// Feeds asked for, by the subscriber's `join` or a `subscribe`.
    subscribed: BTreeSet<FeedId>,
    /// A change of the receiving connection is under way (attaching its handle, joining,
    /// subscribing, answering an offer until Janus says `started`): one at a time.
    in_flight: bool,
}

pub struct JanusRoom {
    /// The server as the link names it (`HOST[:PORT]`), for the window.
    server: String,
    room: RoomId,
    pin: Option<String>,
    token: Option<String>,
    display: String,
    next_transaction: u64,
    asked: HashMap<String, Asked>,
    session: Session,
    publish: Option<ConnectionId>,
    receive: Option<ConnectionId>,
    /// Everyone publishing in the room, and who they are in the call.
    feeds: BTreeMap<FeedId, ParticipantId>,
    /// The substream asked for each section we receive video on (none asked: Janus's
    /// default, the highest), and the one its tile needs.
    substreams: HashMap<Mid, u8>,
    wanted: HashMap<Mid, u8>,
    /// The receiving connection loses enough that every section takes the smallest layer.
    lossy: bool,
    /// Why Janus turned us away, once it has: the call ends with it.
    refused: Option<CallError>,
    leaving: bool,
    /// We share our screen: our publishing connection is to carry it as a second stream.
    sharing: bool,
    /// Offers of our share (or its end) in a row that Janus did not agree to.
    share_tries: u8,
    /// The layer Janus says it forwards on each of our receiving sections, since when it has
    /// been below the one it should be, and when we last asked again for that one there.
    layers_in: HashMap<Mid, u8>,
    behind_since: HashMap<Mid, Instant>,
    asked_again: HashMap<Mid, Instant>,
    /// The receiving connection's loss over the last second.
    loss_in: f32,
    /// Each publisher's streams, as Janus last listed them.
    published: HashMap<FeedId, Vec<PublishedStream>>,
    /// Each feed's streams in our subscription, by the publisher's `mid`, as Janus's last offer
    /// for it said.
    feed_mids: HashMap<FeedId, HashSet<String>>,
    /// Streams of feeds we receive already, added since (a shared screen): to subscribe to.
    streams_wanted: Vec<StreamRef>,
    /// Streams in our subscription that their publisher disabled (a share that ended): to
    /// unsubscribe from. Janus stops forwarding them but does not renegotiate on its own, so
    /// without this the receiver would never hear that the share ended.
    streams_unwanted: Vec<StreamRef>,
    /// Set when this carries the media of a Confer room (`call::confer_mesh`): who the
    /// publishers are comes from Confer's server, and the call's life too.
    confer: Option<Directory>,
}

/// The people of a Confer room whose media moved to Janus. Each publishes under their Confer
/// peer id as display (docs/PROTOCOL.md), so a feed is matched to a member by it; a feed of
/// someone the server has not listed (yet) waits for them.
#[derive(Default)]
struct Directory {
    /// Peer id: name, and microphone and camera as they said.
    members: BTreeMap<String, (String, Option<MediaState>)>,
    waiting: Vec<Publisher>,
}

impl JanusRoom {
    /// For the room `invite` names (a Janus link), joining as `display`.
    pub fn new(invite: &Invite, display: String) -> Self {
        let pin = invite.janus.as_ref().and_then(|j| j.pin.clone());
        let room = RoomId::from_link(&invite.room);
        Self::joining(invite.authority(), room, pin, invite.token.clone(), display)
    }

    /// For the media of a Confer room, in the Janus room its server made (`route`): we
    /// publish under our Confer peer id.
    pub fn for_confer_room(route: &MediaRoute, peer_id: String) -> Self {
        let server = scheme_and_host(&route.url).map_or(route.url.as_str(), |(_, host)| host);
        let room = RoomId::Number(route.room);
        let pin = Some(route.pin.clone());
        Self {
            confer: Some(Directory::default()),
            ..Self::joining(server.to_string(), room, pin, None, peer_id)
        }
    }

    /// Not yet in `room` of `server`.
    fn joining(
        server: String,
        room: RoomId,
        pin: Option<String>,
        token: Option<String>,
        display: String,
    ) -> Self {
        Self {
            server,
            room,
            pin,
            token,
            display,
            next_transaction: 0,
            asked: HashMap::new(),
            session: Session::default(),
            publish: None,
            receive: None,
            feeds: BTreeMap::new(),
            substreams: HashMap::new(),
            wanted: HashMap::new(),
            lossy: false,
            sharing: false,
            share_tries: 0,
            layers_in: HashMap::new(),
            behind_since: HashMap::new(),
            asked_again: HashMap::new(),
            loss_in: 0.0,
            published: HashMap::new(),
            feed_mids: HashMap::new(),
            streams_wanted: Vec::new(),
            streams_unwanted: Vec::new(),
            refused: None,
            leaving: false,
            confer: None,
        }
    }

    /// A Confer room's member, as its server listed them (again, with news of their
    /// microphone and camera): their feed, if it came first, is taken now.
    pub(crate) fn member<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        peer_id: &str,
        name: &str,
        media: Option<MediaState>,
    ) {
        let Some(directory) = &mut self.confer else {
            return;
        };
        directory
            .members
            .insert(peer_id.to_string(), (name.to_string(), media));
        let waiting = std::mem::take(&mut directory.waiting);
        if !waiting.is_empty() {
            self.on_publishers(room, &waiting, false);
        }
    }

    /// A Confer room's member left (their server said): their feed goes when Janus says.
    pub(crate) fn member_left(&mut self, peer_id: &str) {
        if let Some(directory) = &mut self.confer {
            directory.members.remove(peer_id);
            directory
                .waiting
                .retain(|p| p.display.as_deref() != Some(peer_id));
        }
    }

    /// Whether `connection` is one of ours (to Janus).
    pub(crate) fn owns(&self, connection: ConnectionId) -> bool {
        Some(connection) == self.publish || Some(connection) == self.receive
    }

    fn request<M: From<JanusCommand>>(&mut self, room: &mut Room<M>, action: Action, asked: Asked) {
        self.next_transaction += 1;
        let transaction = format!("t{}", self.next_transaction);
        self.asked.insert(transaction.clone(), asked);
        room.send(
            JanusCommand::Send(Box::new(Request {
                action,
                transaction,
                token: self.token.clone(),
            }))
            .into(),
        );
    }

    fn message<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        handle: u64,
        body: VideoRoom,
        jsep: Option<Jsep>,
        asked: Asked,
    ) {
        let Some(session_id) = self.session.id else {
            return;
        };
        let action = Action::Message {
            session_id,
            handle_id: handle,
            body,
            jsep,
        };
        self.request(room, action, asked);
    }

    /// Everything of the last connection to Janus goes: it has forgotten it.
    fn start_over<M: From<JanusCommand>>(&mut self, room: &mut Room<M>) {
        self.session = Session::default();
        self.asked.clear();
        self.substreams.clear();
        self.layers_in.clear();
        self.behind_since.clear();
        self.asked_again.clear();
        self.wanted.clear();
        self.feed_mids.clear();
        self.published.clear();
        self.streams_wanted.clear();
        self.streams_unwanted.clear();
        self.share_tries = 0;
        for participant in std::mem::take(&mut self.feeds).into_values() {
            self.lose_feed(room, &participant, Farewell::Quietly);
        }
        for connection in [self.publish.take(), self.receive.take()]
            .into_iter()
            .flatten()
        {
            room.close_connection(connection, Farewell::Quietly);
        }
        self.request(room, Action::Create, Asked::Create);
    }

    /// Janus closed a connection of ours. Its room closes one for a reason of the room's
    /// ("Close PC": we unpublished or left, were kicked, or the room went), and those are the
    /// room's to tell. Any other hang-up is a connection lost (its DTLS handshake did not finish
    /// in time, a DTLS alert, ICE failed), and Janus keeps nothing of it to mend: we leave our
    /// session, so that no one keeps a frozen picture of us, and join again in a new one.
    fn on_hangup<M: From<JanusCommand>>(&mut self, room: &mut Room<M>, reply: &Reply) {
        let Some(handle) = reply.sender else {
            return;
        };
        let which = if Some(handle) == self.session.publisher {
            "sending"
        } else if Some(handle) == self.session.subscriber {
            "receiving"
        } else {
            // A handle of a session we left already.
            return;
        };
        let why = reply.reason.as_deref().unwrap_or("no reason given");
        if self.leaving || why == ROOM_CLOSED_IT {
            return;
        }
        room.notice(Notice::Problem(format!(
            "Janus closed our {which} connection ({why}): joining the room again"
        )));
        let old = self.session.id;
        self.start_over(room);
        if let Some(session_id) = old {
            self.request(room, Action::Destroy { session_id }, Asked::Other);
        }
    }

    /// The call cannot go on: Janus said no.
    fn refuse<M: From<JanusCommand>>(&mut self, room: &mut Room<M>, error: CallError) {
        self.refused = Some(error);
        self.leaving = true;
        room.send(JanusCommand::Leave.into());
    }

    fn on_reply<M: From<JanusCommand>>(&mut self, room: &mut Room<M>, reply: Reply) {
        let asked = reply
            .transaction
            .as_ref()
            .and_then(|t| self.asked.get(t).copied());
        match reply.janus.as_str() {
            // An asynchronous request was taken; its answer comes as an event.
            "ack" => {}
            "success" => self.on_success(room, &reply, asked),
            "error" => {
                let (code, reason) = reply
                    .error
                    .as_ref()
                    .map_or((0, String::new()), |e| (e.code, e.reason.clone()));
                self.on_error(room, asked, code, reason);
            }
            "event" => self.on_event(room, &reply, asked),
            "trickle" => {}
            // Janus closed a connection of ours.
            "hangup" => self.on_hangup(room, &reply),
            // Janus forgot our session (we were silent past its timeout): join again.
            "timeout" if !self.leaving => self.start_over(room),
            // webrtcup, media, slowlink, detached, server_info...: nothing to do.
            _ => {}
        }
        // A request is done at its answer: the `ack` for a trickle, the event or error after
        // the `ack` for an asynchronous one.
        if let Some(t) = &reply.transaction
            && (reply.janus != "ack" || asked == Some(Asked::Trickle))
        {
            self.asked.remove(t);
        }
    }

    fn on_success<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        reply: &Reply,
        asked: Option<Asked>,
    ) {
        let created = reply.data.as_ref().map(|d| d.id);
        match (asked, created) {
            (Some(Asked::Create), Some(id)) => {
                self.session.id = Some(id);
                room.send(
                    JanusCommand::KeepAlive {
                        session_id: id,
                        token: self.token.clone(),
                    }
                    .into(),
                );
                let action = Action::Attach {
                    plugin: PLUGIN,
                    session_id: id,
                };
                self.request(room, action, Asked::AttachPublisher);
            }
            (Some(Asked::AttachPublisher), Some(handle)) => {
                self.session.publisher = Some(handle);
                let join = VideoRoom::Join {
                    room: self.room.clone(),
                    ptype: Ptype::Publisher,
                    display: Some(self.display.clone()),
                    pin: self.pin.clone(),
                    private_id: None,
                    streams: None,
                };
                self.message(room, handle, join, None, Asked::Join);
            }
            (Some(Asked::AttachSubscriber), Some(handle)) => {
                self.session.subscriber = Some(handle);
                self.session.in_flight = false;
                self.subscribe_wanted(room);
            }
            // A synchronous answer of the plugin (an error, mostly).
            _ => {
                if let Some((code, reason)) = reply.videoroom().and_then(RoomEvent::refusal) {
                    self.on_error(room, asked, code, reason);
                }
            }
        }
    }

    fn on_error<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        asked: Option<Asked>,
        code: i64,
        reason: String,
    ) {
        match code {
            error_code::NO_SUCH_ROOM => self.refuse(room, CallError::NoSuchRoom),
            error_code::UNAUTHORIZED => self.refuse(room, CallError::WrongPin),
            // A room with a PIN joined without one.
            error_code::MISSING_ELEMENT if reason.contains("pin") => {
                self.refuse(room, CallError::WrongPin)
            }
            error_code::PUBLISHERS_FULL => self.refuse(room, CallError::RoomFull),
            error_code::CORE_UNAUTHORIZED => self.refuse(room, CallError::BadInvite),
            // Janus lost our session: start again.
            error_code::SESSION_NOT_FOUND if !self.leaving => self.start_over(room),
            _ => match asked {
                // Without a session, a handle or a place in the room there is no call.
                Some(Asked::Create | Asked::AttachPublisher | Asked::Join) => {
                    self.refuse(room, CallError::JanusRefused { code, reason })
                }
                _ => {
                    // The change failed; the next may go (the feeds it asked for are not asked
                    // again: a feed Janus does not know stays unknown).
                    if matches!(
                        asked,
                        Some(
                            Asked::AttachSubscriber
                                | Asked::JoinSubscriber
                                | Asked::Subscribe
                                | Asked::Start
                        )
                    ) {
                        self.session.in_flight = false;
                    }
                    room.notice(Notice::Problem(format!(
                        "the Janus server refused: {code}: {reason}"
                    )));
                }
            },
        }
    }

    fn on_event<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        reply: &Reply,
        asked: Option<Asked>,
    ) {
        let Some(event) = reply.videoroom() else {
            return;
        };
        if let Some((code, reason)) = event.refusal() {
            self.on_error(room, asked, code, reason);
            return;
        }
        let from_subscriber = reply.sender.is_some() && reply.sender == self.session.subscriber;
        match event.videoroom.as_deref() {
            Some("joined") if !from_subscriber => self.on_joined(room, event),
            Some("attached" | "updated") if from_subscriber => {
                match (&event.streams, &reply.jsep) {
                    (Some(streams), Some(jsep)) => {
                        self.on_subscriber_offer(room, Some(jsep), streams)
                    }
                    // Janus changed nothing (or will offer later): no offer now, so no `started`
                    // either; the next change may go.
                    (_, None) if matches!(asked, Some(Asked::Subscribe)) => {
                        self.session.in_flight = false;
                        self.subscribe_wanted(room);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        if let Some(publishers) = &event.publishers {
            // Those listed when we join were here before us; those of later events arrive.
            let arriving = event.videoroom.as_deref() != Some("joined");
            self.on_publishers(room, publishers, arriving);
        }
        if from_subscriber && let (Some(substream), Some(mid)) = (event.substream, &event.mid) {
            self.on_substream(room, Mid::from(mid.as_str()), substream);
        }
        for gone in [&event.unpublished, &event.leaving, &event.kicked]
            .into_iter()
            .flatten()
        {
            self.on_gone(room, gone);
        }
        // Janus's answer to our offer comes with the event that says it is configured.
        if !from_subscriber
            && let Some(jsep) = &reply.jsep
            && jsep.kind == "answer"
            && let Some(connection) = self.publish
            && let Some(peer) = room.peer(connection)
        {
            match peer.accept_answer(&jsep.sdp) {
                // What changed while the offer waited (a share begun or ended) goes now.
                Ok(()) => self.reconcile_share(room),
                Err(e) => room.notice(Notice::Problem(format!("Janus's answer: {e}"))),
            }
        }
        if from_subscriber && event.started.is_some() {
            self.session.in_flight = false;
            self.subscribe_wanted(room);
        }
    }

    /// Janus forwards another of a publisher's layers on `mid`: the stats name it.
    fn on_substream<M: From<JanusCommand>>(&mut self, room: &mut Room<M>, mid: Mid, substream: u8) {
        let Some(receive) = self.receive else {
            return;
        };
        let layer = match substream {
            0 => "quarter",
            _ => "full",
        };
        if let Some(p) = room
            .participants
            .values_mut()
            .find(|p| p.receives(receive, mid) && p.tracks.iter().any(|t| t.mid == Some(mid)))
        {
            p.figures.layer_in = Some(layer);
        }
        self.layers_in.insert(mid, substream);
    }

    /// Asks Janus again for the layer a section should have where it has forwarded a lower one
    /// for [`ASK_AGAIN_EVERY`] (and again each time that passes), on a connection that loses
    /// next to nothing. Janus moves up a layer only on a keyframe of it, and asks the
    /// publisher for one only when told a layer: after it fell back (the publisher paused its
    /// full layer for a while), or locked on the small layer first, it stayed there for good
    /// (a 1280 publisher received at 320 for a whole call). Asking again has Janus ask for the
    /// keyframe. Under loss Janus's own falling back is left alone: each switch waits for a
    /// keyframe.
    fn ask_again_where_behind<M: From<JanusCommand>>(&mut self, room: &mut Room<M>) {
        let Some(handle) = self.session.subscriber else {
            return;
        };
        let now = room.now;
        let layers: Vec<(Mid, u8, u8)> = self
            .layers_in
            .iter()
            .map(|(mid, got)| (*mid, *got, self.wanted.get(mid).copied().unwrap_or(FULL)))
            .collect();
        for (mid, got, want) in layers {
            if got >= want {
                self.behind_since.remove(&mid);
            } else {
                self.behind_since.entry(mid).or_insert(now);
            }
        }
        if self.lossy || self.loss_in >= LOSS_RECOVERED {
            return;
        }
        let long = |since: Option<&Instant>| {
            since.is_none_or(|at| now.saturating_duration_since(*at) >= ASK_AGAIN_EVERY)
        };
        let behind: Vec<(Mid, u8)> = self
            .behind_since
            .iter()
            .filter(|(mid, since)| long(Some(*since)) && long(self.asked_again.get(*mid)))
            .map(|(mid, _)| (*mid, self.wanted.get(mid).copied().unwrap_or(FULL)))
            .collect();
        for (mid, want) in behind {
            self.asked_again.insert(mid, now);
            self.substreams.insert(mid, want);
            self.message(
                room,
                handle,
                configure_stream(mid, None, Some(want)),
                None,
                Asked::Other,
            );
        }
    }

    fn on_joined<M: From<JanusCommand>>(&mut self, room: &mut Room<M>, event: &RoomEvent) {
        self.session.me = event.id.clone();
        self.session.private_id = event.private_id;
        let again = room.entered_before();
        let here = event.publishers.as_ref().map_or(0, Vec::len);
        if self.confer.is_some() {
            // In the meeting already (Confer's server says who is here): only the media moved.
            let server = self.server.clone();
            room.notice(Notice::ThroughServer { server });
            self.publish_ours(room);
            return;
        }
        room.signaling(true);
        room.enter();
        if again {
            room.notice(Notice::Rejoined { here });
        } else {
            room.notice(Notice::Joined { already: here });
            let server = self.server.clone();
            room.notice(Notice::ThroughServer { server });
        }
        self.publish_ours(room);
    }

    /// Our offer, on a connection that only sends.
    fn publish_ours<M: From<JanusCommand>>(&mut self, room: &mut Room<M>) {
        let Some(handle) = self.session.publisher else {
            return;
        };
        let connection = room.open_connection(true, Towards::SfuSending);
        let offer = match room.peer(connection).map(|p| p.create_simulcast_offer()) {
            Some(Ok(sdp)) => sdp,
            Some(Err(e)) => {
                room.close_connection(connection, Farewell::Quietly);
                room.notice(Notice::Problem(format!("cannot publish: {e}")));
                return;
            }
            None => return,
        };
        self.publish = Some(connection);
        let configure = configure(Some(true), None);
        let jsep = Some(Jsep::offer(offer));
        self.message(room, handle, configure, jsep, Asked::Publish);
    }

    /// Publishers listed by Janus: those new to us become participants and are subscribed to.
    fn on_publishers<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        publishers: &[Publisher],
        arriving: bool,
    ) {
        for publisher in publishers {
            if Some(&publisher.id) == self.session.me.as_ref() {
                continue;
            }
            self.published
                .insert(publisher.id.clone(), publisher.streams.clone());
            if self.feeds.contains_key(&publisher.id) {
                self.queue_stream_changes(&publisher.id);
                continue;
            }
            let kinds = |kind: &str| {
                publisher
                    .streams
                    .iter()
                    .any(|s| s.kind == kind && s.disabled != Some(true))
            };
            let mut media = Some(MediaState {
                mic_on: kinds("audio"),
                camera_on: kinds("video"),
                hand_up: false,
            });
            let (participant, name) = match &mut self.confer {
                // A Confer member: known by their peer id, named as Confer's server says.
                Some(directory) => {
                    let display = publisher.display.clone().unwrap_or_default();
                    let Some((name, said)) = directory.members.get(&display) else {
                        if !directory.waiting.contains(publisher) {
                            directory.waiting.push(publisher.clone());
                        }
                        continue;
                    };
                    media = said.or(media);
                    (ParticipantId::from(display.as_str()), name.clone())
                }
                None => (
                    ParticipantId::from(format!("janus-{}", publisher.id)),
                    publisher
                        .display
                        .clone()
                        .filter(|d| !d.trim().is_empty())
                        .unwrap_or_else(|| format!("Participant {}", publisher.id)),
                ),
            };
            // In a Confer room, Confer's server says who arrives.
            if arriving && self.confer.is_none() {
                room.notice(Notice::Arrived { name: name.clone() });
            }
            room.add_participant(
                participant.clone(),
                publisher.id.to_string(),
                name,
                media,
                true,
            );
            self.feeds.insert(publisher.id.clone(), participant);
        }
        self.subscribe_wanted(room);
    }

    /// The streams of `feed` (as its publisher last listed them) that our subscription lacks
    /// (a screen it began to share) are to be subscribed to, and those it holds that the
    /// publisher disabled (a share that ended) unsubscribed from. Until Janus's offer says what
    /// our subscription holds of the feed, this waits: it is looked at again then.
    fn queue_stream_changes(&mut self, feed: &FeedId) {
        let (Some(have), Some(streams)) = (self.feed_mids.get(feed), self.published.get(feed))
        else {
            return;
        };
        for stream in streams {
            let Some(mid) = &stream.mid else { continue };
            let wanted = StreamRef {
                feed: feed.clone(),
                mid: Some(mid.clone()),
            };
            let disabled = stream.disabled == Some(true);
            if !disabled
                && matches!(stream.kind.as_str(), "audio" | "video")
                && !have.contains(mid)
                && !self.streams_wanted.contains(&wanted)
            {
                self.streams_wanted.push(wanted);
            } else if disabled && have.contains(mid) && !self.streams_unwanted.contains(&wanted) {
                self.streams_unwanted.push(wanted);
            }
        }
    }

    fn on_gone<M: From<JanusCommand>>(&mut self, room: &mut Room<M>, feed: &FeedId) {
        let Some(gone) = self.feeds.remove(feed) else {
            return;
        };
        self.session.subscribed.remove(feed);
        self.feed_mids.remove(feed);
        self.published.remove(feed);
        self.streams_wanted.retain(|s| s.feed != *feed);
        self.streams_unwanted.retain(|s| s.feed != *feed);
        self.lose_feed(room, &gone, Farewell::Left);
    }

    /// A publisher's feed is gone. In a Janus room they are gone with it; in a Confer room
    /// only their media is (Confer's server says when they leave).
    fn lose_feed<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        participant: &ParticipantId,
        farewell: Farewell,
    ) {
        if self.confer.is_none() {
            room.remove_participant(participant, farewell);
            return;
        }
        let ours = [self.publish, self.receive];
        if let Some(p) = room.participants.get_mut(participant) {
            p.tracks.retain(|t| !ours.contains(&Some(t.connection)));
        }
    }

    /// Asks for the streams of feeds not yet asked for: a handle first, then its `join` (with
    /// everyone wanted then), `subscribe` after; one change at a time.
    fn subscribe_wanted<M: From<JanusCommand>>(&mut self, room: &mut Room<M>) {
        let wanted: Vec<FeedId> = self
            .feeds
            .keys()
            .filter(|f| !self.session.subscribed.contains(*f))
            .cloned()
            .collect();
        if self.session.in_flight {
            return;
        }
        if let Some(handle) = self.session.subscriber
            && self.session.subscriber_joined
            && !self.streams_unwanted.is_empty()
        {
            self.session.in_flight = true;
            let streams = std::mem::take(&mut self.streams_unwanted);
            let unsubscribe = VideoRoom::Unsubscribe { streams };
            self.message(room, handle, unsubscribe, None, Asked::Subscribe);
            return;
        }
        if wanted.is_empty() && self.streams_wanted.is_empty() {
            return;
        }
        let Some(session_id) = self.session.id else {
            return;
        };
        self.session.in_flight = true;
        let Some(handle) = self.session.subscriber else {
            let action = Action::Attach {
                plugin: PLUGIN,
                session_id,
            };
            self.request(room, action, Asked::AttachSubscriber);
            return;
        };
        self.session.subscribed.extend(wanted.iter().cloned());
        let mut streams: Vec<StreamRef> = wanted
            .into_iter()
            .map(|feed| StreamRef { feed, mid: None })
            .collect();
        streams.append(&mut self.streams_wanted);
        if self.session.subscriber_joined {
            let subscribe = VideoRoom::Subscribe { streams };
            self.message(room, handle, subscribe, None, Asked::Subscribe);
        } else {
            let join = VideoRoom::Join {
                room: self.room.clone(),
                ptype: Ptype::Subscriber,
                display: None,
                pin: self.pin.clone(),
                private_id: self.session.private_id,
                streams: Some(streams),
            };
            self.message(room, handle, join, None, Asked::JoinSubscriber);
        }
    }

    /// Janus's offer for the receiving connection: answered, and each section given to the
    /// participant whose stream it carries.
    fn on_subscriber_offer<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        jsep: Option<&Jsep>,
        streams: &[SubscribedStream],
    ) {
        let (Some(handle), Some(jsep)) = (self.session.subscriber, jsep) else {
            return;
        };
        if jsep.kind != "offer" {
            return;
        }
        self.session.subscriber_joined = true;
        // What the subscription holds is what this offer says.
        self.feed_mids.clear();
        let connection = *self
            .receive
            .get_or_insert_with(|| room.open_connection(false, Towards::SfuReceiving));
        let answer = match room.peer(connection).map(|p| p.accept_offer(&jsep.sdp)) {
            Some(Ok(answer)) => answer,
            Some(Err(e)) => {
                room.notice(Notice::Problem(format!("Janus's offer: {e}")));
                return;
            }
            None => return,
        };
        for stream in streams {
            if stream.active == Some(false) || !matches!(stream.kind.as_str(), "audio" | "video") {
                continue;
            }
            let (Some(mid), Some(feed)) = (&stream.mid, &stream.feed_id) else {
                continue;
            };
            if let Some(feed_mid) = &stream.feed_mid {
                self.feed_mids
                    .entry(feed.clone())
                    .or_default()
                    .insert(feed_mid.clone());
            }
            if stream.kind == "video"
                && stream.feed_description.as_deref() == Some(SCREEN_DESCRIPTION)
                && let Some(peer) = room.peer(connection)
            {
                peer.mark_screen_in(Mid::from(mid.as_str()));
            }
            let Some(participant) = self.feeds.get(feed).cloned() else {
                continue;
            };
            let mid = Mid::from(mid.as_str());
            let theirs = room
                .participant(&participant)
                .is_some_and(|p| p.receives(connection, mid));
            if !theirs {
                room.attach(&participant, connection, Some(mid));
            }
        }
        // A stream a publisher added (or disabled) while this offer was being made is not in
        // it (or still is).
        let feeds: Vec<FeedId> = self.feed_mids.keys().cloned().collect();
        for feed in feeds {
            self.queue_stream_changes(&feed);
        }
        self.message(
            room,
            handle,
            VideoRoom::Start,
            Some(Jsep::answer(answer)),
            Asked::Start,
        );
    }

    /// Asks Janus for each section's layer where it is not the one asked last: the tile's, or
    /// the smallest while the receiving connection is lossy.
    fn ask_substreams<M: From<JanusCommand>>(&mut self, room: &mut Room<M>) {
        let Some(handle) = self.session.subscriber else {
            return;
        };
        let changes: Vec<(Mid, u8)> = self
            .wanted
            .iter()
            .map(|(mid, wanted)| (*mid, if self.lossy { 0 } else { *wanted }))
            .filter(|(mid, substream)| self.substreams.get(mid) != Some(substream))
            .collect();
        for (mid, substream) in changes {
            self.substreams.insert(mid, substream);
            let body = configure_stream(mid, None, Some(substream));
            self.message(room, handle, body, None, Asked::Other);
        }
    }

    fn handle_of(&self, connection: ConnectionId) -> Option<u64> {
        if Some(connection) == self.publish {
            self.session.publisher
        } else if Some(connection) == self.receive {
            self.session.subscriber
        } else {
            None
        }
    }
}

/// Loss on the receiving connection at which every section falls back to the smallest layer,
/// and below which the tiles choose again.
const LOSS_FALL_BACK: f32 = 0.10;
const LOSS_RECOVERED: f32 = 0.03;

/// The simulcast substream a tile of this size needs: the quarter layer (0) up to 1.5 times
/// its size (320x180 of a 1280x720 camera, up to 480x270), the full one (1) above.
fn substream_for(width: u32, height: u32) -> u8 {
    const QUARTER: (u32, u32) = (320, 180);
    if width * 2 <= QUARTER.0 * 3 && height * 2 <= QUARTER.1 * 3 {
        0
    } else {
        1
    }
}

/// A `configure` request: with our offer (`media`: whether audio and video are sent), or a
/// subscriber's ICE `restart`.
fn configure(media: Option<bool>, restart: Option<bool>) -> VideoRoom {
    VideoRoom::Configure {
        audio: media,
        video: media,
        restart,
        mid: None,
        send: None,
        substream: None,
        descriptions: None,
    }
}

/// A subscriber's `configure` of its section `mid`: relayed or not (`send`), which simulcast
/// `substream`.
fn configure_stream(mid: Mid, send: Option<bool>, substream: Option<u8>) -> VideoRoom {
    VideoRoom::Configure {
        audio: None,
        video: None,
        restart: None,
        mid: Some(mid.to_string()),
        send,
        substream,
        descriptions: None,
    }
}

/// The way's part as the call sees it (`JoinWay`), for any room whose messages can carry
/// Janus's: a Janus link's own call, or a Confer room whose media moved to Janus
/// (`call::confer_mesh`).
impl JanusRoom {
    pub(crate) fn handle_event_in<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        event: JanusEvent,
    ) {
        match event {
            JanusEvent::Connected => {
                if !self.leaving {
                    self.start_over(room);
                }
            }
            JanusEvent::Reply(reply) => self.on_reply(room, *reply),
            JanusEvent::Garbage(what) => room.notice(Notice::Problem(format!(
                "the Janus server sent something unreadable: {what}"
            ))),
            JanusEvent::Reconnecting { why, .. } if self.confer.is_some() => {
                room.notice(Notice::Problem(format!("lost Janus ({why}); trying again")));
            }
            JanusEvent::Reconnecting { attempt, after, .. } => {
                room.signaling(false);
                room.notice(Notice::SignalingLost { attempt, after });
            }
            // Confer's server carries the meeting: without Janus only the media stops.
            JanusEvent::Closed(closed) if self.confer.is_some() => {
                if let Some(refused) = self.refused.take() {
                    room.notice(Notice::Problem(format!("Janus turned us away: {refused}")));
                } else if let JanusClosed::Unreachable { why, .. } = closed {
                    room.notice(Notice::Problem(format!("Janus cannot be reached: {why}")));
                }
            }
            JanusEvent::Closed(closed) => {
                let result = match (self.refused.take(), closed) {
                    (Some(refused), _) => Err(refused),
                    (None, JanusClosed::Left) => Ok(()),
                    (None, JanusClosed::Unreachable { attempts, .. }) => {
                        Err(CallError::Unreachable { attempts })
                    }
                };
                room.end(result);
            }
        }
    }

    pub(crate) fn restart_path_in<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        connection: ConnectionId,
    ) {
        let Some(handle) = self.handle_of(connection) else {
            return;
        };
        if Some(connection) == self.publish {
            match room.peer(connection).map(|p| p.restart_ice()) {
                Some(Ok(sdp)) => {
                    let jsep = Some(Jsep::offer(sdp));
                    self.message(room, handle, configure(None, None), jsep, Asked::Restart);
                }
                Some(Err(e)) => room.notice(Notice::Problem(format!(
                    "cannot restart the path to Janus: {e}"
                ))),
                None => {}
            }
        } else {
            // Janus offers again with new credentials.
            let configure = configure(None, Some(true));
            self.message(room, handle, configure, None, Asked::Restart);
        }
    }

    pub(crate) fn trickle_in<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        connection: ConnectionId,
        line: String,
    ) {
        let (Some(handle), Some(session_id)) = (self.handle_of(connection), self.session.id) else {
            return;
        };
        let mid = room.peer(connection).and_then(|p| p.candidate_mid());
        let candidate = Trickled::Candidate(CandidateInit {
            candidate: line.trim_start_matches("a=").to_string(),
            sdp_mid: mid,
            sdp_m_line_index: Some(0),
        });
        let action = Action::Trickle {
            session_id,
            handle_id: handle,
            candidate,
        };
        self.request(room, action, Asked::Trickle);
    }

    /// Janus 1.1 files a PLI that comes alone (no report before it, as str0m sends them) under
    /// the connection's first section, audio, and never passes it on: the publisher is asked
    /// through the API instead. Relaying a stream that already is ("send": true) has the
    /// plugin ask its publisher for a keyframe, at most once a second.
    pub(crate) fn keyframe_wanted_in<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        connection: ConnectionId,
        mids: &[Mid],
    ) {
        if Some(connection) != self.receive {
            return;
        }
        let Some(handle) = self.session.subscriber else {
            return;
        };
        for mid in mids {
            let body = configure_stream(*mid, Some(true), None);
            self.message(room, handle, body, None, Asked::Other);
        }
    }

    /// Janus's substream 0 is our quarter layer, 1 the full one (it orders the rids of our
    /// offer highest first). A tile no bigger than the quarter picture a little enlarged gets
    /// the quarter; each change is asked once.
    pub(crate) fn tile_fit_in<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        participant: &ParticipantId,
        width: u32,
        height: u32,
    ) {
        let Some(receive) = self.receive else {
            return;
        };
        let substream = substream_for(width, height);
        let Some(p) = room.participants.get(participant) else {
            return;
        };
        let mids: Vec<Mid> = p
            .tracks
            .iter()
            .filter(|t| t.connection == receive)
            .filter_map(|t| t.mid)
            .filter(|mid| {
                room.connections
                    .get(&receive)
                    .is_some_and(|c| c.peer.is_video(*mid))
            })
            .collect();
        for mid in mids {
            self.wanted.insert(mid, substream);
        }
        self.ask_substreams(room);
    }

    /// Under loss (10 % of what comes to us lost over a second) every section falls back to
    /// the smallest layer: fewer packets to lose and resend. Below 3 % the tiles choose again.
    pub(crate) fn receive_loss_in<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        connection: ConnectionId,
        loss: f32,
    ) {
        if Some(connection) != self.receive {
            return;
        }
        let lossy = if self.lossy {
            loss >= LOSS_RECOVERED
        } else {
            loss >= LOSS_FALL_BACK
        };
        if lossy != self.lossy {
            self.lossy = lossy;
            self.ask_substreams(room);
        }
        self.loss_in = loss;
        self.ask_again_where_behind(room);
    }

    pub(crate) fn connection_closed_in<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        connection: ConnectionId,
    ) {
        if Some(connection) == self.publish {
            self.publish = None;
            room.notice(Notice::Problem(
                "the connection we publish on to Janus was lost".into(),
            ));
        } else if Some(connection) == self.receive {
            // Its sections are gone with it; Janus offers them again on the next change.
            self.receive = None;
            self.substreams.clear();
            self.layers_in.clear();
            self.asked_again.clear();
            self.wanted.clear();
            self.feed_mids.clear();
        }
    }

    pub(crate) fn announce_media_in<M: From<JanusCommand>>(
        &mut self,
        _room: &mut Room<M>,
        _media: MediaState,
    ) {
        // VideoRoom has no word for a muted microphone or a raised hand: what we send says
        // the first (silence, no pictures); a hand is seen only in Confer's rooms.
    }

    pub(crate) fn send_chat_in<M: From<JanusCommand>>(
        &mut self,
        room: &mut Room<M>,
        _text: String,
    ) {
        room.notice(Notice::Problem(
            "chat is not available in a Janus room".into(),
        ));
    }

    pub(crate) fn share_in<M: From<JanusCommand>>(&mut self, room: &mut Room<M>, on: bool) {
        self.sharing = on;
        self.reconcile_share(room);
    }

    /// Offers Janus our share as a second published stream (described as a screen), or its
    /// end, where what our publishing connection carries differs from what we want; again
    /// after each answer, as the mesh does (`call::confer_mesh`).
    fn reconcile_share<M: From<JanusCommand>>(&mut self, room: &mut Room<M>) {
        let (Some(handle), Some(connection)) = (self.session.publisher, self.publish) else {
            return;
        };
        let Some(peer) = room.peer(connection) else {
            return;
        };
        let sdp = match reconcile_share(peer, self.sharing, &mut self.share_tries) {
            ShareStep::Nothing => return,
            ShareStep::GiveUp => {
                room.notice(Notice::Problem(
                    "Janus does not take our shared screen".into(),
                ));
                return;
            }
            ShareStep::Offer(sdp) => sdp,
            ShareStep::Failed(e) => {
                room.notice(Notice::Problem(format!("cannot offer our screen: {e}")));
                return;
            }
        };
        let descriptions = peer.share_mid().map(|mid| {
            vec![StreamDescription {
                mid: mid.to_string(),
                description: SCREEN_DESCRIPTION.into(),
            }]
        });
        let body = VideoRoom::Configure {
            audio: None,
            video: None,
            restart: None,
            mid: None,
            send: None,
            substream: None,
            descriptions,
        };
        self.message(room, handle, body, Some(Jsep::offer(sdp)), Asked::Other);
    }

    pub(crate) fn leave_in<M: From<JanusCommand>>(&mut self, room: &mut Room<M>) {
        self.leaving = true;
        if let (Some(handle), Some(session_id)) = (self.session.publisher, self.session.id) {
            self.message(room, handle, VideoRoom::Leave, None, Asked::Other);
            self.request(room, Action::Destroy { session_id }, Asked::Other);
        }
        room.send(JanusCommand::Leave.into());
    }
}

impl JoinWay for JanusRoom {
    type Event = JanusEvent;
    type Message = JanusCommand;

    fn handle_event(&mut self, room: &mut Room<JanusCommand>, event: JanusEvent) {
        self.handle_event_in(room, event);
    }

    fn restart_path(&mut self, room: &mut Room<JanusCommand>, connection: ConnectionId) {
        self.restart_path_in(room, connection);
    }

    fn trickle(&mut self, room: &mut Room<JanusCommand>, connection: ConnectionId, line: String) {
        self.trickle_in(room, connection, line);
    }

    fn keyframe_wanted(
        &mut self,
        room: &mut Room<JanusCommand>,
        connection: ConnectionId,
        mids: &[Mid],
    ) {
        self.keyframe_wanted_in(room, connection, mids);
    }

    fn share(&mut self, room: &mut Room<JanusCommand>, on: bool) {
        self.share_in(room, on);
    }

    fn tile_fit(
        &mut self,
        room: &mut Room<JanusCommand>,
        participant: &ParticipantId,
        width: u32,
        height: u32,
    ) {
        self.tile_fit_in(room, participant, width, height);
    }

    fn receive_loss(&mut self, room: &mut Room<JanusCommand>, connection: ConnectionId, loss: f32) {
        self.receive_loss_in(room, connection, loss);
    }

    fn connection_closed(&mut self, room: &mut Room<JanusCommand>, connection: ConnectionId) {
        self.connection_closed_in(room, connection);
    }

    fn announce_media(&mut self, room: &mut Room<JanusCommand>, media: MediaState) {
        self.announce_media_in(room, media);
    }

    fn send_chat(&mut self, room: &mut Room<JanusCommand>, text: String) {
        self.send_chat_in(room, text);
    }

    fn leave(&mut self, room: &mut Room<JanusCommand>) {
        self.leave_in(room);
    }
}

/// The way alone, against a Janus of JSON values: what it asks, in which order, and what it
/// makes of the answers. (The real Janus is in tests/janus_room.rs.)
#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::{Value, json};

    use super::*;

    fn camera_off() -> MediaState {
        MediaState {
            camera_on: false,
            ..MediaState::default()
        }
    }
    use crate::call::room::{CallSettings, Output};

    const SESSION: u64 = 100;
    const PUBLISHER: u64 = 200;
    const SUBSCRIBER: u64 = 300;

    struct FakeJanus {
        way: JanusRoom,
        room: Room<JanusCommand>,
        /// What the way asked, oldest first, not yet looked at.
        asked: Vec<Value>,
        ended: Option<Result<(), CallError>>,
    }

    impl FakeJanus {
        fn new(link: &str) -> Self {
            let invite = Invite::parse(link).unwrap();
            let settings = CallSettings {
                render_video: false,
                relay_only: false,
                max_video_bps: 2_500_000,
                mic_on: true,
                camera_on: true,
                chimes: false,
            };
            let room = Room::new(
                Instant::now(),
                settings,
                vec!["10.0.0.1:5000".parse().unwrap()],
            );
            Self {
                way: JanusRoom::new(&invite, "Ann".into()),
                room,
                asked: Vec::new(),
                ended: None,
            }
        }

        fn take_outputs(&mut self) {
            while let Some(output) = self.room.queue.pop_front() {
                match output {
                    Output::Signal(JanusCommand::Send(request)) => {
                        self.asked
                            .push(serde_json::from_str(&request.to_json()).unwrap());
                    }
                    Output::Ended(result) => self.ended = Some(result),
                    _ => {}
                }
            }
        }

        /// The next request the way made; it must be there.
        fn next(&mut self) -> Value {
            self.take_outputs();
            assert!(!self.asked.is_empty(), "nothing was asked");
            self.asked.remove(0)
        }

        fn nothing_asked(&mut self) {
            self.take_outputs();
            assert!(self.asked.is_empty(), "asked: {:?}", self.asked);
        }

        fn hear(&mut self, reply: Value) {
            let reply = Reply::decode(&reply.to_string()).unwrap();
            self.way
                .handle_event(&mut self.room, JanusEvent::Reply(Box::new(reply)));
        }

        /// A plugin event about `handle`, answering `transaction` (if any).
        fn event(&mut self, transaction: Option<&Value>, handle: u64, data: Value) {
            let mut reply = json!({
                "janus": "event",
                "session_id": SESSION,
                "sender": handle,
                "plugindata": {"plugin": "janus.plugin.videoroom", "data": data},
            });
            if let Some(t) = transaction {
                reply["transaction"] = t.clone();
            }
            self.hear(reply);
        }

        fn created(&mut self, request: &Value, id: u64) {
            self.hear(json!({
                "janus": "success",
                "transaction": request["transaction"],
                "data": {"id": id},
            }));
        }

        /// Connected, session made, publisher handle attached: returns the `join`.
        fn up_to_join(&mut self) -> Value {
            self.way.handle_event(&mut self.room, JanusEvent::Connected);
            let create = self.next();
            assert_eq!(create["janus"], "create");
            self.created(&create, SESSION);
            let attach = self.next();
            assert_eq!(attach["janus"], "attach");
            assert_eq!(attach["session_id"], SESSION);
            self.created(&attach, PUBLISHER);
            let join = self.next();
            assert_eq!(join["body"]["request"], "join");
            assert_eq!(join["body"]["ptype"], "publisher");
            join
        }

        /// In the room with these publishers there; returns our publishing `configure`.
        fn joined(&mut self, publishers: Value) -> Value {
            let join = self.up_to_join();
            self.event(
                Some(&join["transaction"]),
                PUBLISHER,
                json!({"videoroom": "joined", "id": 1, "private_id": 7, "publishers": publishers}),
            );
            let publish = self.next();
            assert_eq!(publish["body"]["request"], "configure");
            assert_eq!(publish["jsep"]["type"], "offer");
            publish
        }
    }

    fn publisher(id: u64, name: &str) -> Value {
        json!({"id": id, "display": name, "streams": [
            {"type": "audio", "mid": "0", "codec": "opus"},
            {"type": "video", "mid": "1", "codec": "h264"},
        ]})
    }

    /// A Confer room's media through Janus: we join under our Confer peer id with the room's
    /// PIN; feeds are Confer's members (by display), named as Confer says; a feed of someone
    /// not listed waits for them; a feed that goes takes only their media; Janus going away
    /// does not end the call (Confer's server does).
    #[test]
    fn in_a_confer_room_feeds_are_its_members_and_the_meeting_is_confers() {
        let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1");
        let route = MediaRoute {
            via: "janus".into(),
            url: "ws://sfu.example:8188/".into(),
            room: 4242,
            pin: "k3y".into(),
        };
        janus.way = JanusRoom::for_confer_room(&route, "me-id".into());
        janus
            .way
            .member(&mut janus.room, "bo-id", "Bo", Some(camera_off()));
        let join = janus.up_to_join();
        assert_eq!(join["body"]["room"], 4242);
        assert_eq!(join["body"]["pin"], "k3y");
        assert_eq!(join["body"]["display"], "me-id");
        janus.event(
            Some(&join["transaction"]),
            PUBLISHER,
            json!({"videoroom": "joined", "id": 1, "private_id": 7,
                   "publishers": [publisher(2, "bo-id"), publisher(3, "cy-id")]}),
        );
        let bo = janus
            .room
            .participant(&ParticipantId::from("bo-id"))
            .unwrap();
        assert_eq!((bo.name.as_str(), bo.media), ("Bo", Some(camera_off())));
        assert!(
            janus
                .room
                .participant(&ParticipantId::from("cy-id"))
                .is_none()
        );
        assert!(
            janus
                .room
                .participant(&ParticipantId::from("janus-3"))
                .is_none()
        );
        // Cy's join reaches us through Confer after their feed: it is taken then.
        janus.way.member(&mut janus.room, "cy-id", "Cy", None);
        let cy = janus
            .room
            .participant(&ParticipantId::from("cy-id"))
            .unwrap();
        assert_eq!(cy.name, "Cy");
        // Bo's feed goes; Bo stays in the meeting until Confer's server says otherwise.
        janus.event(
            None,
            PUBLISHER,
            json!({"videoroom": "event", "unpublished": 2}),
        );
        assert!(
            janus
                .room
                .participant(&ParticipantId::from("bo-id"))
                .is_some()
        );
        let closed = JanusClosed::Unreachable {
            attempts: 3,
            why: "gone".into(),
        };
        janus
            .way
            .handle_event(&mut janus.room, JanusEvent::Closed(closed));
        janus.take_outputs();
        assert_eq!(janus.ended, None);
    }

    #[test]
    fn it_joins_with_its_name_and_pin_and_publishes_its_video_in_two_layers() {
        let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1234&pin=s3cret");
        let join = janus.up_to_join();
        assert_eq!(join["body"]["display"], "Ann");
        assert_eq!(join["body"]["room"], 1234);
        assert_eq!(join["body"]["pin"], "s3cret");
        janus.event(
            Some(&join["transaction"]),
            PUBLISHER,
            json!({"videoroom": "joined", "id": 1, "publishers": []}),
        );
        let publish = janus.next();
        let sdp = publish["jsep"]["sdp"].as_str().unwrap();
        // Simulcast, highest first: Janus takes the first rid for its highest substream.
        let full = sdp.find("a=rid:f send").expect(sdp);
        let quarter = sdp.find("a=rid:q send").expect(sdp);
        assert!(full < quarter, "{sdp}");
        assert!(sdp.contains("a=simulcast:send f;q"), "{sdp}");
        // Nobody else there: no subscription yet.
        janus.nothing_asked();
    }

    #[test]
    fn refusals_end_the_call_with_their_sentence() {
        for (code, error, expected) in [
            (433, "Unauthorized (wrong pin)", CallError::WrongPin),
            (429, "Missing mandatory element (pin)", CallError::WrongPin),
            (426, "No such room (1234)", CallError::NoSuchRoom),
            (
                432,
                "Maximum number of publishers (6) reached",
                CallError::RoomFull,
            ),
        ] {
            let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1234");
            let join = janus.up_to_join();
            janus.event(
                Some(&join["transaction"]),
                PUBLISHER,
                json!({"videoroom": "event", "error_code": code, "error": error}),
            );
            janus.take_outputs();
            // It leaves; the connection's close ends the call with the reason.
            janus
                .way
                .handle_event(&mut janus.room, JanusEvent::Closed(JanusClosed::Left));
            janus.take_outputs();
            assert_eq!(janus.ended, Some(Err(expected)), "{code}");
        }
    }

    #[test]
    fn the_receiving_connection_changes_one_negotiation_at_a_time() {
        let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1234");
        janus.joined(json!([publisher(2, "Bo")]));
        let attach = janus.next();
        assert_eq!(attach["janus"], "attach");
        // Cy starts publishing while the handle is being made: nothing more is asked yet.
        janus.event(
            None,
            PUBLISHER,
            json!({"videoroom": "event", "publishers": [publisher(3, "Cy")]}),
        );
        janus.nothing_asked();
        assert_eq!(janus.room.participants.len(), 2);
        // The handle: one join asks for both.
        janus.created(&attach, SUBSCRIBER);
        let join = janus.next();
        assert_eq!(join["body"]["ptype"], "subscriber");
        assert_eq!(join["body"]["private_id"], 7);
        let feeds: Vec<&Value> = join["body"]["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["feed"])
            .collect();
        assert_eq!(feeds, [&json!(2), &json!(3)]);
        // Di comes before that negotiation is done: she waits for `started`.
        janus.event(
            None,
            PUBLISHER,
            json!({"videoroom": "event", "publishers": [publisher(4, "Di")]}),
        );
        janus.nothing_asked();
        janus.way.session.subscriber_joined = true;
        janus.event(
            None,
            SUBSCRIBER,
            json!({"videoroom": "event", "started": "ok"}),
        );
        let subscribe = janus.next();
        assert_eq!(subscribe["body"]["request"], "subscribe");
        assert_eq!(subscribe["body"]["streams"], json!([{"feed": 4}]));
        // Cy leaves: gone from the meeting.
        janus.event(None, PUBLISHER, json!({"videoroom": "event", "leaving": 3}));
        assert_eq!(janus.room.participants.len(), 2);
    }

    /// A share that ends: Janus lists the publisher's screen stream as disabled and stops
    /// forwarding it, but renegotiates nothing by itself. We unsubscribe from it (Janus's next
    /// offer then ends its section, which is how the receiver hears the share ended), and a
    /// Janus that answers a change with no offer does not hold up the next one.
    #[test]
    fn a_stream_its_publisher_disabled_is_unsubscribed_from() {
        let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1234");
        let sharing = |screen_disabled: bool| {
            json!({"id": 2, "display": "Bo", "streams": [
                {"type": "audio", "mid": "0", "codec": "opus"},
                {"type": "video", "mid": "1", "codec": "h264"},
                {"type": "video", "mid": "2", "codec": "h264", "disabled": screen_disabled},
            ]})
        };
        janus.joined(json!([sharing(false)]));
        let attach = janus.next();
        janus.created(&attach, SUBSCRIBER);
        let join = janus.next();
        assert_eq!(join["body"]["ptype"], "subscriber");
        // Janus's offer held all three (what on_subscriber_offer records), and was answered.
        janus.way.session.subscriber_joined = true;
        janus.way.session.in_flight = false;
        janus.way.feed_mids.insert(
            FeedId::Number(2),
            ["0", "1", "2"].map(String::from).into_iter().collect(),
        );
        // Bo stops sharing.
        janus.event(
            None,
            PUBLISHER,
            json!({"videoroom": "event", "publishers": [sharing(true)]}),
        );
        let unsubscribe = janus.next();
        assert_eq!(unsubscribe["body"]["request"], "unsubscribe");
        assert_eq!(
            unsubscribe["body"]["streams"],
            json!([{"feed": 2, "mid": "2"}])
        );
        janus.nothing_asked();
        // Cy arrives meanwhile: she waits for that change.
        janus.event(
            None,
            PUBLISHER,
            json!({"videoroom": "event", "publishers": [publisher(3, "Cy")]}),
        );
        janus.nothing_asked();
        // Janus answers with no offer (nothing to change after all): Cy's turn now.
        janus.event(
            Some(&unsubscribe["transaction"]),
            SUBSCRIBER,
            json!({"videoroom": "updated", "room": 1234}),
        );
        let subscribe = janus.next();
        assert_eq!(subscribe["body"]["request"], "subscribe");
        assert_eq!(subscribe["body"]["streams"], json!([{"feed": 3}]));
    }

    #[test]
    fn a_janus_that_forgot_the_session_is_joined_afresh() {
        let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1234");
        janus.joined(json!([publisher(2, "Bo")]));
        let attach = janus.next();
        janus.hear(json!({
            "janus": "error",
            "transaction": attach["transaction"],
            "error": {"code": 458, "reason": "No such session 100"},
        }));
        // Everyone it told of is gone (they come back as Janus lists them again) and a new
        // session is asked for.
        assert!(janus.room.participants.is_empty());
        assert_eq!(janus.next()["janus"], "create");
        assert_eq!(janus.ended, None);
    }

    /// A connection Janus hung up on its own (a DTLS handshake that did not finish) is lost
    /// for good: we leave that session and join afresh. One the room closed ("Close PC") is
    /// the room's business, and a hang-up of a session we left is no longer ours.
    #[test]
    fn a_connection_janus_hung_up_is_joined_afresh_unless_the_room_closed_it() {
        let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1234");
        janus.joined(json!([publisher(2, "Bo")]));
        let _attach = janus.next();
        let hangup = |sender: u64, reason: &str| {
            json!({
                "janus": "hangup",
                "session_id": SESSION,
                "sender": sender,
                "reason": reason,
            })
        };
        janus.hear(hangup(PUBLISHER, "Close PC"));
        janus.nothing_asked();
        janus.hear(hangup(PUBLISHER + 1, "DTLS timeout"));
        janus.nothing_asked();

        janus.hear(hangup(PUBLISHER, "DTLS timeout"));
        assert_eq!(janus.next()["janus"], "create");
        let destroy = janus.next();
        assert_eq!(
            (&destroy["janus"], &destroy["session_id"]),
            (&json!("destroy"), &json!(SESSION))
        );
        assert!(janus.room.participants.is_empty());
        assert_eq!(janus.ended, None);
        // The old session's handles are not ours any more.
        janus.hear(hangup(PUBLISHER, "DTLS alert"));
        janus.nothing_asked();
    }

    #[test]
    fn keyframes_are_asked_of_janus_for_the_sections_received_only() {
        let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1234");
        janus.joined(json!([]));
        let (receive, publish) = (ConnectionId(41), ConnectionId(40));
        janus.way.receive = Some(receive);
        janus.way.publish = Some(publish);
        janus.way.session.subscriber = Some(SUBSCRIBER);
        janus
            .way
            .keyframe_wanted(&mut janus.room, receive, &[Mid::from("3")]);
        let configure = janus.next();
        assert_eq!(configure["handle_id"], SUBSCRIBER);
        assert_eq!(
            configure["body"],
            json!({"request": "configure", "mid": "3", "send": true})
        );
        // Keyframe requests on the connection we publish on are Janus's own to send.
        janus
            .way
            .keyframe_wanted(&mut janus.room, publish, &[Mid::from("1")]);
        janus.nothing_asked();
    }

    #[test]
    fn the_layer_janus_forwards_is_named_for_its_participant() {
        let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1234");
        janus.joined(json!([publisher(2, "Bo"), publisher(3, "Cy")]));
        let receive = ConnectionId(41);
        janus.way.receive = Some(receive);
        janus.way.session.subscriber = Some(SUBSCRIBER);
        let (bo, cy) = (
            ParticipantId::from("janus-2"),
            ParticipantId::from("janus-3"),
        );
        janus.room.attach(&bo, receive, Some(Mid::from("1")));
        janus.room.attach(&cy, receive, Some(Mid::from("3")));
        janus.event(
            None,
            SUBSCRIBER,
            json!({"videoroom": "event", "mid": "3", "substream": 0}),
        );
        janus.event(
            None,
            SUBSCRIBER,
            json!({"videoroom": "event", "mid": "1", "substream": 1}),
        );
        let layer = |id: &ParticipantId| janus.room.participants[id].figures.layer_in;
        assert_eq!(layer(&cy), Some("quarter"));
        assert_eq!(layer(&bo), Some("full"));
    }

    #[test]
    fn a_section_forwarded_below_its_layer_is_asked_for_again_every_few_seconds() {
        let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1234");
        janus.joined(json!([]));
        let receive = ConnectionId(41);
        janus.way.receive = Some(receive);
        janus.way.session.subscriber = Some(SUBSCRIBER);
        // Janus forwards the small layer of one section, the full one of another.
        for (mid, substream) in [("1", 0), ("3", 1)] {
            janus.event(
                None,
                SUBSCRIBER,
                json!({"videoroom": "event", "mid": mid, "substream": substream}),
            );
        }
        let stats = |janus: &mut FakeJanus| janus.way.receive_loss(&mut janus.room, receive, 0.0);
        // Behind for a moment (Janus's own falling back): nothing asked.
        stats(&mut janus);
        janus.nothing_asked();
        janus.room.now += Duration::from_secs(1);
        stats(&mut janus);
        janus.nothing_asked();
        // Behind for long: asked again, and again each time that passes.
        janus.room.now += ASK_AGAIN_EVERY;
        stats(&mut janus);
        let configure = janus.next();
        assert_eq!(configure["body"]["mid"], "1");
        assert_eq!(configure["body"]["substream"], 1);
        janus.nothing_asked();
        janus.room.now += Duration::from_secs(1);
        stats(&mut janus);
        janus.nothing_asked();
        janus.room.now += ASK_AGAIN_EVERY;
        stats(&mut janus);
        assert_eq!(janus.next()["body"]["mid"], "1");
        // Caught up: nothing more. Under loss the small layer is what we asked for.
        janus.event(
            None,
            SUBSCRIBER,
            json!({"videoroom": "event", "mid": "1", "substream": 1}),
        );
        janus.room.now += ASK_AGAIN_EVERY;
        stats(&mut janus);
        janus.nothing_asked();
        janus.event(
            None,
            SUBSCRIBER,
            json!({"videoroom": "event", "mid": "3", "substream": 0}),
        );
        stats(&mut janus);
        janus.room.now += ASK_AGAIN_EVERY;
        janus.way.receive_loss(&mut janus.room, receive, 0.05);
        janus.nothing_asked();
    }

    #[test]
    fn loss_on_the_receiving_connection_falls_back_to_the_small_layer_until_it_clears() {
        let mut janus = FakeJanus::new("janus+ws://janus.example:8188/?room=1234");
        janus.joined(json!([]));
        let receive = ConnectionId(41);
        janus.way.receive = Some(receive);
        janus.way.session.subscriber = Some(SUBSCRIBER);
        janus.way.wanted.insert(Mid::from("1"), 1);
        janus.way.ask_substreams(&mut janus.room);
        let substream = |janus: &mut FakeJanus| {
            let configure = janus.next();
            assert_eq!(configure["body"]["mid"], "1");
            configure["body"]["substream"].clone()
        };
        assert_eq!(substream(&mut janus), 1);
        let loss = |janus: &mut FakeJanus, loss: f32| {
            janus.way.receive_loss(&mut janus.room, receive, loss);
        };
        loss(&mut janus, 0.05);
        janus.nothing_asked();
        loss(&mut janus, 0.12);
        assert_eq!(substream(&mut janus), 0);
        // Until it clears (below 3 %), not merely eases.
        loss(&mut janus, 0.05);
        janus.nothing_asked();
        loss(&mut janus, 0.01);
        assert_eq!(substream(&mut janus), 1);
        // Loss on the connection we publish on is not about what we receive.
        janus
            .way
            .receive_loss(&mut janus.room, ConnectionId(40), 0.5);
        janus.nothing_asked();
    }

    #[test]
    fn small_tiles_take_the_quarter_layer_and_larger_ones_the_full() {
        assert_eq!(substream_for(320, 180), 0);
        assert_eq!(substream_for(480, 270), 0);
        assert_eq!(substream_for(481, 200), 1);
        assert_eq!(substream_for(1280, 720), 1);
    }
}
