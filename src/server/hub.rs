//! Rooms and their members: who is in which room, and delivery of messages between them.
//!
//! Locks: the registry lock (`rooms`) is taken only when membership changes, and always before a
//! room's lock; relaying (the hot path) takes only the room's own lock, so busy rooms do not slow
//! each other. No lock is held across an await: delivery is `try_send` into a bounded queue, and
//! a receiver whose queue is full is too slow and is dropped, never waited for.
//!
//! With a [`Cluster`] (Redis), members connected to other servers are `Remote`: what is meant
//! for them is published once per room, and what other servers publish arrives through
//! [`LocalRooms::remote_event`](super::cluster::LocalRooms::remote_event).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::cluster::{Cluster, LocalRooms, RemoteMember, RoomEvent};
use super::janus_rooms::JanusRooms;
use super::limits::Limits;
use super::metrics::Metrics;
use super::outbox::{Outbox, Outgoing, Pushed};
use crate::signal::proto::{
    ErrorCode, IceServer, MediaRoute, PeerInfo, ProtocolError, ServerMessage,
};
use crate::token::random_id;

/// How long a join waits for Redis before giving up with a `server` error.
const REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A connection's place in a room, as the connection holds it.
#[derive(Debug, Clone)]
pub struct Membership {
    pub room: Arc<Room>,
    pub id: String,
    /// Changes whenever another connection takes this place over (resume), so that the old
    /// connection's late actions are ignored.
    pub epoch: u64,
}

#[derive(Debug)]
pub struct Room {
    pub name: String,
    state: Mutex<RoomState>,
}

#[derive(Debug, Default)]
struct RoomState {
    members: HashMap<String, Member>,
    /// The SFU room made for this room (`--janus`), once Janus has made it.
    route: Option<MediaRoute>,
    /// Whether one was asked for.
    route_asked: bool,
    /// Whether the media went through it: from the join past the mesh on, for good.
    moved: bool,
}

#[derive(Debug)]
struct Member {
    name: String,
    resume: String,
    epoch: u64,
    link: Link,
}

#[derive(Debug)]
enum Link {
    Connected(Arc<Outbox>),
    /// Dropped without leaving: kept for `resume`, collecting what arrives meanwhile.
    Away {
        backlog: VecDeque<Outgoing>,
    },
    /// Connected to another server of the cluster.
    Remote {
        server: String,
    },
}

impl Link {
    fn is_local(&self) -> bool {
        !matches!(self, Link::Remote { .. })
    }
}

/// What a successful join or resume gives the connection to send, in order.
pub struct Admitted {
    pub membership: Membership,
    pub welcome: String,
    pub backlog: Vec<Outgoing>,
}

pub struct Hub {
    /// Itself, for the tasks it starts (an SFU room made after the join that asked for it).
    me: std::sync::Weak<Hub>,
    /// Where rooms past the mesh go (`--janus`).
    janus: std::sync::OnceLock<JanusRooms>,
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    limits: Limits,
    metrics: Arc<Metrics>,
    ice_servers: Vec<IceServer>,
    cluster: Option<Arc<Cluster>>,
}

