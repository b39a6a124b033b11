//! The `confer` binary: parses the command line and hands over to the app, the server or the
//! headless participant. Exit codes: 0 done, 1 failed, 2 bad usage (clap's own code for usage
//! errors, also used for a malformed invite link).

use std::process::ExitCode;

use clap::Parser;
use confer::cli::{AppArgs, Cli, Command, JoinArgs, ServeArgs};
use confer::config::Settings;
use confer::invite::Invite;
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
fn parse_link(link: &str) -> Result<Invite, Exit> {
    let word = !link.is_empty()
        && link
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if word {
        return Err(Exit::Usage(format!(
            "'{link}' is neither a command (serve, join, devices) nor an invite link; see \
             'confer --help'"
        )));
    }
    Invite::parse(link).map_err(|e| Exit::Usage(format!("invalid invite link: {e}")))
}

fn run_app(args: AppArgs, verbosity: u8) -> Result<(), Exit> {
    let invite = args.link.as_deref().map(parse_link).transpose()?;
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

    let settings_path = paths::settings_file()?;
    let mut settings = Settings::load_or_default(&settings_path);
    if let Some(name) = args.name {
        settings.profile.name = name;
    }
    if let Some(invite) = &invite {
        tracing::info!(%invite, "opening invite");
    }
    open_window(settings, settings_path, invite, args.quit_after)?;
    tracing::info!("Confer closed");
    Ok(())
}

#[cfg(feature = "gui")]
fn open_window(
    settings: Settings,
    settings_path: std::path::PathBuf,
    invite: Option<Invite>,
    quit_after: Option<f64>,
) -> Result<(), Exit> {
    confer::ui::run(confer::ui::Options {
        settings,
        settings_path,
        invite,
        quit_after: quit_after.map(std::time::Duration::from_secs_f64),
    })?;
    Ok(())
}

#[cfg(not(feature = "gui"))]
fn open_window(
    _: Settings,
    _: std::path::PathBuf,
    _: Option<Invite>,
    _: Option<f64>,
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
    print!("{}", report::devices(&cameras, &audio));
    Ok(())
}

fn serve(_args: ServeArgs, verbosity: u8) -> Result<(), Exit> {
    let _log = logging::init(verbosity, None)?;
    Err(Exit::Failed("'confer serve' is not implemented yet".into()))
}

fn join(args: JoinArgs, verbosity: u8) -> Result<(), Exit> {
    parse_link(&args.link)?;
    if !args.headless {
        return Err(Exit::Usage(
            "'confer join' runs without a window and needs --headless; to join with the \
             window, run 'confer LINK'"
                .into(),
        ));
    }
    let _log = logging::init(verbosity, None)?;
    Err(Exit::Failed(
        "'confer join --headless' is not implemented yet".into(),
    ))
}
