//! Links that reach the running app from outside its window: later starts of the app (through
//! `single_instance`) and, on macOS, the system's Apple Events. Whoever posts wakes the window,
//! which may not exist yet: arrivals wait in the queue until it does.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, OnceLock};

use crate::single_instance::Arrival;

pub struct Inbox {
    post: Post,
    arrivals: Receiver<Arrival>,
}

/// The sending end; cheap to clone, for any thread.
#[derive(Clone)]
pub struct Post {
    queue: Sender<Arrival>,
    window: Arc<OnceLock<egui::Context>>,
}

impl Default for Inbox {
    fn default() -> Self {
        let (queue, arrivals) = channel();
        Self {
            post: Post {
                queue,
                window: Arc::default(),
            },
            arrivals,
        }
    }
}

impl Inbox {
    pub fn post(&self) -> Post {
        self.post.clone()
    }

    /// From now on each arrival wakes this window.
    pub fn wake(&self, ctx: &egui::Context) {
        let _ = self.post.window.set(ctx.clone());
        ctx.request_repaint();
    }

    /// What arrived since the last look.
    pub fn take(&self) -> Vec<Arrival> {
        self.arrivals.try_iter().collect()
    }
}

impl Post {
    pub fn send(&self, arrival: Arrival) {
        let _ = self.queue.send(arrival);
        if let Some(ctx) = self.window.get() {
            ctx.request_repaint();
        }
    }
}
