//! The `confer` binary: parses the command line and hands over to the app, the server or the
//! headless participant. Exit codes: 0 done, 1 failed, 2 bad usage (clap's own code for usage
//! errors, also used for a malformed invite link).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use confer::cli::{AppArgs, Cli, Command, InviteArgs, JoinArgs, ServeArgs};
use confer::config::Settings;
use confer::invite::Invite;
use confer::media::source::{CameraChoice, MicChoice};
use confer::server::janus_rooms::JanusSettings;
use confer::server::{Access, Limits, Server, ServerConfig};
use confer::signal::proto::IceServer;
use confer::single_instance::{self, Claim, Listener};
use confer::token::{Secret, unix_now};
use confer::{logging, media, paths, report};

/// Why a command did not succeed; `main` prints it as one line.
enum Exit {
    Usage(String),
    Failed(String),
}

impl<E: std::fmt::Display> From<E> for Exit {
    fn from(e: E) -> Self {
        Exit::Failed(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_app(cli.app, cli.verbose),
        Some(Command::Devices) => devices(cli.verbose),
        Some(Command::Serve(args)) => serve(args, cli.verbose),
        Some(Command::Join(args)) => join(args, cli.verbose),
        Some(Command::Invite(args)) => invite(args),
        Some(Command::Loadtest(args)) => loadtest(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Exit::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Exit::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Parses a link from the command line; a bare word is more likely a mistyped command.
/// `handed_over`: the link comes from outside (a click the system hands to the app), so only
/// its two forms for the app are accepted (`Invite::parse_handed_over`).
fn parse_link(link: &str, handed_over: bool) -> Result<Invite, Exit> {
    let word = !link.is_empty()
        && link
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if word {
        return Err(Exit::Usage(format!(
            "'{link}' is neither a command (serve, join, devices, invite, loadtest) nor an \
             invite link; see 'confer --help'"
        )));
    }
    let parsed = if handed_over {
        Invite::parse_handed_over(link)
    } else {
        Invite::parse(link)
    };
    parsed.map_err(|e| Exit::Usage(format!("invalid invite link: {e}")))
}

fn run_app(args: AppArgs, verbosity: u8) -> Result<(), Exit> {
    #[cfg(windows)]
    leave_own_console();
    let invite = args
        .link
        .as_deref()
        .map(|link| parse_link(link, true))
        .transpose()?;
    let media = media_choices(args.camera.as_deref(), args.mic.as_deref())?;
    if let Some(secs) = args.quit_after
        && !(secs.is_finite() && secs >= 0.0)
    {
        return Err(Exit::Usage(format!(
            "--quit-after takes a number of seconds, not {secs}"
        )));
    }
    let log_dir = paths::log_dir()?;
    // Without its log file the app still works; say so and go on.
    let _log = match logging::init(verbosity, Some(&log_dir)) {
        Err(e @ logging::LoggingError::LogDir { .. }) => {
            let guard = logging::init(verbosity, None)?;
            tracing::warn!("{e}; logging to stderr only");
            guard
        }
        other => other?,
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Confer starting");
    let handed = invite.as_ref().map(Invite::app_link);
    let instance = match single_instance::claim(&paths::data_dir()?, handed.as_deref()) {
        Ok(Claim::First(listener)) => Some(listener),
        Ok(Claim::HandedOver) => {
            tracing::info!("Confer already runs; the link went to it");
            eprintln!(
                "{}",
                if handed.is_some() {
                    "Confer is already running: it has the link now"
                } else {
                    "Confer is already running: its window comes forward"
                }
            );
            return Ok(());
        }
        Err(e @ single_instance::InstanceError::Refused(_)) => {
            return Err(Exit::Usage(e.to_string()));
        }
        // Better a second window than none.
        Err(e) => {
            tracing::warn!("{e}; this window runs on its own");
            None
        }
    };

    let settings_path = paths::settings_file()?;
    let mut settings = Settings::load_or_default(&settings_path);
    if let Some(name) = args.name {
        settings.profile.name = name;
    }
    if let Some(invite) = &invite {
        tracing::info!(%invite, "opening invite");
    }
    open_window(
        settings,
        settings_path,
        invite,
        media,
        args.auto_join,
        args.quit_after,
        instance,
    )?;
    tracing::info!("Confer closed");
    Ok(())
}

/// The binary is a console program on Windows, so that `confer serve` and `confer join` in a
/// terminal print there and the terminal waits for them. A click on a link or on the Start
/// menu entry then opens a console window of its own beside the app's: the app lets go of a
/// console that no other process shares, which closes it. Its log file still has everything.
#[cfg(windows)]
fn leave_own_console() {
    use windows_sys::Win32::System::Console::{FreeConsole, GetConsoleProcessList};
    let mut processes = [0u32; 2];
    // SAFETY: the buffer and its length go together.
    let sharing = unsafe { GetConsoleProcessList(processes.as_mut_ptr(), processes.len() as u32) };
    if sharing == 1 {
        // SAFETY: nothing here holds a handle to the console.
        unsafe { FreeConsole() };
    }
}

/// `--camera` and `--mic`, as `confer join` reads them.
fn media_choices(
    camera: Option<&str>,
    mic: Option<&str>,
) -> Result<(CameraChoice, MicChoice), Exit> {
    let camera = match camera {
        Some(text) => CameraChoice::parse(text).map_err(|e| Exit::Usage(e.to_string()))?,
        None => CameraChoice::Default,
    };
    let mic = mic.map_or(MicChoice::Default, MicChoice::parse);
    Ok((camera, mic))
}

#[cfg(feature = "gui")]
fn open_window(
    settings: Settings,
    settings_path: std::path::PathBuf,
    invite: Option<Invite>,
    (camera, mic): (CameraChoice, MicChoice),
    auto_join: bool,
    quit_after: Option<f64>,
    instance: Option<Listener>,
) -> Result<(), Exit> {
    confer::ui::run(confer::ui::Options {
        settings,
        settings_path,
        invite,
        camera,
        mic,
        auto_join,
        quit_after: quit_after.map(std::time::Duration::from_secs_f64),
        instance,
    })?;
    Ok(())
}

#[cfg(not(feature = "gui"))]
fn open_window(
    _: Settings,
    _: std::path::PathBuf,
    _: Option<Invite>,
    _: (CameraChoice, MicChoice),
    _: bool,
    _: Option<f64>,
    _: Option<Listener>,
) -> Result<(), Exit> {
    Err(Exit::Failed(
        "this build of Confer has no window (built without the `gui` feature); use \
         'confer join LINK --headless'"
            .into(),
    ))
}

fn devices(verbosity: u8) -> Result<(), Exit> {
    let _log = logging::init(verbosity, None)?;
    let cameras = media::devices::cameras();
    let audio = media::devices::audio();
    let shareable = media::video::screen::shareables(None);
    print!("{}", report::devices(&cameras, &audio, &shareable));
    Ok(())
}

fn serve(args: ServeArgs, verbosity: u8) -> Result<(), Exit> {
    let _log = logging::init(verbosity.max(1), None)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(confer::server::tls::load(cert, key)?),
        _ => None,
    };
    let access = if args.open {
        tracing::warn!("--open: anyone who can reach this server can join any room");
        Access::Open
    } else {
        let secret = match &args.secret_file {
            Some(path) => Secret::read(path)?,
            None => Secret::load_or_create(&paths::data_dir()?)?,
        };
        Access::Tokens(std::sync::Arc::new(secret))
    };
    if tls.is_none() && !confer::server::is_private_or_loopback(args.listen.ip()) {
        tracing::warn!(
            "serving plain ws:// on {}, which is not a loopback or private address: signaling \
             (names, session descriptions) crosses the network unencrypted; use --tls-cert or a \
             TLS proxy",
            args.listen
        );
    }
    let l = &args.limits;
    let config = ServerConfig {
        listen: args.listen,
        access,
        limits: Limits {
            max_message_bytes: l.max_message_bytes,
            messages_per_second: l.max_messages_per_sec,
            message_burst: l.max_burst,
            max_peers_per_room: l.max_peers_per_room,
            mesh_limit: args.mesh_limit,
            max_rooms: l.max_rooms,
            max_connections: l.max_connections,
            max_connections_per_ip: l.max_conns_per_ip,
            join_timeout: l.join_timeout,
            idle_timeout: l.idle_timeout,
            resume_grace: l.resume_grace,
            ..Limits::default()
        },
        ice_servers: ice_servers(&args),
        tls,
        redis: args.redis.clone(),
        janus: args.janus.clone().map(|url| JanusSettings {
            url,
            admin_key: args.janus_admin_key.clone(),
        }),
    };
    let secure = config.tls.is_some();
    if let Some(files) = confer::rlimit::raise_open_file_limit() {
        tracing::info!("open-file limit {files}: room for about that many connections");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("confer-serve")
        // aws-lc seeds its random generator on first use, which takes about 20 ms here; do it
        // before the first join rather than during it.
        .on_thread_start(confer::server::warm_up_random)
        .build()?;
    runtime.block_on(async {
        let server = Server::start(config).await?;
        // The first line on stdout is the address, for scripts and tests that bind port 0.
        let scheme = if secure { "wss" } else { "ws" };
        println!("listening on {scheme}://{}/ws", server.local_addr());
        tracing::info!(addr = %server.local_addr(), "signaling server started");
        wait_for_termination().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok::<(), Exit>(())
    })
}

fn ice_servers(args: &ServeArgs) -> Vec<IceServer> {
    let mut servers: Vec<IceServer> = args
        .stun
        .iter()
        .map(|url| IceServer {
            urls: vec![url.clone()],
            username: None,
            credential: None,
        })
        .collect();
    if !args.turn.is_empty() {
        servers.push(IceServer {
            urls: args.turn.clone(),
            username: args.turn_username.clone(),
            credential: args.turn_credential.clone(),
        });
    }
    servers
}

/// Ctrl+C, or SIGTERM from a service manager.
async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn loadtest(args: confer::loadtest::LoadArgs) -> Result<(), Exit> {
    let json = args.json;
    if let Some(report) = confer::loadtest::run(args)? {
        if json {
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
        } else {
            print!("{}", report.text());
        }
    }
    Ok(())
}

fn invite(args: InviteArgs) -> Result<(), Exit> {
    let server = url::Url::parse(args.server.trim()).map_err(|e| {
        Exit::Usage(format!(
            "--server \"{}\" is not a URL ({e}); write https://HOST[:PORT]",
            args.server
        ))
    })?;
    let secure = match server.scheme() {
        "https" | "wss" => true,
        "http" | "ws" => false,
        other => {
            return Err(Exit::Usage(format!(
                "--server must start with https:// (or http:// on the local network), not {other}://"
            )));
        }
    };
    let host = match server.host_str() {
        Some(host) if !host.is_empty() => host.to_string(),
        _ => return Err(Exit::Usage("--server has no host".into())),
    };
    confer::invite::validate_room(&args.room).map_err(|e| Exit::Usage(e.to_string()))?;
    let secret = match &args.secret_file {
        Some(path) => Secret::read(path)?,
        None => Secret::load_or_create(&paths::data_dir()?)?,
    };
    let expires = unix_now().saturating_add(args.ttl.as_secs().max(1));
    let invite = Invite {
        host,
        port: server.port(),
        room: args.room.clone(),
        token: Some(secret.mint(&args.room, expires)),
        secure,
        janus: None,
    };
    println!("{}", invite.web_link());
    println!("{}", invite.app_link());
    Ok(())
}

fn join(args: JoinArgs, verbosity: u8) -> Result<(), Exit> {
    let invite = parse_link(&args.link, false)?;
    if !args.headless {
        return Err(Exit::Usage(
            "'confer join' runs without a window and needs --headless; to join with the \
             window, run 'confer LINK'"
                .into(),
        ));
    }
    let (camera, mic) = media_choices(args.camera.as_deref(), args.mic.as_deref())?;
    let seconds = |option: &str, value: Option<f64>| match value {
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(Exit::Usage(format!(
            "--{option} {s}: give a number of seconds above 0"
        ))),
        None => Ok(None),
    };
    let duration = seconds("duration", args.duration)?;
    let share_after = seconds("share-after", args.share_after)?;
    let share_for = seconds("share-for", args.share_for)?;
    let share = args.share.as_deref().map(share_target).transpose()?;
    let _log = logging::init(verbosity, None)?;
    confer::call::headless::run(confer::call::headless::HeadlessOptions {
        invite,
        name: args.name,
        camera,
        mic,
        duration,
        stats: args.stats,
        relay_only: args.relay_only,
        view: args.view,
        share,
        share_after,
        share_for,
        save_share: args.save_share,
    })
    .map_err(Exit::Failed)
}

/// What `--share ID` names, among what this session can share now.
fn share_target(id: &str) -> Result<confer::media::video::screen::ShareTarget, Exit> {
    use confer::media::video::screen;
    let found = screen::shareables(None)
        .map_err(|e| Exit::Failed(format!("cannot share \"{id}\": {e}")))?;
    screen::find(&found, id).map(|s| s.target).ok_or_else(|| {
        Exit::Usage(format!(
            "--share {id}: no such screen or window here; `confer devices` lists them"
        ))
    })
}
