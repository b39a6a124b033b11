//! The command line: `confer [LINK]`, `confer serve`, `confer join`, `confer devices`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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

    /// Close the window after this many seconds, as if the user had closed it (tests, demos).
    #[arg(long, value_name = "SECONDS")]
    pub quit_after: Option<f64>,
}

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

    /// TLS certificate chain (PEM) for wss:// and https://.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
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

    /// Camera: a device id from `confer devices`, or `test-pattern`.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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
