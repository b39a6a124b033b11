//! `confer serve`: the signaling server (docs/PROTOCOL.md). One port serves WebSocket signaling
//! at `/ws`, `/healthz`, `/metrics` and the browser client at `/j/ROOM`.
//!
//! The same server runs standalone (`confer serve`) or embedded in the app ([`Server::start`]),
//! for a meeting on the local network. It imports only `signal::proto` and leaf modules.

mod cluster;
mod conn;
pub mod embedded;
mod http;
mod hub;
pub mod janus_rooms;
mod limits;
mod metrics;
mod outbox;
mod ratelimit;
pub mod tls;
mod web;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

pub use hub::Hub;
pub use limits::Limits;
pub use metrics::Metrics;

use crate::signal::proto::IceServer;
use crate::token::Secret;

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the server's runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    #[error("cannot use Janus at {url}: {reason}")]
    Janus { url: String, reason: String },
}

/// Who may join.
#[derive(Clone)]
pub enum Access {
    /// Anyone, any room: for the local network.
    Open,
    /// Holders of a token signed with this secret, for the token's room.
    Tokens(Arc<Secret>),
}

pub struct ServerConfig {
    pub listen: SocketAddr,
    pub access: Access,
    pub limits: Limits,
    pub ice_servers: Vec<IceServer>,
    /// `wss://` and `https://` with this; plain otherwise.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Share rooms with other servers through this Redis (`redis://HOST:PORT`).
    pub redis: Option<String>,
    /// Rooms past the mesh go through rooms made on this Janus.
    pub janus: Option<janus_rooms::JanusSettings>,
}

/// A running server. Dropping it stops it without waiting; [`Server::shutdown`] also waits for
/// the listener to close and, in a cluster, takes its members out of Redis.
pub struct Server {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    hub: Arc<Hub>,
    cluster: Option<Arc<cluster::Cluster>>,
}

struct Shared {
    hub: Arc<Hub>,
    access: Access,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// The guest page's Content-Security-Policy.
    page_policy: String,
}

impl Server {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(config: ServerConfig) -> Result<Server, ServerError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
        let metrics = Arc::new(Metrics::default());
        let cluster = match &config.redis {
            Some(url) => {
                let server_id = hex_id();
                let cluster = cluster::Cluster::connect(url, server_id.clone()).await?;
                tracing::info!(server = %server_id, "sharing rooms through Redis");
                Some(cluster)
            }
            None => None,
        };
        let hub = Hub::new(config.limits, metrics, config.ice_servers, cluster.clone());
        let page_policy = web::page_policy(config.janus.as_ref().map(|j| j.url.as_str()));
        if let Some(janus) = config.janus {
            let url = janus.url.clone();
            let rooms = janus_rooms::JanusRooms::start(janus)
                .map_err(|reason| ServerError::Janus { url, reason })?;
            hub.use_janus(rooms);
        }
        if let Some(cluster) = &cluster {
            let rooms: std::sync::Weak<dyn cluster::LocalRooms> = Arc::downgrade(&hub) as _;
            cluster.start(rooms);
        }
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            hub: Arc::clone(&hub),
            access: config.access,
            tls: config.tls.map(tokio_rustls::TlsAcceptor::from),
            shutdown: shutdown_rx,
            per_ip: Mutex::new(HashMap::new()),
            page_policy,
        });
        let task = tokio::spawn(accept_loop(listener, shared));
        Ok(Server {
            local_addr,
            shutdown,
            task,
            hub,
            cluster,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn metrics(&self) -> &Metrics {
        self.hub.metrics()
    }

    /// Stops accepting, closes every connection with "going away", and waits for the listener.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        if let Some(cluster) = &self.cluster {
            cluster.leave_all(self.hub.local_members()).await;
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move { serve_tcp(stream, peer, shared).await });
            }
            Err(e) => {
                // Out of file descriptors, mostly: wait a moment rather than spin.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Counts a connection against its address for as long as it lives.
struct IpSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut per_ip = self.shared.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.shared.hub.metrics().connections.fetch_sub(1, Relaxed);
    }
}

async fn serve_tcp(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let accepted = Instant::now();
    let _ = stream.set_nodelay(true);
    let limits = shared.hub.limits();
    let metrics = shared.hub.metrics();
    let refusal = {
        let mut per_ip = shared.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let here = per_ip.entry(peer.ip()).or_insert(0);
        if metrics.connections.load(Relaxed) as usize >= limits.max_connections {
            metrics.refused_full.fetch_add(1, Relaxed);
            Some((503, "the server is full; try again later"))
        } else if *here >= limits.max_connections_per_ip {
            metrics.refused_per_ip.fetch_add(1, Relaxed);
            Some((429, "too many connections from your address"))
        } else {
            *here += 1;
            metrics.connections.fetch_add(1, Relaxed);
            metrics.connections_total.fetch_add(1, Relaxed);
            None
        }
    };
    let mut stream = stream;
    if let Some((status, reason)) = refusal {
        let _ = Box::pin(tokio::time::timeout(
            Duration::from_secs(2),
            http::respond(&mut stream, status, "text/plain; charset=utf-8", reason),
        ))
        .await;
        return;
    }
    let _slot = IpSlot {
        shared: Arc::clone(&shared),
        ip: peer.ip(),
    };
    // Boxed: each connection then holds the state of the path it takes (plain or TLS), not
    // the larger of the two; a held connection's memory is mostly this state.
    match shared.tls.clone() {
        None => Box::pin(serve_stream(stream, accepted, &shared)).await,
        Some(acceptor) => Box::pin(serve_tls(stream, acceptor, accepted, peer, &shared)).await,
    }
}

