//! One slot where the newest picture wins: from a camera to the encoder, and from a decoder to
//! the screen. The producer never waits, and a slow consumer always gets the latest picture,
//! never a stale one. Lock-free: the slot is an atomic pointer that each side swaps. Replaced
//! pictures are counted.

use std::ptr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::frame::I420Frame;

#[derive(Debug, Default)]
pub struct FrameCounters {
    pub captured: AtomicU64,
    /// Pictures replaced by a newer one before the encoder took them.
    pub dropped: AtomicU64,
}

struct Slot<T> {
    frame: AtomicPtr<T>,
    counters: FrameCounters,
    /// The receiving thread, woken when a picture arrives.
    waiter: OnceLock<std::thread::Thread>,
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        let left = self.frame.swap(ptr::null_mut(), Ordering::AcqRel);
        if !left.is_null() {
            // SAFETY: every non-null pointer in the slot came from Box::into_raw, and swapping
            // it out made this the only owner.
            drop(unsafe { Box::from_raw(left) });
        }
    }
}

pub struct Sender<T>(Arc<Slot<T>>);

// Not derived: that would ask for `T: Clone`. Several senders share the slot (a camera that
// is started again sends into the same encoder).
impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

pub struct Receiver<T>(Arc<Slot<T>>);

/// Camera to encoder.
pub type FrameSender = Sender<I420Frame>;
pub type FrameReceiver = Receiver<I420Frame>;

pub fn frame_mailbox() -> (FrameSender, FrameReceiver) {
    mailbox()
}

pub fn mailbox<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Slot {
        frame: AtomicPtr::new(ptr::null_mut()),
        counters: FrameCounters::default(),
        waiter: OnceLock::new(),
    });
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    pub fn send(&self, frame: T) {
        self.0.counters.captured.fetch_add(1, Ordering::Relaxed);
        let new = Box::into_raw(Box::new(frame));
        let old = self.0.frame.swap(new, Ordering::AcqRel);
        if !old.is_null() {
            self.0.counters.dropped.fetch_add(1, Ordering::Relaxed);
            // SAFETY: as in Slot::drop: swapped out, so owned here alone.
            drop(unsafe { Box::from_raw(old) });
        }
        if let Some(waiter) = self.0.waiter.get() {
            waiter.unpark();
        }
    }

    pub fn counters(&self) -> &FrameCounters {
        &self.0.counters
    }
}

impl<T> Receiver<T> {
    /// The newest picture, if one came since the last call.
    pub fn take(&self) -> Option<T> {
        let frame = self.0.frame.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in Slot::drop: swapped out, so owned here alone.
        (!frame.is_null()).then(|| *unsafe { Box::from_raw(frame) })
    }

    /// Waits up to `timeout` for a picture. Only ever call it from one thread.
    pub fn wait(&self, timeout: Duration) -> Option<T> {
        let _ = self.0.waiter.set(std::thread::current());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(frame) = self.take() {
                return Some(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            std::thread::park_timeout(left);
        }
    }

    pub fn counters(&self) -> &FrameCounters {
        &self.0.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_picture_wins_and_replaced_ones_are_counted() {
        let (tx, rx) = frame_mailbox();
        assert!(rx.take().is_none());
        for width in [100, 200, 300] {
            tx.send(I420Frame::black(width, 2));
        }
        assert_eq!(rx.take().unwrap().width(), 300);
        assert!(rx.take().is_none());
        assert_eq!(rx.counters().captured.load(Ordering::Relaxed), 3);
        assert_eq!(rx.counters().dropped.load(Ordering::Relaxed), 2);
        // A picture left in the slot is freed with it.
        tx.send(I420Frame::black(10, 2));
        drop((tx, rx));
    }

    #[test]
    fn two_threads_hand_over_every_picture_or_count_it() {
        let (tx, rx) = frame_mailbox();
        let producer = std::thread::spawn(move || {
            for i in 0..2_000 {
                tx.send(I420Frame::black(2 + 2 * (i % 50), 2));
            }
            tx
        });
        let mut received = 0u64;
        while !producer.is_finished() {
            received += u64::from(rx.take().is_some());
        }
        let tx = producer.join().unwrap();
        received += u64::from(rx.take().is_some());
        let dropped = tx.counters().dropped.load(Ordering::Relaxed);
        assert_eq!(received + dropped, 2_000);
    }
}