/// A poisoned lock means a panic elsewhere; the data is still consistent (no update spans a
/// panic point), so carry on rather than take the whole server down.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Hub {
    pub fn new(
        limits: Limits,
        metrics: Arc<Metrics>,
        ice_servers: Vec<IceServer>,
        cluster: Option<Arc<Cluster>>,
    ) -> Arc<Hub> {
        Arc::new_cyclic(|me| Hub {
            me: me.clone(),
            janus: std::sync::OnceLock::new(),
            rooms: Mutex::new(HashMap::new()),
            limits,
            metrics,
            ice_servers,
            cluster,
        })
    }

    /// Rooms past the mesh go through rooms made on this Janus (set once, at the start).
    pub fn use_janus(&self, janus: JanusRooms) {
        let _ = self.janus.set(janus);
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Admits a new participant to `room`. The token has been checked by the caller.
    pub async fn join(
        &self,
        room: &str,
        name: &str,
        outbox: Arc<Outbox>,
    ) -> Result<Admitted, ProtocolError> {
        let id = random_id(9);
        let Some(cluster) = &self.cluster else {
            return self.join_local(room, id, name, outbox, None);
        };
        let known = lock(&self.rooms).contains_key(room);
        let shared = async {
            let remote = if known {
                None
            } else {
                Some(cluster.open_room(room).await?)
            };
            let admitted = cluster
                .add_member(room, &id, name, self.limits.max_peers_per_room)
                .await?;
            Ok::<_, redis::RedisError>((remote, admitted))
        };
        // A join must not hang on a Redis that does not answer.
        // Boxed, so that connections on servers without Redis do not carry this state.
        let shared = Box::pin(shared);
        let (remote, admitted) = match tokio::time::timeout(REDIS_TIMEOUT, shared).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                return Err(ProtocolError::new(ErrorCode::Server, format!("Redis: {e}")));
            }
            Err(_) => {
                return Err(ProtocolError::new(
                    ErrorCode::Server,
                    "Redis did not answer in time",
                ));
            }
        };
        let result = if admitted {
            self.join_local(room, id.clone(), name, outbox, remote)
        } else {
            Err(room_full(self.limits.max_peers_per_room))
        };
        match &result {
            Ok(_) => cluster.publish(
                room,
                &RoomEvent::Joined {
                    id,
                    name: name.to_string(),
                    server: cluster.server_id.clone(),
                },
            ),
            Err(_) => {
                if admitted {
                    cluster.forget(room, &id);
                }
                if !lock(&self.rooms).contains_key(room) {
                    cluster.unsubscribe(room);
                }
            }
        }
        result
    }

    fn join_local(
        &self,
        room: &str,
        id: String,
        name: &str,
        outbox: Arc<Outbox>,
        remote: Option<Vec<RemoteMember>>,
    ) -> Result<Admitted, ProtocolError> {
        let mut rooms = lock(&self.rooms);
        let room = match rooms.get(room) {
            Some(r) => Arc::clone(r),
            None => {
                if rooms.len() >= self.limits.max_rooms {
                    return Err(ProtocolError::new(
                        ErrorCode::RoomFull,
                        "this server holds as many rooms as it may; try again later",
                    ));
                }
                let r = Arc::new(Room {
                    name: room.to_string(),
                    state: Mutex::new(RoomState::default()),
                });
                rooms.insert(room.to_string(), Arc::clone(&r));
                self.metrics.rooms.fetch_add(1, Relaxed);
                r
            }
        };
        let mut state = lock(&room.state);
        let me = self.cluster.as_ref().map(|c| c.server_id.as_str());
        for member in remote.into_iter().flatten() {
            // Records of this server are stale (its ids are new each start).
            if Some(member.server.as_str()) != me && member.id != id {
                state.members.entry(member.id).or_insert(Member {
                    name: member.name,
                    resume: String::new(),
                    epoch: 0,
                    link: Link::Remote {
                        server: member.server,
                    },
                });
            }
        }
        // With a cluster, Redis has already counted this member in.
        let others = state.members.len();
        if self.cluster.is_none() && others >= self.limits.max_peers_per_room {
            return Err(room_full(self.limits.max_peers_per_room));
        }
        if state.members.contains_key(&id) {
            return Err(ProtocolError::new(
                ErrorCode::Server,
                "peer id collision; join again",
            ));
        }
        let resume = random_id(16);
        let peers = peer_list(&state, &id);
        if others == 0 {
            self.prepare_route(&room, &mut state);
        }
        if others >= self.limits.mesh_limit {
            self.move_media(&mut state);
        }
        let joined: Utf8Bytes = ServerMessage::PeerJoined {
            id: id.clone().into(),
            name: name.to_string(),
        }
        .encode()
        .into();
        let now = Instant::now();
        for member in state.members.values_mut() {
            self.deliver(member, &joined, now);
        }
        state.members.insert(
            id.clone(),
            Member {
                name: name.to_string(),
                resume: resume.clone(),
                epoch: 0,
                link: Link::Connected(outbox),
            },
        );
        self.metrics.joins_total.fetch_add(1, Relaxed);
        let welcome = self.welcome(&id, &resume, peers, media_of(&state));
        drop(state);
        Ok(Admitted {
            membership: Membership { room, id, epoch: 0 },
            welcome,
            backlog: Vec::new(),
        })
    }

    /// Gives a dropped participant its place back: same id, and what arrived meanwhile.
    /// `None` when the secret matches nobody (wrong, or the grace period is over).
    pub fn resume(&self, room: &str, secret: &str, outbox: Arc<Outbox>) -> Option<Admitted> {
        let room = Arc::clone(lock(&self.rooms).get(room)?);
        let mut state = lock(&room.state);
        let id = state
            .members
            .iter()
            .find(|(_, m)| m.link.is_local() && same_secret(&m.resume, secret))
            .map(|(id, _)| id.clone())?;
        let peers = peer_list(&state, &id);
        let member = state.members.get_mut(&id)?;
        member.epoch += 1;
        let old = std::mem::replace(&mut member.link, Link::Connected(outbox));
        let backlog = match old {
            // The old connection has not noticed yet that it is dead: this one replaces it.
            Link::Connected(old) => {
                old.kick();
                Vec::new()
            }
            Link::Away { backlog } => backlog.into(),
            // Not reachable: only local members are matched above.
            Link::Remote { .. } => Vec::new(),
        };
        let membership = Membership {
            room: Arc::clone(&room),
            id: id.clone(),
            epoch: member.epoch,
        };
        let resume = member.resume.clone();
        let welcome = self.welcome(&id, &resume, peers, media_of(&state));
        self.metrics.resumes_total.fetch_add(1, Relaxed);
        drop(state);
        Some(Admitted {
            membership,
            welcome,
            backlog,
        })
    }

    fn welcome(
        &self,
        id: &str,
        resume: &str,
        peers: Vec<PeerInfo>,
        media: Option<MediaRoute>,
    ) -> String {
        // (A welcome is sent straight to its connection, never through a cluster.)
        ServerMessage::Welcome {
            id: id.into(),
            resume: resume.to_string(),
            peers,
            ice_servers: self.ice_servers.clone(),
            media,
        }
        .encode()
    }

    /// A room's first member: with an SFU configured, a room is made on it now, so that it
    /// is there when the room outgrows the mesh (making one takes a round trip to Janus; the
    /// join past the mesh should not wait for it).
    fn prepare_route(&self, room: &Arc<Room>, state: &mut RoomState) {
        let (Some(janus), Some(hub)) = (self.janus.get(), self.me.upgrade()) else {
            return;
        };
        if state.route_asked {
            return;
        }
        state.route_asked = true;
        let (janus, room) = (janus.clone(), Arc::clone(room));
        let mesh_limit = self.limits.mesh_limit;
        tokio::spawn(async move {
            let made = janus.create().await;
            let mut state = lock(&room.state);
            match made {
                // The room emptied meanwhile: its SFU room is not needed.
                Ok(route) if state.members.is_empty() => janus.destroy(route.room),
                Ok(route) => {
                    tracing::info!(room = %room.name, janus = route.room, "SFU room made");
                    state.route = Some(route);
                    if state.members.len() > mesh_limit {
                        hub.move_media(&mut state);
                    }
                }
                Err(e) => {
                    // The next first member asks again.
                    state.route_asked = false;
                    tracing::warn!(room = %room.name, "Janus made no room: {e}");
                }
            }
        });
    }

    /// Past the mesh: everyone is told where the media goes now (newcomers by their welcome).
    /// Without an SFU room yet, it happens when the room is made.
    fn move_media(&self, state: &mut RoomState) {
        if state.moved {
            return;
        }
        let Some(route) = state.route.clone() else {
            return;
        };
        state.moved = true;
        let text: Utf8Bytes = ServerMessage::Media { route }.encode().into();
        let now = Instant::now();
        for member in state.members.values_mut() {
            self.deliver(member, &text, now);
        }
    }

    /// Relays `data` to one peer of the room.
    pub fn signal(
        &self,
        from: &Membership,
        to: &str,
        data: &RawValue,
        received: Instant,
    ) -> Result<(), ProtocolError> {
        let mut state = lock(&from.room.state);
        if !is_current(&state, from) {
            return Ok(()); // replaced by a resumed connection; this one is closing
        }
        let target = match state.members.get_mut(to) {
            Some(target) if to != from.id => target,
            _ => {
                return Err(ProtocolError::new(
                    ErrorCode::UnknownPeer,
                    "no such peer in this room",
                ));
            }
        };
        let text = ServerMessage::Signal {
            from: from.id.clone().into(),
            data: data.to_owned(),
        }
        .encode();
        if let (Link::Remote { .. }, Some(cluster)) = (&target.link, &self.cluster) {
            cluster.publish(
                &from.room.name,
                &RoomEvent::Signal {
                    to: to.to_string(),
                    text,
                },
            );
            self.metrics.messages_relayed_total.fetch_add(1, Relaxed);
        } else {
            self.deliver(target, &text.into(), received);
        }
        Ok(())
    }

    /// Relays `data` to every other peer of the room.
    pub fn broadcast(&self, from: &Membership, data: &RawValue, received: Instant) {
        let text: Utf8Bytes = ServerMessage::Broadcast {
            from: from.id.clone().into(),
            data: data.to_owned(),
        }
        .encode()
        .into();
        let mut state = lock(&from.room.state);
        if !is_current(&state, from) {
            return;
        }
        let mut remote = false;
        for (id, member) in state.members.iter_mut() {
            if *id != from.id {
                remote |= !member.link.is_local();
                self.deliver(member, &text, received);
            }
        }
        if remote && let Some(cluster) = &self.cluster {
            cluster.publish(
                &from.room.name,
                &RoomEvent::Broadcast {
                    from: from.id.clone(),
                    text: text.to_string(),
                },
            );
        }
    }

    /// The participant left on purpose: the others are told at once.
    pub fn leave(&self, membership: &Membership) {
        self.remove(membership, |_| true);
    }

    /// The connection dropped without leaving: keep the place for `resume_grace`, then let go.
    /// `unwritten` is what its outbox still held; it is kept for the resume, oldest first.
    pub fn disconnect(self: &Arc<Self>, membership: &Membership, unwritten: VecDeque<Outgoing>) {
        {
            let mut state = lock(&membership.room.state);
            if !is_current(&state, membership) {
                return;
            }
            if let Some(member) = state.members.get_mut(&membership.id) {
                match &mut member.link {
                    Link::Connected(_) => {
                        member.link = Link::Away { backlog: unwritten };
                    }
                    // Messages that arrived after the outbox closed are newer than the unwritten.
                    Link::Away { backlog } => {
                        let newer = std::mem::replace(backlog, unwritten);
                        backlog.extend(newer);
                    }
                    Link::Remote { .. } => {}
                }
            }
        }
        let hub = Arc::clone(self);
        let membership = membership.clone();
        let grace = self.limits.resume_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            hub.remove(&membership, |link| matches!(link, Link::Away { .. }));
        });
    }

    /// Removes the member if it is still the same one and `when` agrees; tells the others and
    /// drops the room once empty.
    fn remove(&self, membership: &Membership, when: impl Fn(&Link) -> bool) {
        let mut rooms = lock(&self.rooms);
        let mut state = lock(&membership.room.state);
        if !is_current(&state, membership)
            || !state
                .members
                .get(&membership.id)
                .is_some_and(|m| when(&m.link))
        {
            return;
        }
        state.members.remove(&membership.id);
        let left: Utf8Bytes = ServerMessage::PeerLeft {
            id: membership.id.clone().into(),
        }
        .encode()
        .into();
        let now = Instant::now();
        for member in state.members.values_mut() {
            self.deliver(member, &left, now);
        }
        let room = &membership.room.name;
        if let Some(cluster) = &self.cluster {
            cluster.publish(
                room,
                &RoomEvent::Left {
                    id: membership.id.clone(),
                },
            );
            cluster.forget(room, &membership.id);
        }
        // A room lives here while it has members here; the others' servers keep it going.
        let any_local = state.members.values().any(|m| m.link.is_local());
        if !any_local
            && rooms
                .get(room)
                .is_some_and(|r| Arc::ptr_eq(r, &membership.room))
        {
            rooms.remove(room);
            self.metrics.rooms.fetch_sub(1, Relaxed);
            if let (Some(janus), Some(route)) = (self.janus.get(), state.route.take()) {
                janus.destroy(route.room);
            }
            if let Some(cluster) = &self.cluster {
                cluster.unsubscribe(room);
            }
        }
    }

    /// The members connected here, by room (for leaving the cluster on shutdown).
    pub fn local_members(&self) -> Vec<(String, String)> {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        let mut members = Vec::new();
        for room in rooms {
            for (id, member) in lock(&room.state).members.iter() {
                if member.link.is_local() {
                    members.push((room.name.clone(), id.clone()));
                }
            }
        }
        members
    }

    /// Hands `text` to a member's connection, or keeps it for when the member resumes.
    fn deliver(&self, member: &mut Member, text: &Utf8Bytes, since: Instant) {
        let outgoing = Outgoing {
            text: text.clone(),
            since,
        };
        match &member.link {
            Link::Connected(outbox) => match outbox.push(outgoing, self.limits.outbox_messages) {
                Pushed::Queued => {
                    self.metrics.messages_relayed_total.fetch_add(1, Relaxed);
                }
                // Waiting would let one slow reader stall the room; dropping it keeps the
                // others going, and it can resume.
                Pushed::Full => {
                    self.metrics.slow_consumers_dropped.fetch_add(1, Relaxed);
                }
                // The connection ended a moment ago; keep the message for its resume.
                Pushed::Closed(outgoing) => {
                    member.link = Link::Away {
                        backlog: VecDeque::from([outgoing]),
                    };
                }
            },
            Link::Away { .. } => {
                if let Link::Away { backlog } = &mut member.link
                    && backlog.len() < self.limits.backlog_messages
                {
                    backlog.push_back(outgoing);
                }
            }
            // Reached through the cluster, by the caller.
            Link::Remote { .. } => {}
        }
    }

    /// Members of a room (tests, metrics).
    pub fn room_size(&self, room: &str) -> usize {
        lock(&self.rooms)
            .get(room)
            .map_or(0, |r| lock(&r.state).members.len())
    }
}

