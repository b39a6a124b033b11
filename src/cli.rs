//! The command line: `confer [LINK]`, `confer serve`, `confer join`, `confer devices`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration::parse_duration;

#[derive(Debug, Parser)]
#[command(
    name = "confer",
    version,
    about = "Native meetings: peer-to-peer calls, your own signaling server, no account needed.",
    long_about = "Confer is a native desktop meeting client. Open an invite link (or paste one in \
the lobby), check your camera and microphone, and join. Small meetings are a peer-to-peer mesh \
with DTLS-SRTP; only signaling goes through a server, which this same binary runs with \
`confer serve`.\n\nWith no command, Confer opens its window; with a LINK it opens straight into \
that meeting's pre-join screen.",
    after_help = "Invite links look like https://HOST[:PORT]/j/ROOM#t=TOKEN or \
confer://HOST[:PORT]/ROOM#t=TOKEN.\nLogs: RUST_LOG overrides -v. Files: CONFER_CONFIG_DIR and \
CONFER_DATA_DIR override where settings and logs live.",
    // `confer -v devices` must reach `devices`, so app options do not shut out commands.
    subcommand_precedence_over_arg = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub app: AppArgs,

    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Options of the desktop app (no command).
#[derive(Debug, Args)]
pub struct AppArgs {
    /// Invite link to open (confer://... or https://.../j/...).
    #[arg(value_name = "LINK")]
    pub link: Option<String>,

    /// Your name as others see it (saved for next time).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Camera: a device id from `confer devices`, `test-pattern` (`test-pattern:WxH` for
    /// another size than 1280x720), or `off`.
    #[arg(long, value_name = "CAMERA")]
    pub camera: Option<String>,

    /// Microphone: a device id from `confer devices`, `tone`, a WAV file, or `off`.
    #[arg(long, value_name = "MIC")]
    pub mic: Option<String>,

    /// Join the link's meeting at once, without stopping at the lobby (tests, kiosks).
    #[arg(long, requires = "link")]
    pub auto_join: bool,

    /// Close the window after this many seconds, as if the user had closed it (tests, demos).
    #[arg(long, value_name = "SECONDS")]
    pub quit_after: Option<f64>,
}

