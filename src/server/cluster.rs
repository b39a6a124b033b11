//! Rooms shared by several `confer serve` processes through Redis (`--redis URL`).
//!
//! Each server keeps its own connections. A room's members live in the Redis hash
//! `confer:room:{ROOM}` (peer id -> `{"name","server"}`), which also enforces the room's size
//! atomically; what happens in a room travels on the channel `confer:room:{ROOM}`, to which every
//! server with a member there subscribes. Servers announce themselves with an expiring key
//! `confer:server:{ID}`; when one dies its key expires and the others drop its members, so a
//! dead server takes only its own connections with it.
//!
//! Everything this server sends to Redis goes through one ordered queue, so that membership
//! changes, subscriptions and messages reach Redis in the order they happened here.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// A server whose key is older than this is taken for dead.
const HEARTBEAT_TTL_SECS: u64 = 6;
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// Operations waiting for Redis. Rooms publish without waiting (under their lock), so a Redis
/// that stalls would otherwise grow this without end; past it, what is published is dropped
/// (counted and logged), as if Redis had lost it, and the rooms here go on.
const QUEUE: usize = 65_536;

/// What the cluster needs of this server's rooms (`server::hub::Hub` is them): events from
/// the other servers, and the servers whose members are here.
pub trait LocalRooms: Send + Sync {
    /// Something another server published about `room`.
    fn remote_event(&self, room: &str, event: RoomEvent);
    /// The servers that members of rooms here are connected to.
    fn remote_servers(&self) -> HashSet<String>;
    /// `server` died: its members leave every room here; returns them as (room, id).
    fn drop_server(&self, server: &str) -> Vec<(String, String)>;
}

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("cannot use Redis at {url}: {message}")]
    Connect { url: String, message: String },
}

/// What servers tell each other about a room.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "k", rename_all = "kebab-case")]
pub enum RoomEvent {
    Joined {
        id: String,
        name: String,
        server: String,
    },
    Left {
        id: String,
    },
    /// `text` is the protocol message, ready to send to `to`.
    Signal {
        to: String,
        text: String,
    },
    /// `text` goes to every member of the room but `from`.
    Broadcast {
        from: String,
        text: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct MemberRecord {
    name: String,
    server: String,
}

/// A member of a room as Redis lists it.
#[derive(Debug, Clone)]
pub struct RemoteMember {
    pub id: String,
    pub name: String,
    pub server: String,
}

enum Outbound {
    Publish {
        room: String,
        payload: String,
    },
    Forget {
        room: String,
        id: String,
    },
    Subscribe {
        room: String,
        done: oneshot::Sender<()>,
    },
    Unsubscribe {
        room: String,
    },
    /// Answered once everything queued before it has been sent.
    Flush {
        done: oneshot::Sender<()>,
    },
}

pub struct Cluster {
    pub server_id: String,
    url: String,
    conn: redis::aio::ConnectionManager,
    queue: mpsc::Sender<Outbound>,
    queue_rx: std::sync::Mutex<Option<mpsc::Receiver<Outbound>>>,
    /// Operations dropped because the queue was full.
    dropped: std::sync::atomic::AtomicU64,
    pubsub: std::sync::Mutex<Option<redis::aio::PubSub>>,
}

fn room_key(room: &str) -> String {
    format!("confer:room:{room}")
}

fn server_key(server: &str) -> String {
    format!("confer:server:{server}")
}

/// Adds a member if the room has room: `KEYS[1]` the hash, `ARGV` id, record, limit.
const ADD_MEMBER: &str = r"
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
";

impl Cluster {
    pub async fn connect(url: &str, server_id: String) -> Result<Arc<Cluster>, ClusterError> {
        let err = |e: redis::RedisError| ClusterError::Connect {
            url: url.to_string(),
            message: e.to_string(),
        };
        let client = redis::Client::open(url).map_err(err)?;
        let conn = tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
            .await
            .map_err(|_| ClusterError::Connect {
                url: url.to_string(),
                message: "timed out".into(),
            })?
            .map_err(err)?;
        let pubsub = client.get_async_pubsub().await.map_err(err)?;
        let (queue, queue_rx) = mpsc::channel(QUEUE);
        let cluster = Arc::new(Cluster {
            server_id,
            url: url.to_string(),
            conn,
            queue,
            queue_rx: std::sync::Mutex::new(Some(queue_rx)),
            dropped: std::sync::atomic::AtomicU64::new(0),
            pubsub: std::sync::Mutex::new(Some(pubsub)),
        });
        cluster.heartbeat().await.map_err(err)?;
        Ok(cluster)
    }

    /// Starts the tasks that talk to Redis for `rooms`.
    pub fn start(self: &Arc<Self>, rooms: Weak<dyn LocalRooms>) {
        fn take<T>(m: &std::sync::Mutex<Option<T>>) -> Option<T> {
            m.lock().ok().and_then(|mut g| g.take())
        }
        let (Some(queue_rx), Some(pubsub)) = (take(&self.queue_rx), take(&self.pubsub)) else {
            return; // already started
        };
        let (sink, stream) = pubsub.split();
        tokio::spawn(Arc::clone(self).drain_queue(queue_rx, sink));
        tokio::spawn(Self::listen(
            stream,
            Weak::clone(&rooms),
            self.server_id.clone(),
        ));
        tokio::spawn(Arc::clone(self).keep_alive(rooms));
    }

    /// Queues an operation without waiting (rooms call this under their lock).
    fn enqueue(&self, item: Outbound) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(item) {
            let dropped = self
                .dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(url = %self.url, "Redis is not keeping up; {dropped} operations dropped");
            }
        }
    }

