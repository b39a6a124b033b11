//! The window (egui/eframe): lobby, pre-join, meeting, settings. Draws state and sends
//! commands; no tokio, str0m, cpal or nokhwa here (docs/ARCHITECTURE.md, the layers).

mod app;
mod devices;
pub mod i18n;
mod inbox;
mod lobby;
pub mod meeting;
mod prejoin;
mod settings;
pub mod sharing;
mod texture;

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::config::Settings;
use crate::invite::Invite;
use crate::media::source::{CameraChoice, MicChoice};

pub use app::ConferApp;

#[derive(Debug, Error)]
pub enum UiError {
    #[error(
        "cannot open the window: no display (neither DISPLAY nor WAYLAND_DISPLAY is set); \
         without a window, use 'confer join LINK --headless'"
    )]
    NoDisplay,
    #[error("cannot open the window: {0}")]
    Window(String),
}

/// For UI tests: the system font fallback eframe gives the app (feature `system_fonts`), once
/// per context. Safe to call from inside a pass, before text is laid out.
#[cfg(test)]
pub(crate) fn install_system_fonts(ctx: &egui::Context) {
    let installed = egui::Id::NULL.with("system fonts installed");
    if !ctx.data(|d| d.get_temp::<bool>(installed).unwrap_or(false)) {
        ctx.add_font_provider(std::sync::Arc::new(
            egui_system_font_provider::SystemFontProvider::new(),
        ));
        ctx.data_mut(|d| d.insert_temp(installed, true));
    }
}

/// winit's own message for this names a source file of winit; say it plainly instead.
fn check_display() -> Result<(), UiError> {
    if cfg!(all(unix, not(target_vendor = "apple")))
        && ["DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET"]
            .iter()
            .all(|var| std::env::var_os(var).is_none_or(|v| v.is_empty()))
    {
        return Err(UiError::NoDisplay);
    }
    Ok(())
}

pub struct Options {
    pub settings: Settings,
    /// Where settings are saved when the window closes.
    pub settings_path: PathBuf,
    /// A link given on the command line, shown in the lobby.
    pub invite: Option<Invite>,
    pub camera: CameraChoice,
    pub mic: MicChoice,
    /// Join `invite`'s meeting at once (`--auto-join`).
    pub auto_join: bool,
    /// Close the window after this long (tests, demos).
    pub quit_after: Option<Duration>,
    /// Where later starts of the app hand over their links (None: this one runs alone).
    pub instance: Option<crate::single_instance::Listener>,
}

/// Opens the window and runs until it closes.
pub fn run(mut options: Options) -> Result<(), UiError> {
    check_display()?;
    let inbox = inbox::Inbox::default();
    // Before the event loop starts: the link a click launched the app with comes early.
    #[cfg(target_os = "macos")]
    {
        let post = inbox.post();
        confer_macos::listen_for_links(move |link| {
            post.send(crate::single_instance::judge_link(&link))
        });
    }
    // Answered from before the window exists (arrivals wait for it) until it has closed.
    let _serving = match options.instance.take() {
        Some(instance) => {
            let post = inbox.post();
            match instance.serve(move |arrival| post.send(arrival)) {
                Ok(serving) => Some(serving),
                Err(e) => {
                    tracing::warn!("links from later starts will not arrive: {e}");
                    None
                }
            }
        }
        None => None,
    };
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Confer")
            .with_app_id("confer")
            .with_inner_size([960.0, 640.0])
            .with_min_inner_size([480.0, 360.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Confer",
        native,
        Box::new(|cc| {
            let ctx = cc.egui_ctx.clone();
            inbox.wake(&ctx);
            let app = ConferApp::new(&ctx, options, inbox);
            // A signal closes the window like its close button does, so settings are saved and
            // the exit code is 0.
            let close = app.close_request();
            if let Err(e) = ctrlc::set_handler(move || {
                close.store(true, std::sync::atomic::Ordering::SeqCst);
                ctx.request_repaint();
            }) {
                tracing::warn!("cannot handle termination signals: {e}");
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| UiError::Window(e.to_string()))
}
