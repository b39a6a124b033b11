//! Where Confer keeps its files: settings in the platform's config dir, logs (and later the
//! server's secret) in its data dir. `CONFER_CONFIG_DIR` and `CONFER_DATA_DIR` override both, for
//! portable installs and for tests that must not touch the user's own files.

use std::path::PathBuf;

use directories::ProjectDirs;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PathError {
    #[error(
        "cannot find a home directory for Confer's files; set CONFER_CONFIG_DIR and CONFER_DATA_DIR"
    )]
    NoHome,
}

fn project_dirs() -> Result<ProjectDirs, PathError> {
    // Linux: ~/.config/confer and ~/.local/share/confer; macOS: ~/Library/Application Support/
    // app.Confer.Confer; Windows: %APPDATA%\Confer\Confer\{config,data}.
    ProjectDirs::from("app", "Confer", "Confer").ok_or(PathError::NoHome)
}

fn from_env(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

pub fn config_dir() -> Result<PathBuf, PathError> {
    match from_env("CONFER_CONFIG_DIR") {
        Some(dir) => Ok(dir),
        None => Ok(project_dirs()?.config_dir().to_path_buf()),
    }
}

pub fn data_dir() -> Result<PathBuf, PathError> {
    match from_env("CONFER_DATA_DIR") {
        Some(dir) => Ok(dir),
        None => Ok(project_dirs()?.data_dir().to_path_buf()),
    }
}

pub fn settings_file() -> Result<PathBuf, PathError> {
    Ok(config_dir()?.join("settings.toml"))
}

pub fn log_dir() -> Result<PathBuf, PathError> {
    Ok(data_dir()?.join("logs"))
}