    pub fn publish(&self, room: &str, event: &RoomEvent) {
        if let Ok(payload) = serde_json::to_string(event) {
            self.enqueue(Outbound::Publish {
                room: room.to_string(),
                payload,
            });
        }
    }

    pub fn forget(&self, room: &str, id: &str) {
        self.enqueue(Outbound::Forget {
            room: room.to_string(),
            id: id.to_string(),
        });
    }

    pub fn unsubscribe(&self, room: &str) {
        self.enqueue(Outbound::Unsubscribe {
            room: room.to_string(),
        });
    }

    /// Subscribes to the room's channel (in order with everything queued before) and returns
    /// its members as Redis has them.
    pub async fn open_room(&self, room: &str) -> Result<Vec<RemoteMember>, redis::RedisError> {
        let (done, subscribed) = oneshot::channel();
        // This one waits for room in the queue: joining can wait, the answer matters.
        let _ = self
            .queue
            .send(Outbound::Subscribe {
                room: room.to_string(),
                done,
            })
            .await;
        let _ = subscribed.await;
        let mut conn = self.conn.clone();
        let all: Vec<(String, String)> = conn.hgetall(room_key(room)).await?;
        Ok(all
            .into_iter()
            .filter_map(|(id, record)| {
                let record: MemberRecord = serde_json::from_str(&record).ok()?;
                Some(RemoteMember {
                    id,
                    name: record.name,
                    server: record.server,
                })
            })
            .collect())
    }

    /// Adds a member to the room in Redis unless the room is full; false when full.
    pub async fn add_member(
        &self,
        room: &str,
        id: &str,
        name: &str,
        limit: usize,
    ) -> Result<bool, redis::RedisError> {
        let record = serde_json::json!({"name": name, "server": self.server_id}).to_string();
        let mut conn = self.conn.clone();
        let added: i64 = redis::Script::new(ADD_MEMBER)
            .key(room_key(room))
            .arg(id)
            .arg(record)
            .arg(limit)
            .invoke_async(&mut conn)
            .await?;
        Ok(added == 1)
    }

    async fn heartbeat(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.set_ex::<_, _, ()>(server_key(&self.server_id), 1, HEARTBEAT_TTL_SECS)
            .await
    }

    /// Servers among `servers` whose heartbeat has expired.
    async fn dead_servers(&self, servers: HashSet<String>) -> Vec<String> {
        let mut conn = self.conn.clone();
        let mut dead = Vec::new();
        for server in servers {
            match conn.exists::<_, bool>(server_key(&server)).await {
                Ok(false) => dead.push(server),
                Ok(true) => {}
                Err(e) => {
                    tracing::warn!("Redis: {e}");
                    return Vec::new(); // cannot tell; decide nothing
                }
            }
        }
        dead
    }

    async fn drain_queue(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<Outbound>,
        mut sink: redis::aio::PubSubSink,
    ) {
        let mut conn = self.conn.clone();
        while let Some(item) = queue.recv().await {
            let result = match item {
                Outbound::Publish { room, payload } => {
                    conn.publish::<_, _, ()>(room_key(&room), payload).await
                }
                Outbound::Forget { room, id } => conn.hdel::<_, _, ()>(room_key(&room), id).await,
                Outbound::Subscribe { room, done } => {
                    let result = sink.subscribe(room_key(&room)).await;
                    let _ = done.send(());
                    result
                }
                Outbound::Unsubscribe { room } => sink.unsubscribe(room_key(&room)).await,
                Outbound::Flush { done } => {
                    let _ = done.send(());
                    Ok(())
                }
            };
            if let Err(e) = result {
                tracing::warn!(url = %self.url, "Redis: {e}");
            }
        }
    }

    async fn listen(mut stream: redis::aio::PubSubStream, rooms: Weak<dyn LocalRooms>, me: String) {
        while let Some(message) = stream.next().await {
            let Some(rooms) = rooms.upgrade() else { return };
            let Some(room) = message.get_channel_name().strip_prefix("confer:room:") else {
                continue;
            };
            let Ok(event) = serde_json::from_slice::<RoomEvent>(message.get_payload_bytes()) else {
                tracing::warn!("ignored an undecodable event from Redis");
                continue;
            };
            if let RoomEvent::Joined { server, .. } = &event
                && *server == me
            {
                continue; // our own join, already handled here
            }
            rooms.remote_event(room, event);
        }
        tracing::error!("lost the Redis subscription; rooms are no longer shared");
    }

    async fn keep_alive(self: Arc<Self>, rooms: Weak<dyn LocalRooms>) {
        let mut beat = tokio::time::interval(HEARTBEAT_EVERY.min(SWEEP_EVERY));
        loop {
            beat.tick().await;
            let Some(rooms) = rooms.upgrade() else { return };
            if let Err(e) = self.heartbeat().await {
                tracing::warn!("Redis heartbeat failed: {e}");
                continue;
            }
            let servers = rooms.remote_servers();
            if servers.is_empty() {
                continue;
            }
            for dead in self.dead_servers(servers).await {
                tracing::info!(server = %dead, "a server of this cluster is gone; dropping its members");
                for (room, id) in rooms.drop_server(&dead) {
                    self.forget(&room, &id);
                }
            }
        }
    }

    /// On shutdown: this server's members leave for good, and its key goes.
    pub async fn leave_all(&self, members: Vec<(String, String)>) {
        for (room, id) in members {
            self.publish(&room, &RoomEvent::Left { id: id.clone() });
            self.forget(&room, &id);
        }
        let mut conn = self.conn.clone();
        let _ = conn.del::<_, ()>(server_key(&self.server_id)).await;
        // Let the queue drain before the process goes.
        let (done, drained) = oneshot::channel();
        let _ = self.queue.send(Outbound::Flush { done }).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), drained).await;
    }
}
