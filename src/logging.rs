//! Logging with tracing: to stderr at a level set by `-v` (or `RUST_LOG`), and for the app also
//! to a daily file in the data dir, so a user can send us what happened in a call.
//!
//! Nothing logged may contain SDP, candidates or tokens: log an invite with its `Display`, which
//! leaves the token out.

use std::path::{Path, PathBuf};

use thiserror::Error;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt};

#[derive(Debug, Error)]
pub enum LoggingError {
    #[error("cannot create the log directory {path}: {source}")]
    LogDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start logging: {0}")]
    Init(String),
}

/// The name of the log files in the log dir; the appender adds the date.
pub const LOG_FILE_PREFIX: &str = "confer.log";

/// Keeps the file writer's thread alive; dropping it flushes what is left.
pub struct LogGuard {
    _writer: Option<WorkerGuard>,
}

/// Crates that log whole frames or messages (and so SDP, candidates and tokens) at their debug
/// and trace levels; held at info whatever `RUST_LOG` asks for.
const CONTENT_LOGGERS: [&str; 3] = ["tungstenite=info", "tokio_tungstenite=info", "redis=info"];

fn with_content_loggers_capped(mut filter: EnvFilter) -> EnvFilter {
    for directive in CONTENT_LOGGERS {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

fn stderr_filter(verbosity: u8) -> EnvFilter {
    with_content_loggers_capped(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(match verbosity {
            0 => "warn",
            1 => "warn,confer=info",
            2 => "info,confer=debug",
            _ => "debug,confer=trace",
        })
    }))
}

fn file_filter(verbosity: u8) -> EnvFilter {
    with_content_loggers_capped(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(if verbosity >= 2 {
            "info,confer=debug"
        } else {
            "warn,confer=info"
        })
    }))
}

/// Starts logging. With `log_dir`, also writes `confer.log.YYYY-MM-DD` there.
pub fn init(verbosity: u8, log_dir: Option<&Path>) -> Result<LogGuard, LoggingError> {
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(verbosity >= 2)
        .with_filter(stderr_filter(verbosity));

    let (file, guard) = match log_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| LoggingError::LogDir {
                path: dir.to_path_buf(),
                source,
            })?;
            let appender = tracing_appender::rolling::daily(dir, LOG_FILE_PREFIX);
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(file_filter(verbosity));
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };

    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init()
        .map_err(|e| LoggingError::Init(e.to_string()))?;
    Ok(LogGuard { _writer: guard })
}
