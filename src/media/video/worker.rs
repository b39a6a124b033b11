//! What the capture threads (a camera, a shared screen) have in common: a thread that runs
//! until its handle is dropped, and a pace kept by the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running capture thread; dropping it stops the thread and waits for it.
pub struct StoppableThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for StoppableThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `body` on a thread called `name`; `body` returns once the flag it is given is set.
pub fn spawn_stoppable(
    name: &str,
    body: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
) -> std::io::Result<StoppableThread> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || body(flag))?;
    Ok(StoppableThread {
        stop,
        thread: Some(thread),
    })
}

/// `fps` turns a second by the clock: each at its due time, none made up after a stall.
pub struct Pacer {
    period: Duration,
    due: Instant,
}

impl Pacer {
    pub fn new(fps: u32) -> Self {
        Self {
            period: Duration::from_secs(1) / fps.max(1),
            due: Instant::now(),
        }
    }

    /// Sleeps until the next turn is due.
    pub fn wait(&mut self) {
        self.due += self.period;
        let now = Instant::now();
        if self.due > now {
            std::thread::sleep(self.due - now);
        } else {
            self.due = now;
        }
    }
}