/// The cluster reaches the rooms here through this (it knows nothing else of the hub).
impl LocalRooms for Hub {
    /// Something another server of the cluster published about `room`.
    fn remote_event(&self, room: &str, event: RoomEvent) {
        let Some(room) = lock(&self.rooms).get(room).cloned() else {
            return; // nobody here any more
        };
        let now = Instant::now();
        let mut state = lock(&room.state);
        match event {
            RoomEvent::Joined { id, name, server } => {
                if state.members.contains_key(&id) {
                    return;
                }
                let joined: Utf8Bytes = ServerMessage::PeerJoined {
                    id: id.clone().into(),
                    name: name.clone(),
                }
                .encode()
                .into();
                for member in state.members.values_mut() {
                    self.deliver(member, &joined, now);
                }
                state.members.insert(
                    id,
                    Member {
                        name,
                        resume: String::new(),
                        epoch: 0,
                        link: Link::Remote { server },
                    },
                );
            }
            RoomEvent::Left { id } => {
                if state.members.get(&id).is_none_or(|m| m.link.is_local()) {
                    return;
                }
                state.members.remove(&id);
                let left: Utf8Bytes = ServerMessage::PeerLeft { id: id.into() }.encode().into();
                for member in state.members.values_mut() {
                    self.deliver(member, &left, now);
                }
            }
            RoomEvent::Signal { to, text } => {
                if let Some(target) = state.members.get_mut(&to)
                    && target.link.is_local()
                {
                    self.deliver(target, &text.into(), now);
                }
            }
            RoomEvent::Broadcast { from, text } => {
                let text: Utf8Bytes = text.into();
                for (id, member) in state.members.iter_mut() {
                    if *id != from && member.link.is_local() {
                        self.deliver(member, &text, now);
                    }
                }
            }
        }
    }

