//! Rooms on a Janus server for Confer rooms that outgrow the mesh (`confer serve --janus URL`).
//!
//! One task keeps a session on that Janus (through the call's own transport,
//! `signal::janus_client`) and answers the hub's asks: make a VideoRoom for a Confer room (H.264
//! and Opus, private, with a PIN of its own that only the Confer room's members are told), and
//! destroy it when the Confer room empties. Janus answers `create` and `destroy` at once, by
//! transaction, so asks are matched to answers that way. A Janus that restarts has forgotten its
//! rooms: the rooms made before are gone, and nothing makes them again yet (the README says so:
//! a Confer room past its mesh loses its media when its Janus restarts).

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use crate::signal::janus::{Action, Reply, Request, RoomId, VideoRoom};
use crate::signal::janus_client::{JanusClient, JanusCommand, JanusEvent};
use crate::signal::proto::MediaRoute;
use crate::token::random_id;

const PLUGIN: &str = "janus.plugin.videoroom";
/// Publishers a room takes: well past any meeting two cores could carry, under Janus's
/// own cap.
const PUBLISHERS: u32 = 64;
/// Room numbers stay below 2^52: browsers read JSON numbers as doubles.
const ROOM_NUMBERS: u64 = 1 << 52;

/// What the server was told to use.
#[derive(Debug, Clone)]
pub struct JanusSettings {
    /// Where the server reaches Janus's WebSocket API, and where clients are sent.
    pub url: String,
    /// The VideoRoom plugin's `admin_key`, when it asks one for `create`.
    pub admin_key: Option<String>,
}

/// A room number no one guesses: the PIN is what admits, this only keeps rooms apart.
fn random_room() -> u64 {
    let mut bytes = [0u8; 8];
    // As `random_id`: aws-lc's fill does not fail on supported platforms; a zero number only
    // risks meeting another room's, which Janus refuses (and the next first join asks again).
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    (u64::from_le_bytes(bytes) % (ROOM_NUMBERS - 1)) + 1
}

/// A step of our session set-up, which Janus answers with the new id.
#[derive(Debug, Clone, Copy)]
enum Setup {
    Session,
    Handle,
}

enum Ask {
    Create(oneshot::Sender<Result<MediaRoute, String>>),
    Destroy(u64),
}

/// The hub's handle on the task.
#[derive(Clone)]
pub struct JanusRooms {
    asks: mpsc::Sender<Ask>,
}

impl JanusRooms {
    /// Starts the task on the current tokio runtime (it connects in the background, again
    /// and again while Janus is away).
    pub fn start(settings: JanusSettings) -> Result<JanusRooms, String> {
        let client = JanusClient::start(settings.url.clone(), None).map_err(|e| e.to_string())?;
        let (asks, ask_rx) = mpsc::channel(64);
        tokio::spawn(run(settings, client, ask_rx));
        Ok(JanusRooms { asks })
    }

    /// A new room on Janus, for one Confer room.
    pub async fn create(&self) -> Result<MediaRoute, String> {
        let (reply, answer) = oneshot::channel();
        self.asks
            .send(Ask::Create(reply))
            .await
            .map_err(|_| "the Janus task has ended".to_string())?;
        answer
            .await
            .map_err(|_| "Janus went away before it answered".to_string())?
    }

    /// The room is no longer needed (its Confer room emptied). Best effort.
    pub fn destroy(&self, room: u64) {
        let _ = self.asks.try_send(Ask::Destroy(room));
    }
}

/// The task's state: the session and handle on Janus, and asks waiting for them or for answers.
struct Keeper {
    settings: JanusSettings,
    commands: mpsc::Sender<JanusCommand>,
    session: Option<u64>,
    handle: Option<u64>,
    next: u64,
    /// Transactions of our own session set-up.
    setup: HashMap<String, Setup>,
    /// `create` asks sent, by transaction: the room made and who waits for it.
    creating: HashMap<String, (MediaRoute, oneshot::Sender<Result<MediaRoute, String>>)>,
    /// Asks that came before the handle was there.
    waiting: Vec<Ask>,
}

async fn run(settings: JanusSettings, mut client: JanusClient, mut asks: mpsc::Receiver<Ask>) {
    let mut keeper = Keeper {
        settings,
        commands: client.commands.clone(),
        session: None,
        handle: None,
        next: 0,
        setup: HashMap::new(),
        creating: HashMap::new(),
        waiting: Vec::new(),
    };
    loop {
        tokio::select! {
            ask = asks.recv() => match ask {
                Some(ask) => keeper.ask(ask).await,
                None => break,
            },
            event = client.events.recv() => match event {
                Some(event) => keeper.heard(event).await,
                None => break,
            },
        }
    }
    let _ = keeper.commands.send(JanusCommand::Leave).await;
}

