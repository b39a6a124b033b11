//! The share thread: pictures of a shared screen or window for the encoder's mailbox, taken
//! when it changed, at most `max_fps` a second. When it stops changing, the latest picture goes
//! again at that rate for a second: the screen encoder refines what the rate made it cut short
//! (text sharpens within a dozen pictures). Then it goes once a second, which costs the encoder
//! a few bytes, and a keyframe asked for meanwhile has a picture to be made from.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::frame::I420Frame;
use super::mailbox::FrameSender;
use super::screen::{ScreenCapture, ScreenError, ShareTarget};

/// How long after its last change a picture goes again at the full rate (to be refined).
const REFINE_FOR: Duration = Duration::from_secs(1);
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
pub struct ShareHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ShareHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

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
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let period = Duration::from_secs(1) / max_fps.max(1);
    let thread = std::thread::Builder::new()
        .name("screen-share".into())
        .spawn(move || {
            // The latest picture, when it changed, and when it last went.
            let mut last: Option<(I420Frame, Instant, Instant)> = None;
            let mut due = Instant::now();
            while !flag.load(Ordering::Relaxed) {
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
                due += period;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                } else {
                    due = now;
                }
            }
        })
        .map_err(|e| ScreenError::Refused(format!("cannot start the share thread: {e}")))?;
    Ok(ShareHandle {
        stop,
        thread: Some(thread),
    })
}