    /// The servers that members of rooms here are connected to.
    fn remote_servers(&self) -> std::collections::HashSet<String> {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        let mut servers = std::collections::HashSet::new();
        for room in rooms {
            for member in lock(&room.state).members.values() {
                if let Link::Remote { server } = &member.link {
                    servers.insert(server.clone());
                }
            }
        }
        servers
    }

    /// A server of the cluster died: its members leave every room here. Returns them.
    fn drop_server(&self, server: &str) -> Vec<(String, String)> {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        let now = Instant::now();
        let mut dropped = Vec::new();
        for room in rooms {
            let mut state = lock(&room.state);
            let gone: Vec<String> = state
                .members
                .iter()
                .filter(|(_, m)| matches!(&m.link, Link::Remote { server: s } if s == server))
                .map(|(id, _)| id.clone())
                .collect();
            for id in gone {
                state.members.remove(&id);
                let left: Utf8Bytes = ServerMessage::PeerLeft {
                    id: id.clone().into(),
                }
                .encode()
                .into();
                for member in state.members.values_mut() {
                    self.deliver(member, &left, now);
                }
                dropped.push((room.name.clone(), id));
            }
        }
        dropped
    }
}

/// Where the room's media goes, for a welcome: only once it has moved.
fn media_of(state: &RoomState) -> Option<MediaRoute> {
    state.route.clone().filter(|_| state.moved)
}