// Parsed once per run: the size of the server's many options does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the signaling server: rooms, invites, the web page for browser guests, metrics.
    #[command(
        long_about = "Run the signaling server: WebSocket signaling at /ws, the web page for \
browser guests at /j/ROOM, /healthz and /metrics. Only holders of a valid invite token get in, \
unless --open is given. Several servers share rooms through Redis with --redis."
    )]
    Serve(ServeArgs),

    /// Join a meeting without a window (tests, benchmarks, bots), printing stats.
    #[command(
        long_about = "Join a meeting without a window, from real devices or synthetic ones (a \
moving test pattern, a tone, a WAV file), for tests, benchmarks and bots. Writes one JSON line \
of statistics a second per remote participant with --stats."
    )]
    Join(JoinArgs),

    /// List cameras, microphones and speakers, with the ids --camera and --mic take.
    Devices,

    /// Mint an invite link for a room of your server (prints the https:// and confer:// forms).
    #[command(
        long_about = "Mint an invite for a room, signed with the server's secret, and print it in \
both forms: the https:// link (opens the web page) and the confer:// link (opens the app), one a \
line. Run it where the server's secret is: the server's data dir, or --secret-file."
    )]
    Invite(InviteArgs),

    /// Load-test a signaling server (this one, matchbox_server or PeerJS) from many clients.
    #[command(
        long_about = "Load-test a signaling server: N clients in rooms of K join at a set rate, \
hold their connections, then send relayed messages to their room mates. Reports connections held, \
join and relay latency (p50, p99), messages delivered a second and, with --server-pid, the \
server's memory per connection. Speaks Confer's protocol, matchbox_server's and PeerJS's, so \
servers can be compared under the same load. Send load only to servers you run."
    )]
    Loadtest(crate::loadtest::LoadArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,

    /// Admit anyone to any room, without a token (for the local network only).
    #[arg(long)]
    pub open: bool,

    /// File holding the secret that signs invite tokens (default: generated in the data dir).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// Share rooms with other servers through this Redis (redis://HOST:PORT).
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,

    /// Rooms past the mesh (--mesh-limit) go through rooms this server makes on this Janus
    /// (ws://HOST:PORT or wss://, its WebSocket API, which participants must reach too).
    #[arg(long, value_name = "URL", conflicts_with = "redis")]
    pub janus: Option<String>,

    /// Participants in a room's mesh; the next moves the room to Janus (with --janus).
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub mesh_limit: usize,

    /// The Janus VideoRoom plugin's admin_key, when it asks one to create rooms.
    #[arg(long, value_name = "KEY", requires = "janus")]
    pub janus_admin_key: Option<String>,

    /// TLS certificate chain (PEM) for wss:// and https://.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// STUN server for participants, e.g. stun:stun.example.org:3478 (repeatable).
    #[arg(long, value_name = "URL")]
    pub stun: Vec<String>,

    /// TURN server for participants, e.g. turn:turn.example.org:3478 (repeatable).
    #[arg(long, value_name = "URL", requires = "turn_username")]
    pub turn: Vec<String>,

    /// User name for the TURN servers.
    #[arg(long, value_name = "NAME", requires = "turn_credential")]
    pub turn_username: Option<String>,

    /// Password for the TURN servers.
    #[arg(long, value_name = "PASSWORD")]
    pub turn_credential: Option<String>,

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The server's limits; each default is safe for a server on the internet.
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Largest message in bytes; larger ones get a too-large error.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,

    /// Messages a second each connection may send, sustained.
    #[arg(long, value_name = "N", default_value_t = 50.0)]
    pub max_messages_per_sec: f64,

    /// Messages each connection may send in one burst.
    #[arg(long, value_name = "N", default_value_t = 200.0)]
    pub max_burst: f64,

    /// Participants per room.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_peers_per_room: usize,

    /// Rooms on this server.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    pub max_rooms: usize,

    /// Connections to this server.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_connections: usize,

    /// Connections from one IP address.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_conns_per_ip: usize,

    /// A connection that has not joined within this time is closed (e.g. 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub join_timeout: Duration,

    /// A connection silent for this long (not even answering pings) is closed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// How long a dropped participant may come back (resume) before the others see it leave.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub resume_grace: Duration,
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The server's address as participants reach it: https://HOST[:PORT], or http://... for the
    /// local network.
    #[arg(long, value_name = "URL")]
    pub server: String,

    /// The room (1 to 64 of A-Z a-z 0-9 _ -).
    #[arg(long, value_name = "ROOM")]
    pub room: String,

    /// File holding the server's secret (default: the one in the data dir, made if missing).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// How long the invite stays valid: e.g. 90m, 24h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub ttl: Duration,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Invite link of the meeting.
    #[arg(value_name = "LINK")]
    pub link: String,

    /// Run without a window (the only mode of `join`; the window is `confer LINK`).
    #[arg(long)]
    pub headless: bool,

    /// Your name as others see it.
    #[arg(long, value_name = "NAME", default_value = "Confer bot")]
    pub name: String,

    /// Camera: a device id from `confer devices`, or `test-pattern` (`test-pattern:WxH` for
    /// another size than 1280x720).
    #[arg(long, value_name = "CAMERA")]
    pub camera: Option<String>,

    /// Microphone: a device id from `confer devices`, `tone`, or a WAV file.
    #[arg(long, value_name = "MIC")]
    pub mic: Option<String>,

    /// Leave after this many seconds (default: stay until the meeting ends).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,

    /// Write statistics to this file as JSON lines, one a second per remote participant.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,

    /// Reach the others only through the meeting's TURN servers (hides this machine's
    /// addresses; a browser's iceTransportPolicy "relay").
    #[arg(long)]
    pub relay_only: bool,

    /// Show everyone's pictures in tiles of this size, WxH, as a window would: through an
    /// SFU that forwards layers, the one the size needs is asked for.
    #[arg(long, value_name = "WxH", value_parser = parse_view)]
    pub view: Option<(u32, u32)>,

    /// Share this screen or window (from the start, unless --share-after): an id from
    /// `confer devices` (`screen:1`, `window:0x…`; `screen` is the first screen).
    #[arg(long, value_name = "ID")]
    pub share: Option<String>,

    /// With --share: begin sharing this many seconds into the call, as people do once the
    /// meeting is under way, rather than from the start.
    #[arg(long, value_name = "SECONDS", requires = "share")]
    pub share_after: Option<f64>,

    /// With --share: stop sharing after this many seconds of it; the call goes on.
    #[arg(long, value_name = "SECONDS", requires = "share")]
    pub share_for: Option<f64>,

    /// Write the last picture of a shared screen received to this file when the call ends
    /// (a binary PPM).
    #[arg(long, value_name = "FILE")]
    pub save_share: Option<PathBuf>,
}

/// `--view`: WIDTHxHEIGHT, each from 16 to 7680.
fn parse_view(text: &str) -> Result<(u32, u32), String> {
    let sizes = 16..=7680;
    text.split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .filter(|(w, h)| sizes.contains(w) && sizes.contains(h))
        .ok_or_else(|| format!("\"{text}\" is not a size: give WxH, as 320x180"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn a_view_size_parses_strictly() {
        assert_eq!(parse_view("320x180"), Ok((320, 180)));
        for bad in [
            "",
            "320",
            "x180",
            "320x",
            "0x0",
            "320x180x2",
            "-1x5",
            "99999x2",
        ] {
            assert!(parse_view(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_link_and_commands_parse_apart() {
        let cli = Cli::try_parse_from(["confer", "confer://h/r"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.app.link.as_deref(), Some("confer://h/r"));

        let cli = Cli::try_parse_from(["confer", "-v", "devices"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Devices)));
        assert_eq!(cli.verbose, 1);
    }
}
