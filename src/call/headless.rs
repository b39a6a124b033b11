//! `confer join LINK --headless`: a participant with no window. Runs the call for its duration
//! (or until interrupted), writes a JSON line a second per remote participant to the stats
//! file, and says on stderr what happened.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use super::driver::{CONTROLS_QUEUE, CallConfig, run as run_call};
use super::events::{CallControl, CallReport, PeerState};
use crate::invite::Invite;
use crate::media::audio::processing::ProcessingSettings;
use crate::media::source::{CameraChoice, MicChoice, SpeakerChoice};
use crate::media::video::frame::RgbaImage;
use crate::media::video::screen::ShareTarget;

pub struct HeadlessOptions {
    pub invite: Invite,
    pub name: String,
    pub camera: CameraChoice,
    pub mic: MicChoice,
    pub duration: Option<Duration>,
    pub stats: Option<PathBuf>,
    pub relay_only: bool,
    /// The tile size everyone's pictures are shown at (as a window would tell the call).
    pub view: Option<(u32, u32)>,
    /// What to share from the start.
    pub share: Option<ShareTarget>,
    /// When to begin sharing (from the start if not given).
    pub share_after: Option<Duration>,
    /// How long to share (the call goes on).
    pub share_for: Option<Duration>,
    /// Where the last shared screen received is written when the call ends.
    pub save_share: Option<PathBuf>,
}

/// Runs the call to its end. Err carries the one-line reason it could not.
pub fn run(options: HeadlessOptions) -> Result<(), String> {
    let mut stats_file = match &options.stats {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot write the stats file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let (stop_tx, stop) = watch::channel(false);
    let interrupt = stop_tx.clone();
    // SIGTERM and Ctrl-C end the call cleanly (leave, then exit 0), like the duration does.
    let _ = ctrlc::set_handler(move || {
        let _ = interrupt.send(true);
    });
    let config = CallConfig {
        invite: options.invite,
        name: options.name,
        camera: options.camera,
        mic: options.mic,
        speaker: SpeakerChoice::Off,
        mic_on: true,
        camera_on: true,
        processing: ProcessingSettings::default(),
        max_video_bps: crate::media::video::h264::MAX_BITRATE_BPS,
        render_video: false,
        render_shares: options.save_share.is_some(),
        relay_only: options.relay_only,
        // No one listens to a headless participant's speaker.
        chimes: false,
    };
    runtime.block_on(async move {
        if let Some(duration) = options.duration {
            let stop_tx = stop_tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(duration).await;
                let _ = stop_tx.send(true);
            });
        }
        // A window's buttons; nobody presses them here, but the sender stays for the call. It
        // tells the tile size, as a window does once a participant is shown.
        let (tiles, controls) = tokio::sync::mpsc::channel(CONTROLS_QUEUE);
        if let Some(target) = options.share {
            let tiles = tiles.clone();
            let (after, lasting) = (options.share_after, options.share_for);
            tokio::spawn(async move {
                if let Some(after) = after {
                    tokio::time::sleep(after).await;
                }
                let _ = tiles.send(CallControl::Share(Some(target))).await;
                if let Some(lasting) = lasting {
                    tokio::time::sleep(lasting).await;
                    let _ = tiles.send(CallControl::Share(None)).await;
                }
            });
        }
        let mut last_share: Option<RgbaImage> = None;
        let ended = run_call(config, stop, controls, |report| match report {
            CallReport::Stats { stats, .. } => {
                if let Some(file) = stats_file.as_mut()
                    && writeln!(file, "{}", stats.to_json_line())
                        .and_then(|()| file.flush())
                        .is_err()
                {
                    tracing::warn!("cannot write the stats file");
                }
            }
            CallReport::Notice(text) => tracing::info!("{text}"),
            CallReport::Participant { id, name, state } => {
                tracing::info!("{name}: {state:?}");
                if let (Some((width, height)), PeerState::Connected) = (options.view, state) {
                    let _ = tiles.try_send(CallControl::Fit { id, width, height });
                }
            }
            CallReport::ScreenPicture { id, picture } => {
                if last_share.is_none() {
                    tracing::info!("{id}: a shared screen, {:?}", picture.stream_size);
                }
                last_share = Some(picture.image);
            }
            CallReport::ScreenEnded { id } => tracing::info!("{id}: stopped sharing"),
            CallReport::Sharing(on) => tracing::info!("sharing our screen: {on}"),
            CallReport::Levels { .. } | CallReport::Picture { .. } | CallReport::Preview(_) => {}
            CallReport::Chat { name, text, .. } => tracing::info!("chat from {name}: {text}"),
            CallReport::Signaling { connected } => {
                tracing::info!("signaling connected: {connected}")
            }
            CallReport::Device { device, problem } => match problem {
                Some(why) => tracing::warn!("{device:?}: {why}"),
                None => tracing::info!("{device:?} working"),
            },
            CallReport::Media { id, state } => tracing::info!(
                "{id}: microphone on {}, camera on {}, hand up {}",
                state.mic_on,
                state.camera_on,
                state.hand_up
            ),
        })
        .await
        .map_err(|e| e.to_string());
        if let (Some(path), Some(image)) = (&options.save_share, &last_share) {
            save_ppm(path, image).map_err(|e| {
                format!("cannot write the shared screen to {}: {e}", path.display())
            })?;
        }
        ended
    })
}

/// A binary PPM (P6) of `image`'s colours: any image tool opens it, and tests read it.
fn save_ppm(path: &std::path::Path, image: &RgbaImage) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(image.pixels.len() / 4 * 3 + 32);
    write!(out, "P6\n{} {}\n255\n", image.width, image.height)?;
    for pixel in image.pixels.chunks_exact(4) {
        out.extend_from_slice(&pixel[..3]);
    }
    std::fs::write(path, out)
}
