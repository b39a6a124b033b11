//! `confer loadtest`: an operator's load generator for signaling servers (Confer's, and for
//! comparison matchbox_server and the PeerJS server).
//!
//! N clients in rooms of K join at a set rate, hold their connections, then send relayed
//! messages to their room mates for a while. It reports connections held, join latency,
//! relay latency, messages delivered a second and, given the server's pid, its memory per
//! connection. Clients are spread over several processes (one process may hold at most about
//! 20,000 open files here) and over several loopback source addresses (each has about 28,000
//! ports to connect from).

mod histogram;
mod worker;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use thiserror::Error;

pub use histogram::Histogram;
pub use worker::Protocol;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("bad --url: {0}")]
    Url(String),
    #[error("cannot start a load process: {0}")]
    Spawn(std::io::Error),
    #[error("a load process failed: {0}")]
    Worker(String),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// The server: ws://HOST:PORT/ws for Confer, ws://HOST:PORT for matchbox and PeerJS.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Which protocol the server speaks.
    #[arg(long, value_enum, default_value_t = Protocol::Confer)]
    pub protocol: Protocol,

    /// Clients in all.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub clients: usize,

    /// Clients per room.
    #[arg(long, value_name = "K", default_value_t = 2)]
    pub room_size: usize,

    /// Joins a second, all processes together.
    #[arg(long, value_name = "N", default_value_t = 1000.0)]
    pub join_rate: f64,

    /// Messages a second each client sends in the message phase (0: none).
    #[arg(long, value_name = "N", default_value_t = 1.0)]
    pub message_rate: f64,

    /// Length of the message phase.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::duration::parse_duration)]
    pub duration: Duration,

    /// How long all connections are held between joining and messages (memory is read then).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = crate::duration::parse_duration)]
    pub hold: Duration,

    /// Loopback addresses to connect from, in turn (e.g. 127.0.0.2,127.0.0.3).
    #[arg(long, value_name = "IPS", value_delimiter = ',')]
    pub source_ips: Vec<IpAddr>,

    /// Load processes (default: one per 8,000 clients).
    #[arg(long, value_name = "N")]
    pub processes: Option<usize>,

    /// The server's process id, to read its memory (Linux).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Internal: run as load process I of N.
    #[arg(long, hide = true, value_name = "I/N")]
    pub worker: Option<String>,
}

/// What a run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub protocol: Protocol,
    pub clients: usize,
    pub connections_held: u64,
    pub join_failures: u64,
    pub first_join_error: Option<String>,
    pub join_rate_achieved: f64,
    pub join_p50_ms: Option<f64>,
    pub join_p99_ms: Option<f64>,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub messages_per_sec: f64,
    pub relay_p50_ms: Option<f64>,
    pub relay_p99_ms: Option<f64>,
    pub dropped_connections: u64,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_held_kib: Option<u64>,
    pub server_rss_per_connection_kib: Option<f64>,
}

fn server_addr(url: &str) -> Result<SocketAddr, LoadError> {
    let parsed = url::Url::parse(url).map_err(|e| LoadError::Url(e.to_string()))?;
    if parsed.scheme() != "ws" {
        return Err(LoadError::Url("only ws:// servers are load-tested".into()));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| LoadError::Url("no host".into()))?;
    let port = parsed
        .port()
        .ok_or_else(|| LoadError::Url("give the port".into()))?;
    (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| LoadError::Url(e.to_string()))?
        .next()
        .ok_or_else(|| LoadError::Url("the host has no address".into()))
}

/// Resident memory of a process, in KiB (Linux).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn run(args: LoadArgs) -> Result<Option<Report>, LoadError> {
    crate::rlimit::raise_open_file_limit();
    match args.worker.clone() {
        Some(spec) => {
            run_worker(&args, &spec)?;
            Ok(None)
        }
        None => orchestrate(args).map(Some),
    }
}

fn run_worker(args: &LoadArgs, spec: &str) -> Result<(), LoadError> {
    let (index, count) = spec
        .split_once('/')
        .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
        .filter(|(i, n)| i < n)
        .ok_or_else(|| LoadError::Worker(format!("bad --worker {spec}")))?;
    let room_size = args.room_size.max(1);
    let plan = worker::Plan {
        protocol: args.protocol,
        url: args.url.trim_end_matches('/').to_string(),
        addr: server_addr(&args.url)?,
        clients: (0..args.clients)
            .filter(|c| c % count == index)
            .map(|c| (c, c / room_size))
            .collect(),
        room_size,
        join_rate: args.join_rate / count as f64,
        message_rate: args.message_rate,
        duration: args.duration,
        source_ips: args.source_ips.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LoadError::Runtime)?;
    let done = runtime.block_on(worker::run(
        plan,
        |joined| {
            println!("{}", serde_json::to_string(joined).unwrap_or_default());
            let _ = std::io::stdout().flush();
        },
        async {
            // The parent says go on stdin once every process has joined.
            let _ = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
            })
            .await;
        },
    ));
    println!("{}", serde_json::to_string(&done).unwrap_or_default());
    Ok(())
}

