//! A call on a thread of its own, for the window: the window has no async runtime (DESIGN.md),
//! so the engine runs here on one, controls go in through a channel, reports come out through
//! another, and every report wakes the window. Pictures do not queue: each participant's
//! newest replaces the one before, so a window that draws late never falls behind.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, watch};

use super::engine::{CallConfig, run};
use super::events::{CallControl, CallReport};
use crate::media::video::decode_thread::Picture;
use crate::media::video::frame::RgbaImage;

/// What a window needs of a call; the running engine is one, a test's script another.
pub trait CallLink {
    fn control(&mut self, control: CallControl);
    /// Leave the meeting; `ended` says when it is over.
    fn leave(&mut self);
    /// Reports since the last call (pictures excepted).
    fn reports(&mut self) -> Vec<CallReport>;
    /// Each participant's newest picture since the last call, by id.
    fn pictures(&mut self) -> Vec<(String, Picture)>;
    /// Our own camera's newest picture since the last call (the self view).
    fn preview(&mut self) -> Option<RgbaImage>;
    /// None while the call runs; then Ok (left) or why it could not go on.
    fn ended(&mut self) -> Option<Result<(), String>>;
}

type Pictures = Arc<Mutex<HashMap<String, Picture>>>;
type Preview = Arc<Mutex<Option<RgbaImage>>>;

pub struct RunningCall {
    controls: mpsc::UnboundedSender<CallControl>,
    stop: watch::Sender<bool>,
    reports: Receiver<CallReport>,
    pictures: Pictures,
    preview: Preview,
    thread: Option<JoinHandle<Result<(), String>>>,
    ended: Option<Result<(), String>>,
}

impl RunningCall {
    /// Starts the call; `wake` is called (from the call's thread) whenever there is news.
    pub fn start(config: CallConfig, wake: impl Fn() + Send + 'static) -> Result<Self, String> {
        let (stop, stop_rx) = watch::channel(false);
        let (controls, controls_rx) = mpsc::unbounded_channel();
        let (report_tx, reports) = channel();
        let pictures: Pictures = Arc::default();
        let newest = Arc::clone(&pictures);
        let preview: Preview = Arc::default();
        let own = Arc::clone(&preview);
        let thread = std::thread::Builder::new()
            .name("call".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the call: {e}"))?;
                let result = runtime.block_on(run(config, stop_rx, controls_rx, |report| {
                    match report {
                        CallReport::Picture { id, picture } => {
                            if let Ok(mut slot) = newest.lock() {
                                slot.insert(id, picture);
                            }
                        }
                        CallReport::Preview(image) => {
                            if let Ok(mut slot) = own.lock() {
                                *slot = Some(image);
                            }
                        }
                        other => {
                            let _ = report_tx.send(other);
                        }
                    }
                    wake();
                }));
                wake();
                result
            })
            .map_err(|e| format!("cannot start the call: {e}"))?;
        Ok(Self {
            controls,
            stop,
            reports,
            pictures,
            preview,
            thread: Some(thread),
            ended: None,
        })
    }
}

impl CallLink for RunningCall {
    fn control(&mut self, control: CallControl) {
        let _ = self.controls.send(control);
    }

    fn leave(&mut self) {
        let _ = self.stop.send(true);
    }

    fn reports(&mut self) -> Vec<CallReport> {
        self.reports.try_iter().collect()
    }

    fn pictures(&mut self) -> Vec<(String, Picture)> {
        self.pictures
            .lock()
            .map(|mut slot| slot.drain().collect())
            .unwrap_or_default()
    }

    fn preview(&mut self) -> Option<RgbaImage> {
        self.preview.lock().ok().and_then(|mut slot| slot.take())
    }

    fn ended(&mut self) -> Option<Result<(), String>> {
        if self.ended.is_none() && self.thread.as_ref().is_some_and(|t| t.is_finished()) {
            let result = self.thread.take().map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("the call stopped unexpectedly".into()))
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
