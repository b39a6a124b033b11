//! A call on a thread of its own, for the window: the window has no async runtime
//! (docs/ARCHITECTURE.md, "The window"), so the call's driver runs here on one, controls go in
//! through a channel, reports come out through another, and every report wakes the window.
//!
//! Every queue is bounded. What is only worth its newest value is kept as that: each
//! participant's picture, our own camera's, the audio levels, each participant's stats. The
//! rest (people joining and leaving, notices, chat, device news) waits in a queue of
//! [`REPORTS_QUEUE`]; a window that has not drawn for that long (minimised for hours through a
//! lively chat) loses the newest of them, counted in the log, never memory. Controls wait in a
//! queue of [`CONTROLS_QUEUE`]: the call takes them every few milliseconds, so it fills only
//! when the call is stuck, and then a control is dropped (and logged) rather than the window
//! waiting.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, watch};

pub use super::driver::CONTROLS_QUEUE;
use super::driver::{CallConfig, run};
use super::events::{CallControl, CallError, CallReport, Setup};
use super::ids::ParticipantId;
use super::room::Feed;
use super::stats::ParticipantStats;
use crate::media::video::decode_thread::Picture;
use crate::media::video::frame::RgbaImage;

/// Reports that are not kept as their newest value, waiting for the window.
pub const REPORTS_QUEUE: usize = 1024;

/// What a window needs of a call; the running call is one, a test's script another.
pub trait CallLink {
    fn control(&mut self, control: CallControl);
    /// Leave the meeting; `ended` says when it is over.
    fn leave(&mut self);
    /// Reports since the last call (pictures excepted).
    fn reports(&mut self) -> Vec<CallReport>;
    /// Each participant's newest picture since the last call, of their camera and of the
    /// screen they share, by id.
    fn pictures(&mut self) -> Vec<(ParticipantId, Feed, Picture)>;
    /// Our own camera's newest picture since the last call (the self view).
    fn preview(&mut self) -> Option<RgbaImage>;
    /// None while the call runs; then Ok (left) or why it could not go on.
    fn ended(&mut self) -> Option<Result<(), CallError>>;
}

/// What is kept as its newest value only.
#[derive(Default)]
struct Newest {
    pictures: HashMap<(ParticipantId, Feed), Picture>,
    preview: Option<RgbaImage>,
    levels: Option<CallReport>,
    stats: BTreeMap<ParticipantId, Box<ParticipantStats>>,
}

/// The call's end of the hand-off.
struct Outlet {
    newest: Arc<Mutex<Newest>>,
    queue: SyncSender<CallReport>,
    dropped: u64,
}

impl Outlet {
    /// The call's end of a new hand-off, and the window's two ends.
    fn new() -> (Outlet, Receiver<CallReport>, Arc<Mutex<Newest>>) {
        let (queue, reports) = sync_channel(REPORTS_QUEUE);
        let newest: Arc<Mutex<Newest>> = Arc::default();
        let outlet = Outlet {
            newest: Arc::clone(&newest),
            queue,
            dropped: 0,
        };
        (outlet, reports, newest)
    }

    fn put(&mut self, report: CallReport) {
        let Ok(mut newest) = self.newest.lock() else {
            return;
        };
        match report {
            CallReport::Picture { id, picture } => {
                newest.pictures.insert((id, Feed::Camera), picture);
            }
            CallReport::ScreenPicture { id, picture } => {
                newest.pictures.insert((id, Feed::Screen), picture);
            }
            CallReport::Preview(image) => newest.preview = Some(image),
            levels @ CallReport::Levels { .. } => newest.levels = Some(levels),
            CallReport::Stats { id, stats } => {
                newest.stats.insert(id, stats);
            }
            other => {
                drop(newest);
                if let Err(TrySendError::Full(_)) = self.queue.try_send(other) {
                    self.dropped += 1;
                    if self.dropped.is_power_of_two() {
                        tracing::warn!(
                            "the window is not taking the call's reports; {} dropped",
                            self.dropped
                        );
                    }
                }
            }
        }
    }
}

/// What waited in the queue, then the newest levels and stats.
fn take_reports(queue: &Receiver<CallReport>, newest: &Mutex<Newest>) -> Vec<CallReport> {
    let mut reports: Vec<CallReport> = queue.try_iter().collect();
    if let Ok(mut newest) = newest.lock() {
        reports.extend(newest.levels.take());
        let stats = std::mem::take(&mut newest.stats);
        reports.extend(
            stats
                .into_iter()
                .map(|(id, stats)| CallReport::Stats { id, stats }),
        );
    }
    reports
}