fn room_full(limit: usize) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::RoomFull,
        format!("the room is full ({limit} participants)"),
    )
}

fn is_current(state: &RoomState, membership: &Membership) -> bool {
    state
        .members
        .get(&membership.id)
        .is_some_and(|m| m.epoch == membership.epoch)
}

fn peer_list(state: &RoomState, except: &str) -> Vec<PeerInfo> {
    state
        .members
        .iter()
        .filter(|(id, _)| id.as_str() != except)
        .map(|(id, m)| PeerInfo {
            id: id.clone().into(),
            name: m.name.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox() -> Arc<Outbox> {
        Arc::new(Outbox::default())
    }

    fn hub(limits: Limits) -> Arc<Hub> {
        Hub::new(limits, Arc::new(Metrics::default()), Vec::new(), None)
    }

    fn join(
        hub: &Hub,
        room: &str,
        name: &str,
        outbox: Arc<Outbox>,
    ) -> Result<Admitted, ProtocolError> {
        hub.join_local(room, random_id(9), name, outbox, None)
    }

    fn next(outbox: &Outbox) -> ServerMessage {
        let out = outbox.pop().expect("no message");
        ServerMessage::decode(out.text.as_str()).unwrap()
    }

    fn data(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_string()).unwrap()
    }

    #[test]
    fn members_see_each_other_join_signal_and_leave() {
        let hub = hub(Limits::default());
        let (a_out, b_out) = (outbox(), outbox());
        let a = join(&hub, "r", "Ana", Arc::clone(&a_out)).unwrap();
        let b = join(&hub, "r", "Bo", Arc::clone(&b_out)).unwrap();
        let ServerMessage::Welcome { peers, .. } = ServerMessage::decode(&b.welcome).unwrap()
        else {
            panic!("not a welcome")
        };
        assert_eq!(
            peers,
            vec![PeerInfo {
                id: a.membership.id.clone().into(),
                name: "Ana".into()
            }]
        );
        assert!(matches!(next(&a_out), ServerMessage::PeerJoined { name, .. } if name == "Bo"));

        hub.signal(
            &a.membership,
            &b.membership.id,
            &data(r#"{"x":1}"#),
            Instant::now(),
        )
        .unwrap();
        assert!(
            matches!(next(&b_out), ServerMessage::Signal { from, .. } if from == a.membership.id)
        );
        let err = hub
            .signal(&a.membership, "nobody", &data("{}"), Instant::now())
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownPeer);
        let err = hub
            .signal(&a.membership, &a.membership.id, &data("{}"), Instant::now())
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::UnknownPeer);

        hub.leave(&a.membership);
        assert!(matches!(next(&b_out), ServerMessage::PeerLeft { id } if id == a.membership.id));
        hub.leave(&b.membership);
        assert_eq!(hub.room_size("r"), 0);
        assert_eq!(hub.metrics().rooms.load(Relaxed), 0);
    }

    /// Past the mesh limit the room moves: everyone there is told where the media goes, the
    /// one who joined too (in its welcome), and everyone after. Before, nobody is.
    #[test]
    fn a_join_past_the_mesh_moves_the_room_to_its_sfu_room() {
        let hub = hub(Limits {
            mesh_limit: 2,
            ..Limits::default()
        });
        let (a_out, b_out, c_out) = (outbox(), outbox(), outbox());
        let media = |welcome: &str| match ServerMessage::decode(welcome).unwrap() {
            ServerMessage::Welcome { media, .. } => media,
            other => panic!("not a welcome: {other:?}"),
        };
        let a = join(&hub, "r", "Ana", Arc::clone(&a_out)).unwrap();
        // What `--janus` makes when the first joins (Janus itself is in tests/janus_room.rs).
        let route = MediaRoute {
            via: "janus".into(),
            url: "ws://janus:8188".into(),
            room: 77,
            pin: "pin".into(),
        };
        lock(&a.membership.room.state).route = Some(route.clone());
        let b = join(&hub, "r", "Bo", Arc::clone(&b_out)).unwrap();
        assert_eq!(media(&a.welcome), None);
        assert_eq!(media(&b.welcome), None, "two fit the mesh");
        assert!(matches!(next(&a_out), ServerMessage::PeerJoined { .. }));
        let c = join(&hub, "r", "Cy", Arc::clone(&c_out)).unwrap();
        assert_eq!(media(&c.welcome), Some(route.clone()));
        for out in [&a_out, &b_out] {
            assert!(
                matches!(next(out), ServerMessage::Media { route: r } if r == route),
                "told before the newcomer's arrival"
            );
            assert!(matches!(next(out), ServerMessage::PeerJoined { .. }));
        }
        hub.leave(&c.membership);
        let d = join(&hub, "r", "Di", outbox()).unwrap();
        assert_eq!(media(&d.welcome), Some(route), "a room never moves back");
    }

    #[test]
    fn rooms_and_servers_fill_up() {
        let hub = hub(Limits {
            max_peers_per_room: 2,
            max_rooms: 1,
            ..Limits::default()
        });
        let keep: Vec<_> = (0..2)
            .map(|_| join(&hub, "r", "x", outbox()).unwrap())
            .collect();
        assert_eq!(
            join(&hub, "r", "x", outbox()).err().unwrap().code,
            ErrorCode::RoomFull
        );
        assert_eq!(
            join(&hub, "other", "x", outbox()).err().unwrap().code,
            ErrorCode::RoomFull
        );
        drop(keep);
    }

    #[tokio::test]
    async fn a_dropped_member_resumes_with_what_it_missed() {
        let hub = hub(Limits::default());
        let a = join(&hub, "r", "Ana", outbox()).unwrap();
        let b_out = outbox();
        let b = join(&hub, "r", "Bo", Arc::clone(&b_out)).unwrap();
        // B's connection ends with a message still unwritten; more arrive while it is away.
        let unwritten = ServerMessage::PeerLeft { id: "x".into() }.encode();
        b_out.push(
            Outgoing {
                text: unwritten.into(),
                since: Instant::now(),
            },
            8,
        );
        hub.disconnect(&b.membership, b_out.close());
        hub.signal(
            &a.membership,
            &b.membership.id,
            &data(r#"{"n":1}"#),
            Instant::now(),
        )
        .unwrap();
        hub.broadcast(&a.membership, &data(r#"{"n":2}"#), Instant::now());

        let ServerMessage::Welcome { resume, .. } = ServerMessage::decode(&b.welcome).unwrap()
        else {
            panic!()
        };
        assert!(hub.resume("r", "wrong-secret", outbox()).is_none());
        let back = hub.resume("r", &resume, outbox()).unwrap();
        assert_eq!(back.membership.id, b.membership.id);
        let missed: Vec<_> = back
            .backlog
            .iter()
            .map(|o| o.text.as_str().to_string())
            .collect();
        assert_eq!(missed.len(), 3, "{missed:?}");
        assert!(missed[0].contains("peer-left"), "{missed:?}");
        assert!(missed[1].contains(r#""n":1"#) && missed[2].contains(r#""n":2"#));
        // The old connection's late leave no longer counts.
        hub.leave(&b.membership);
        assert_eq!(hub.room_size("r"), 2);
    }

    #[test]
    fn a_receiver_that_does_not_read_is_dropped_not_waited_for() {
        let hub = self::hub(Limits {
            outbox_messages: 2,
            ..Limits::default()
        });
        let a = join(&hub, "r", "Ana", outbox()).unwrap();
        let b_out = outbox();
        let b = join(&hub, "r", "Bo", Arc::clone(&b_out)).unwrap();
        for _ in 0..4 {
            hub.signal(&a.membership, &b.membership.id, &data("{}"), Instant::now())
                .unwrap();
        }
        assert_eq!(hub.metrics().slow_consumers_dropped.load(Relaxed), 2);
        assert!(b_out.kicked(), "the slow receiver is told to go");
    }
}
