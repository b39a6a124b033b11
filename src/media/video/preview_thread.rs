//! Our own camera for a screen, before any call: the newest picture, halved and converted to
//! RGBA 15 times a second (the pre-join check's preview). In a call the encode thread makes the
//! same preview from the pictures it encodes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::frame::{I420Frame, RgbaImage, i420_to_rgba_half};
use super::mailbox::{FrameReceiver, Sender};

/// How often our own camera is shown (a self view needs no more).
const EVERY: Duration = Duration::from_millis(66);

/// Half-size copies of our camera's pictures for a screen, at most 15 a second: the preview
/// thread's before a call, the encode thread's in one.
pub struct Preview {
    out: Sender<RgbaImage>,
    last: Option<Instant>,
}

impl Preview {
    pub fn new(out: Sender<RgbaImage>) -> Self {
        Self { out, last: None }
    }

    /// Shows `picture` if the last one shown is old enough; true when it did.
    pub fn offer(&mut self, picture: &I420Frame) -> bool {
        if self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return false;
        }
        self.last = Some(Instant::now());
        self.out.send(i420_to_rgba_half(picture));
        true
    }
}

pub struct PreviewThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PreviewThread {
    /// `wake` is called after each picture (a window repaints).
    pub fn start(
        pictures: FrameReceiver,
        out: Sender<RgbaImage>,
        wake: impl Fn() + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("video-preview".into())
            .spawn(move || {
                let mut preview = Preview::new(out);
                while !stopping.load(Relaxed) {
                    let Some(picture) = pictures.wait(Duration::from_millis(100)) else {
                        continue;
                    };
                    if preview.offer(&picture) {
                        wake();
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for PreviewThread {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
