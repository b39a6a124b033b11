//! Our camera during a call. It captures only while it is switched on: turning the camera
//! off in a meeting releases the device, so a real camera's light goes out, and turning it on
//! opens the device again, which is also how a camera that failed gets another try. (It counts
//! as on for the others only once pictures come: the call machine's rule, from the `Started`
//! this passes on.)

use std::sync::mpsc;

use crate::media::source::CameraChoice;
use crate::media::video::camera::{
    CameraEvent, CameraHandle, VideoWanted, camera_events, start_chosen,
};
use crate::media::video::mailbox::FrameSender;

pub struct OwnCamera {
    choice: CameraChoice,
    frames: FrameSender,
    events: mpsc::SyncSender<CameraEvent>,
    reports: mpsc::Receiver<CameraEvent>,
    running: Option<CameraHandle>,
}

impl OwnCamera {
    /// A camera that is off; its pictures will go to `frames`.
    pub fn new(choice: CameraChoice, frames: FrameSender) -> Self {
        let (events, reports) = camera_events();
        Self {
            choice,
            frames,
            events,
            reports,
            running: None,
        }
    }

    /// Opens the camera unless it is open already. An error says why it cannot even start;
    /// a device that fails to open says so later, as a `Stopped` event.
    pub fn start(&mut self) -> Result<(), String> {
        if self.running.is_some() {
            return Ok(());
        }
        let wanted = VideoWanted::default();
        let frames = self.frames.clone();
        let events = self.events.clone();
        let started = start_chosen(&self.choice, wanted, frames, events)
            .map_err(|e| format!("cannot start the camera: {e}"))?;
        self.running = Some(started.ok_or("no camera is chosen")?);
        Ok(())
    }

    /// Releases the device (and waits for its thread, at most one picture's time).
    pub fn stop(&mut self) {
        self.running = None;
        // What the stopped thread said last is about a camera that is no longer running.
        while self.reports.try_recv().is_ok() {}
    }

    /// The camera thread's next event, if any. A camera that stopped is let go (a start
    /// tries it again).
    pub fn next_event(&mut self) -> Option<CameraEvent> {
        let event = self.reports.try_recv().ok()?;
        if let CameraEvent::Stopped(_) = event {
            self.running = None;
        }
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::video::mailbox::frame_mailbox;
    use std::time::{Duration, Instant};

    fn wait_for_event(camera: &mut OwnCamera) -> CameraEvent {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(event) = camera.next_event() {
                return event;
            }
            assert!(Instant::now() < deadline, "no event from the camera thread");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn pictures_come_only_while_the_camera_is_on() {
        let (frames, pictures) = frame_mailbox();
        let mut camera = OwnCamera::new(CameraChoice::TestPattern, frames);
        assert!(pictures.wait(Duration::from_millis(300)).is_none());
        camera.start().unwrap();
        assert!(matches!(
            wait_for_event(&mut camera),
            CameraEvent::Started { .. }
        ));
        assert!(pictures.wait(Duration::from_secs(2)).is_some());

        camera.stop();
        let _ = pictures.take();
        assert!(pictures.wait(Duration::from_millis(300)).is_none());

        camera.start().unwrap();
        assert!(matches!(
            wait_for_event(&mut camera),
            CameraEvent::Started { .. }
        ));
        assert!(pictures.wait(Duration::from_secs(2)).is_some());
    }

    #[test]
    fn a_camera_that_fails_says_so_and_can_be_tried_again() {
        let (frames, _pictures) = frame_mailbox();
        let mut camera = OwnCamera::new(CameraChoice::Index(97), frames);
        for _ in 0..2 {
            camera.start().unwrap();
            assert!(matches!(
                wait_for_event(&mut camera),
                CameraEvent::Stopped(_)
            ));
        }
        let (frames, _pictures) = frame_mailbox();
        let mut none = OwnCamera::new(CameraChoice::Off, frames);
        assert!(none.start().unwrap_err().contains("no camera"));
    }
}