pub struct RunningCall {
    controls: mpsc::Sender<CallControl>,
    stop: watch::Sender<bool>,
    reports: Receiver<CallReport>,
    newest: Arc<Mutex<Newest>>,
    thread: Option<JoinHandle<Result<(), CallError>>>,
    ended: Option<Result<(), CallError>>,
}

impl RunningCall {
    /// Starts the call; `wake` is called (from the call's thread) whenever there is news.
    pub fn start(config: CallConfig, wake: impl Fn() + Send + 'static) -> Result<Self, CallError> {
        let (stop, stop_rx) = watch::channel(false);
        let (controls, controls_rx) = mpsc::channel(CONTROLS_QUEUE);
        let (mut outlet, reports, newest) = Outlet::new();
        let cannot_start = |e: std::io::Error| CallError::Setup {
            what: Setup::Call,
            reason: e.to_string(),
        };
        let thread = std::thread::Builder::new()
            .name("call".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(cannot_start)?;
                let result = runtime.block_on(run(config, stop_rx, controls_rx, |report| {
                    outlet.put(report);
                    wake();
                }));
                wake();
                result
            })
            .map_err(cannot_start)?;
        Ok(Self {
            controls,
            stop,
            reports,
            newest,
            thread: Some(thread),
            ended: None,
        })
    }
}

impl CallLink for RunningCall {
    fn control(&mut self, control: CallControl) {
        if let Err(e) = self.controls.try_send(control) {
            tracing::warn!("the call is not taking controls: {e}");
        }
    }

    fn leave(&mut self) {
        let _ = self.stop.send(true);
    }

    fn reports(&mut self) -> Vec<CallReport> {
        take_reports(&self.reports, &self.newest)
    }

    fn pictures(&mut self) -> Vec<(ParticipantId, Feed, Picture)> {
        self.newest
            .lock()
            .map(|mut newest| {
                newest
                    .pictures
                    .drain()
                    .map(|((id, feed), picture)| (id, feed, picture))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn preview(&mut self) -> Option<RgbaImage> {
        self.newest
            .lock()
            .ok()
            .and_then(|mut newest| newest.preview.take())
    }

    fn ended(&mut self) -> Option<Result<(), CallError>> {
        if self.ended.is_none() && self.thread.as_ref().is_some_and(|t| t.is_finished()) {
            let result = self.thread.take().map(|t| {
                t.join().unwrap_or_else(|_| {
                    Err(CallError::Setup {
                        what: Setup::Call,
                        reason: "its thread stopped unexpectedly".into(),
                    })
                })
            });
            self.ended = result;
        }
        self.ended.clone()
    }
}

impl Drop for RunningCall {
    /// Closing the window mid-call still leaves the meeting properly.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::events::Notice;

    #[test]
    fn a_window_that_does_not_draw_loses_the_oldest_values_and_the_newest_news_never_memory() {
        let (mut outlet, reports, newest) = Outlet::new();
        // An hour minimised: levels ten times a second, stats every second, and more news than
        // the queue holds.
        for i in 0..36_000u32 {
            outlet.put(CallReport::Levels {
                local: i as f32,
                remotes: Vec::new(),
            });
            if i % 10 == 0 {
                let stats = ParticipantStats {
                    frames_decoded: u64::from(i),
                    ..ParticipantStats::default()
                };
                outlet.put(CallReport::Stats {
                    id: "p1".into(),
                    stats: Box::new(stats),
                });
            }
        }
        for i in 0..REPORTS_QUEUE + 10 {
            outlet.put(CallReport::Notice(Notice::Problem(format!("news {i}"))));
        }
        assert_eq!(outlet.dropped, 10);
        let got = take_reports(&reports, &newest);
        assert_eq!(got.len(), REPORTS_QUEUE + 2);
        // The news in order, the newest that did not fit lost...
        assert_eq!(got[0], CallReport::Notice(Notice::Problem("news 0".into())));
        assert_eq!(
            got[REPORTS_QUEUE - 1],
            CallReport::Notice(Notice::Problem(format!("news {}", REPORTS_QUEUE - 1)))
        );
        // ...then only the last levels and the last stats.
        assert!(
            matches!(&got[REPORTS_QUEUE], CallReport::Levels { local, .. } if *local == 35_999.0)
        );
        assert!(matches!(&got[REPORTS_QUEUE + 1],
            CallReport::Stats { stats, .. } if stats.frames_decoded == 35_990));
        assert!(take_reports(&reports, &newest).is_empty());
    }
}