fn orchestrate(args: LoadArgs) -> Result<Report, LoadError> {
    server_addr(&args.url)?;
    let processes = args
        .processes
        .unwrap_or_else(|| args.clients.div_ceil(8000))
        .clamp(1, args.clients.max(1));
    let rss_before = args.server_pid.and_then(rss_kib);
    let exe = std::env::current_exe().map_err(LoadError::Spawn)?;
    let mut children = Vec::new();
    let started = Instant::now();
    for index in 0..processes {
        let mut command = Command::new(&exe);
        command
            .arg("loadtest")
            .args(["--url", &args.url])
            .args(["--protocol", &protocol_name(args.protocol)])
            .args(["--clients", &args.clients.to_string()])
            .args(["--room-size", &args.room_size.to_string()])
            .args(["--join-rate", &args.join_rate.to_string()])
            .args(["--message-rate", &args.message_rate.to_string()])
            .args(["--duration", &format!("{}ms", args.duration.as_millis())])
            .args(["--worker", &format!("{index}/{processes}")]);
        if !args.source_ips.is_empty() {
            let ips: Vec<String> = args.source_ips.iter().map(IpAddr::to_string).collect();
            command.args(["--source-ips", &ips.join(",")]);
        }
        let child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(LoadError::Spawn)?;
        children.push(child);
    }
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("piped stdout")))
        .collect();

    let mut joined = worker::Joined::default();
    for reader in &mut readers {
        let part: worker::Joined = read_json(reader)?;
        joined.joined += part.joined;
        joined.failed += part.failed;
        joined.join_latency.merge(&part.join_latency);
        if joined.first_error.is_none() {
            joined.first_error = part.first_error;
        }
    }
    let join_elapsed = started.elapsed();
    std::thread::sleep(args.hold);
    let rss_held = args.server_pid.and_then(rss_kib);

    for child in &mut children {
        if let Some(stdin) = child.stdin.as_mut() {
            let _ = writeln!(stdin, "go");
        }
    }
    let mut done = worker::Done::default();
    for reader in &mut readers {
        let part: worker::Done = read_json(reader)?;
        done.sent += part.sent;
        done.received += part.received;
        done.dropped += part.dropped;
        done.relay_latency.merge(&part.relay_latency);
    }
    for mut child in children {
        let _ = child.wait();
    }

    let ms = |us: Option<f64>| us.map(|us| us.round() / 1000.0);
    let per_connection = match (rss_before, rss_held) {
        (Some(before), Some(held)) if joined.joined > 0 => {
            Some((held.saturating_sub(before)) as f64 / joined.joined as f64)
        }
        _ => None,
    };
    Ok(Report {
        protocol: args.protocol,
        clients: args.clients,
        connections_held: joined.joined,
        join_failures: joined.failed,
        first_join_error: joined.first_error,
        join_rate_achieved: joined.joined as f64 / join_elapsed.as_secs_f64(),
        join_p50_ms: ms(joined.join_latency.quantile(0.5)),
        join_p99_ms: ms(joined.join_latency.quantile(0.99)),
        messages_sent: done.sent,
        messages_received: done.received,
        messages_per_sec: done.received as f64 / args.duration.as_secs_f64().max(0.001),
        relay_p50_ms: ms(done.relay_latency.quantile(0.5)),
        relay_p99_ms: ms(done.relay_latency.quantile(0.99)),
        dropped_connections: done.dropped,
        server_rss_before_kib: rss_before,
        server_rss_held_kib: rss_held,
        server_rss_per_connection_kib: per_connection,
    })
}

/// The protocol as `--protocol` spells it (clap's own name for the value).
fn protocol_name(protocol: Protocol) -> String {
    clap::ValueEnum::to_possible_value(&protocol)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

fn read_json<T: serde::de::DeserializeOwned>(
    reader: &mut BufReader<std::process::ChildStdout>,
) -> Result<T, LoadError> {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| LoadError::Worker(e.to_string()))?;
    serde_json::from_str(&line)
        .map_err(|e| LoadError::Worker(format!("unreadable report {line:?}: {e}")))
}

impl Report {
    pub fn text(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.2} {unit}"));
        format!(
            "protocol            {:?}\n\
             connections held    {} of {} ({} failed{})\n\
             join rate           {:.0}/s\n\
             join latency        p50 {}, p99 {}\n\
             messages            {} sent, {} delivered, {:.0}/s\n\
             relay latency       p50 {}, p99 {}\n\
             dropped             {}\n\
             server memory       {} per connection (RSS {} KiB -> {} KiB)\n",
            self.protocol,
            self.connections_held,
            self.clients,
            self.join_failures,
            self.first_join_error
                .as_ref()
                .map(|e| format!("; first: {e}"))
                .unwrap_or_default(),
            self.join_rate_achieved,
            opt(self.join_p50_ms, "ms"),
            opt(self.join_p99_ms, "ms"),
            self.messages_sent,
            self.messages_received,
            self.messages_per_sec,
            opt(self.relay_p50_ms, "ms"),
            opt(self.relay_p99_ms, "ms"),
            self.dropped_connections,
            opt(self.server_rss_per_connection_kib, "KiB"),
            self.server_rss_before_kib
                .map_or("-".into(), |v| v.to_string()),
            self.server_rss_held_kib
                .map_or("-".into(), |v| v.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_processes_are_told_the_protocol_as_the_command_line_spells_it() {
        for (protocol, name) in [
            (Protocol::Confer, "confer"),
            (Protocol::Matchbox, "matchbox"),
            (Protocol::Peerjs, "peerjs"),
        ] {
            assert_eq!(protocol_name(protocol), name);
        }
    }
}
