//! The share thread: pictures of a shared screen or window for the encoder's mailbox, taken
//! when it changed, at most `max_fps` a second. When it stops changing, the latest picture goes
//! again at that rate for a few seconds: the screen encoder refines what the rate made it cut
//! short (text sharpens within a dozen pictures it encodes). Then it goes once a second, which
//! costs the encoder a few bytes, and a keyframe asked for meanwhile has a picture to be made
//! from.

use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use super::frame::I420Frame;
use super::mailbox::FrameSender;
use super::screen::{ScreenCapture, ScreenError, ShareTarget};
use super::worker::{Pacer, StoppableThread, spawn_stoppable};

/// How long after its last change a picture goes again at the full rate (to be refined). After
/// a burst (a 1080p page scrolled) the encoder's rate control skips the pictures of the first
/// second or two to pay it back: in benches/share.sh one second left the last picture at
/// 31 dB, its text soft.
const REFINE_FOR: Duration = Duration::from_secs(4);
/// How often a screen at rest sends its picture again after that.
const AT_REST_EVERY: Duration = Duration::from_secs(1);

/// What the share thread reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareEvent {
    /// Sharing began: pictures of this size follow.
    Started { width: u32, height: u32 },
    /// Sharing stopped by itself (the window closed, the display went away).
    Ended(ScreenError),
}

/// A running share; dropping it stops sharing.
pub type ShareHandle = StoppableThread;

/// Shares `target` on `display` (None: the session's) into `out`. Opening the capture happens
/// here, so that a target that cannot be shared is an error to show at once.
pub fn start_share(
    display: Option<String>,
    target: ShareTarget,
    max_fps: u32,
    out: FrameSender,
    events: SyncSender<ShareEvent>,
) -> Result<ShareHandle, ScreenError> {
    let mut capture = ScreenCapture::open(display.as_deref(), target)?;
    spawn_stoppable("screen-share", move |stop| {
        // The latest picture, when it changed, and when it last went.
        let mut last: Option<(I420Frame, Instant, Instant)> = None;
        let mut pace = Pacer::new(max_fps);
        while !stop.load(Ordering::Relaxed) {
            match capture.next_if_changed() {
                Ok(Some(picture)) => {
                    if last.as_ref().is_none_or(|(l, _, _)| {
                        (l.width(), l.height()) != (picture.width(), picture.height())
                    }) {
                        let _ = events.try_send(ShareEvent::Started {
                            width: picture.width() as u32,
                            height: picture.height() as u32,
                        });
                    }
                    out.send(picture.clone());
                    let now = Instant::now();
                    last = Some((picture, now, now));
                }
                Ok(None) => {
                    if let Some((picture, changed, sent)) = last.as_mut()
                        && (changed.elapsed() < REFINE_FOR || sent.elapsed() >= AT_REST_EVERY)
                    {
                        let mut again = picture.clone();
                        again.captured = std::time::SystemTime::now();
                        out.send(again);
                        *sent = Instant::now();
                    }
                }
                Err(e) => {
                    let _ = events.try_send(ShareEvent::Ended(e));
                    return;
                }
            }
            pace.wait();
        }
    })
    .map_err(|e| ScreenError::Refused(format!("cannot start the share thread: {e}")))
}