impl Keeper {
    async fn send(&mut self, action: Action) -> String {
        self.next += 1;
        let transaction = format!("s{}", self.next);
        let request = Request {
            action,
            transaction: transaction.clone(),
            token: None,
        };
        let _ = self
            .commands
            .send(JanusCommand::Send(Box::new(request)))
            .await;
        transaction
    }

    async fn ask(&mut self, ask: Ask) {
        let (Some(session_id), Some(handle_id)) = (self.session, self.handle) else {
            self.waiting.push(ask);
            return;
        };
        let admin_key = self.settings.admin_key.clone();
        let (body, made) = match ask {
            Ask::Create(reply) => {
                let route = MediaRoute {
                    via: "janus".into(),
                    url: self.settings.url.clone(),
                    room: random_room(),
                    pin: random_id(12),
                };
                let body = VideoRoom::Create {
                    room: RoomId::Number(route.room),
                    pin: route.pin.clone(),
                    publishers: PUBLISHERS,
                    is_private: true,
                    videocodec: "h264",
                    h264_profile: "42e01f",
                    audiocodec: "opus",
                    admin_key,
                };
                (body, Some((route, reply)))
            }
            Ask::Destroy(room) => {
                let room = RoomId::Number(room);
                (VideoRoom::Destroy { room, admin_key }, None)
            }
        };
        let action = Action::Message {
            session_id,
            handle_id,
            body,
            jsep: None,
        };
        let transaction = self.send(action).await;
        if let Some(made) = made {
            self.creating.insert(transaction, made);
        }
    }

    async fn heard(&mut self, event: JanusEvent) {
        match event {
            JanusEvent::Connected => {
                // A new connection: whatever was made on the old session is gone with it.
                self.session = None;
                self.handle = None;
                self.fail_all("the connection to Janus dropped");
                let transaction = self.send(Action::Create).await;
                self.setup.insert(transaction, Setup::Session);
            }
            JanusEvent::Reply(reply) => self.on_reply(*reply).await,
            JanusEvent::Reconnecting { why, .. } => {
                tracing::warn!("Janus for rooms past the mesh: {why}");
                self.fail_all("the connection to Janus dropped");
            }
            JanusEvent::Garbage(what) => tracing::warn!("Janus sent garbage: {what}"),
            JanusEvent::Closed(_) => self.fail_all("Janus cannot be reached"),
        }
    }

    fn fail_all(&mut self, why: &str) {
        for (_, (_, reply)) in self.creating.drain() {
            let _ = reply.send(Err(why.to_string()));
        }
    }

    async fn on_reply(&mut self, reply: Reply) {
        let Some(transaction) = reply.transaction.clone() else {
            return;
        };
        if reply.janus == "ack" {
            return;
        }
        if let Some(step) = self.setup.remove(&transaction) {
            let Some(id) = reply.data.as_ref().map(|d| d.id) else {
                tracing::warn!("Janus refused the server's {step:?}: {:?}", reply.error);
                return;
            };
            if let Setup::Session = step {
                self.session = Some(id);
                let _ = self
                    .commands
                    .send(JanusCommand::KeepAlive {
                        session_id: id,
                        token: None,
                    })
                    .await;
                let plugin = Action::Attach {
                    plugin: PLUGIN,
                    session_id: id,
                };
                let transaction = self.send(plugin).await;
                self.setup.insert(transaction, Setup::Handle);
            } else {
                self.handle = Some(id);
                for ask in std::mem::take(&mut self.waiting) {
                    self.ask(ask).await;
                }
            }
            return;
        }
        let Some((route, waiting)) = self.creating.remove(&transaction) else {
            return;
        };
        let made = match reply.videoroom() {
            Some(event) if event.videoroom.as_deref() == Some("created") => Ok(route),
            Some(event) => Err(event.refusal().map_or_else(
                || "no room made".to_string(),
                |(code, why)| format!("{code}: {why}"),
            )),
            None => Err(reply.error.map_or_else(
                || "no answer".to_string(),
                |e| format!("{}: {}", e.code, e.reason),
            )),
        };
        let _ = waiting.send(made);
    }
}