async fn serve_tls(
    stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    accepted: Instant,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) {
    let deadline = tokio::time::Instant::from_std(accepted + shared.hub.limits().join_timeout);
    let tls = match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, "TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake took too long");
            return;
        }
    };
    serve_stream(tls, accepted, shared).await;
}

/// Serves one connection, plain or TLS, from its request head on.
async fn serve_stream<S>(mut stream: S, accepted: Instant, shared: &Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = shared.hub.limits().clone();
    let deadline = tokio::time::Instant::from_std(accepted + limits.join_timeout);
    let route = match tokio::time::timeout_at(deadline, http::read_request(&mut stream)).await {
        Ok(Ok(route)) => route,
        Ok(Err(http::HeadError::Closed | http::HeadError::Io(_))) => return,
        Ok(Err(http::HeadError::TooLarge)) => {
            let _ = http::respond(&mut stream, 413, "text/plain", "request head too large").await;
            return;
        }
        Ok(Err(e)) => {
            let _ = http::respond(&mut stream, 400, "text/plain", &e.to_string()).await;
            return;
        }
        Err(_) => {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                http::respond(&mut stream, 408, "text/plain", "request took too long"),
            )
            .await;
            return;
        }
    };
    let metrics = shared.hub.metrics();
    let _ = match route {
        http::Route::WebSocket { accept, leftover } => {
            if http::accept_websocket(&mut stream, &accept).await.is_err() {
                return;
            }
            let config = websocket_config(&limits);
            let ws =
                WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(config))
                    .await;
            let ctx = conn::ConnContext {
                hub: Arc::clone(&shared.hub),
                access: shared.access.clone(),
                shutdown: shared.shutdown.clone(),
            };
            conn::run(ws, ctx, accepted).await;
            Ok(())
        }
        http::Route::Health => http::respond(&mut stream, 200, "text/plain", "ok\n").await,
        http::Route::Metrics => {
            let text = metrics.render();
            http::respond(&mut stream, 200, "text/plain; version=0.0.4", &text).await
        }
        http::Route::Room { room } => {
            let page = web::page(&room);
            let policy = ("Content-Security-Policy", shared.page_policy.as_str());
            http::respond_with(
                &mut stream,
                200,
                "text/html; charset=utf-8",
                &[policy],
                &page,
            )
            .await
        }
        http::Route::Asset { content_type, body } => {
            http::respond(&mut stream, 200, content_type, body).await
        }
        http::Route::Index => {
            http::respond(&mut stream, 200, "text/html; charset=utf-8", web::INDEX).await
        }
        http::Route::Refuse { status, reason } => {
            http::respond(&mut stream, status, "text/plain; charset=utf-8", reason).await
        }
    };
}

/// Small buffers keep a held connection cheap; messages over the soft limit are answered with
/// `too-large` and the connection goes on, frames far over it end the connection.
fn websocket_config(limits: &Limits) -> WebSocketConfig {
    let hard_limit = limits.max_message_bytes.saturating_mul(16);
    WebSocketConfig::default()
        .read_buffer_size(512)
        // Frames fed in a batch go out in one send at the flush; 0 would send each at once.
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(hard_limit.saturating_mul(2))
        .max_message_size(Some(hard_limit))
        .max_frame_size(Some(hard_limit))
}

/// Seeds the random generator (ids, resume secrets) on this thread ahead of the first join.
pub fn warm_up_random() {
    let mut byte = [0u8; 1];
    let _ = aws_lc_rs::rand::fill(&mut byte);
}

/// A random id for this server process in the cluster.
fn hex_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Plain `ws://` is for loopback and private networks; say so when bound anywhere else.
pub fn is_private_or_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private() || v4.is_link_local())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A held connection's memory is mostly its task's future. These bounds keep it near what
    /// benches/signaling.sh measured (5.2 KiB a connection in all): a change that makes every
    /// connection carry a large state (a buffer across an await, an unboxed TLS path) fails here.
    #[tokio::test]
    async fn a_connection_carries_a_small_state() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let (_shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            hub: Hub::new(Limits::default(), Default::default(), vec![], None),
            access: Access::Open,
            tls: None,
            shutdown: shutdown_rx,
            per_ip: Default::default(),
            page_policy: String::new(),
        });
        let accepting = serve_tcp(stream, peer, Arc::clone(&shared));
        assert!(
            std::mem::size_of_val(&accepting) <= 512,
            "{}",
            std::mem::size_of_val(&accepting)
        );
        let ws = WebSocketStream::from_raw_socket(client, Role::Server, None).await;
        let ctx = conn::ConnContext {
            hub: Arc::clone(&shared.hub),
            access: Access::Open,
            shutdown: shared.shutdown.clone(),
        };
        let serving = conn::run(ws, ctx, Instant::now());
        assert!(
            std::mem::size_of_val(&serving) <= 3072,
            "{}",
            std::mem::size_of_val(&serving)
        );
    }
}
