//! Cameras: a named thread owns the nokhwa `Camera` (it is not `Send`), picks the format closest
//! to what was asked, converts each picture straight to I420 and drops it in the encoder's
//! mailbox. The synthetic camera runs the same way on its own clock. A camera that fails or
//! disappears ends its thread with an event saying why; nothing panics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::SystemTime;

use thiserror::Error;

use super::convert::{self, ConvertError};
use super::frame::I420Frame;
use super::mailbox::FrameSender;
use super::pattern::TestPattern;
use super::worker::{Pacer, StoppableThread, spawn_stoppable};
use crate::media::DeviceProblem;
use crate::media::source::CameraChoice;

/// What the call asks of a camera (720p30 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoWanted {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl Default for VideoWanted {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Mjpeg,
    Yuyv,
    Nv12,
}

/// One format a camera offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub format: PixelFormat,
}

/// Picks the offered format closest to `wanted`: the frame rate first (a smooth 720p beats a
/// juddering 1080p), then the size (the smallest not below it, else the largest), then the
/// cheaper conversion (uncompressed before MJPEG).
pub fn choose_format(offered: &[Offered], wanted: VideoWanted) -> Option<Offered> {
    let area = |o: &Offered| u64::from(o.width) * u64::from(o.height);
    let wanted_area = u64::from(wanted.width) * u64::from(wanted.height);
    offered.iter().copied().min_by_key(|o| {
        let fps_short = wanted.fps.saturating_sub(o.fps);
        let fps_over = o.fps.saturating_sub(wanted.fps);
        let size = if area(o) >= wanted_area {
            (0, area(o) - wanted_area)
        } else {
            (1, wanted_area - area(o))
        };
        let format = match o.format {
            PixelFormat::Nv12 => 0,
            PixelFormat::Yuyv => 1,
            PixelFormat::Mjpeg => 2,
        };
        (fps_short, size, fps_over, format)
    })
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CameraError {
    #[error("camera access was denied; allow Confer to use the camera in the system settings")]
    PermissionDenied,
    #[error("the camera \"{0}\" is not connected")]
    NotFound(String),
    #[error("the camera is in use by another application")]
    Busy,
    #[error("the camera offers no picture format Confer can use")]
    NoFormat,
    #[error("the camera failed: {0}")]
    Failed(String),
    #[error("the camera was disconnected")]
    Gone,
    /// The default camera was asked for and there is none.
    #[error("no camera was found")]
    NoneFound,
}

impl CameraError {
    /// What the window says of it: there is no camera, or the one there failed.
    pub fn problem(&self) -> DeviceProblem {
        match self {
            Self::NoneFound => DeviceProblem::Missing,
            other => DeviceProblem::Failed(other.to_string()),
        }
    }
}

/// What a camera thread reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraEvent {
    Started {
        name: String,
        width: u32,
        height: u32,
        fps: u32,
    },
    /// A picture that could not be converted was skipped (the camera goes on).
    BadFrame(String),
    /// The camera stopped for good.
    Stopped(CameraError),
}

/// A running camera thread; dropping it stops the thread.
pub type CameraHandle = StoppableThread;

/// The synthetic camera: the moving test pattern at `wanted`'s size and rate, paced by the
/// clock (each picture at its due time, none made up after a stall).
pub fn start_test_pattern(
    wanted: VideoWanted,
    out: FrameSender,
    events: mpsc::SyncSender<CameraEvent>,
) -> std::io::Result<CameraHandle> {
    spawn_stoppable("camera-pattern", move |stop| {
        let mut pattern = TestPattern::new(wanted.width as usize, wanted.height as usize);
        let (width, height) = pattern.size();
        let _ = events.try_send(CameraEvent::Started {
            name: "test pattern".into(),
            width: width as u32,
            height: height as u32,
            fps: wanted.fps,
        });
        let mut pace = Pacer::new(wanted.fps);
        while !stop.load(Ordering::Relaxed) {
            out.send(pattern.frame(SystemTime::now()));
            pace.wait();
        }
    })
}

/// Camera events waiting to be read: the call reads them every few milliseconds; a note of a
/// bad picture beyond this is dropped rather than kept.
pub const EVENTS_QUEUE: usize = 64;

/// The queue a camera thread tells its news through.
pub fn camera_events() -> (mpsc::SyncSender<CameraEvent>, mpsc::Receiver<CameraEvent>) {
    mpsc::sync_channel(EVENTS_QUEUE)
}

/// The camera `choice` names, started: the synthetic one or a real one (None: no camera).
pub fn start_chosen(
    choice: &CameraChoice,
    wanted: VideoWanted,
    out: FrameSender,
    events: mpsc::SyncSender<CameraEvent>,
) -> std::io::Result<Option<CameraHandle>> {
    match choice {
        CameraChoice::Off => Ok(None),
        CameraChoice::TestPattern => start_test_pattern(wanted, out, events).map(Some),
        CameraChoice::SizedTestPattern { width, height, fps } => {
            let wanted = VideoWanted {
                width: *width,
                height: *height,
                fps: u32::from(*fps),
            };
            start_test_pattern(wanted, out, events).map(Some)
        }
        CameraChoice::Default => start_camera(Pick::Default, wanted, out, events).map(Some),
        CameraChoice::Index(i) => start_camera(Pick::Index(*i), wanted, out, events).map(Some),
    }
}

/// Which real camera to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The system's first; none there is [`CameraError::NoneFound`].
    Default,
    /// By index (`confer devices` lists them); none there is [`CameraError::NotFound`].
    Index(u32),
}

/// A real camera (`confer devices` lists them).
pub fn start_camera(
    pick: Pick,
    wanted: VideoWanted,
    out: FrameSender,
    events: mpsc::SyncSender<CameraEvent>,
) -> std::io::Result<CameraHandle> {
    spawn_stoppable("camera", move |stop| {
        let end = match run_camera(pick, wanted, &out, &events, &stop) {
            Ok(()) => return,
            Err(e) => e,
        };
        tracing::warn!("camera stopped: {end}");
        let _ = events.try_send(CameraEvent::Stopped(end));
    })
}

fn classify(error: &nokhwa::NokhwaError) -> CameraError {
    let text = error.to_string();
    let lower = text.to_lowercase();
    if lower.contains("permission denied") || lower.contains("not authorized") {
        CameraError::PermissionDenied
    } else if lower.contains("busy") {
        CameraError::Busy
    } else if lower.contains("no such device") || lower.contains("no such file") {
        CameraError::Gone
    } else {
        CameraError::Failed(text)
    }
}

/// What opening a camera that is not there says: the device node is missing ("no such file"),
/// or the system says something else.
fn not_there(pick: Pick, opening: CameraError) -> CameraError {
    match (opening, pick) {
        (CameraError::Gone | CameraError::Failed(_), Pick::Default) => CameraError::NoneFound,
        (CameraError::Gone | CameraError::Failed(_), Pick::Index(index)) => {
            CameraError::NotFound(index.to_string())
        }
        (other, _) => other,
    }
}

fn run_camera(
    pick: Pick,
    wanted: VideoWanted,
    out: &FrameSender,
    events: &mpsc::SyncSender<CameraEvent>,
    stop: &AtomicBool,
) -> Result<(), CameraError> {
    use nokhwa::utils::{
        CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
    };

    let index = match pick {
        Pick::Default => 0,
        Pick::Index(index) => index,
    };
    let id = CameraIndex::Index(index);
    // Open with whatever it starts in, then look at everything it offers.
    let mut camera = nokhwa::Camera::new(
        id.clone(),
        RequestedFormat::new::<nokhwa::pixel_format::RgbFormat>(RequestedFormatType::None),
    )
    .map_err(|e| not_there(pick, classify(&e)))?;
    let offered: Vec<Offered> = camera
        .compatible_camera_formats()
        .map_err(|e| classify(&e))?
        .into_iter()
        .filter_map(|f| {
            let format = match f.format() {
                FrameFormat::MJPEG => PixelFormat::Mjpeg,
                FrameFormat::YUYV => PixelFormat::Yuyv,
                FrameFormat::NV12 => PixelFormat::Nv12,
                _ => return None,
            };
            Some(Offered {
                width: f.width(),
                height: f.height(),
                fps: f.frame_rate(),
                format,
            })
        })
        .collect();
    let chosen = choose_format(&offered, wanted).ok_or(CameraError::NoFormat)?;
    let format = match chosen.format {
        PixelFormat::Mjpeg => FrameFormat::MJPEG,
        PixelFormat::Yuyv => FrameFormat::YUYV,
        PixelFormat::Nv12 => FrameFormat::NV12,
    };
    // nokhwa's own "closest" search fails when the exact size is not offered; ask exactly.
    camera
        .set_camera_requset(RequestedFormat::new::<nokhwa::pixel_format::RgbFormat>(
            RequestedFormatType::Exact(CameraFormat::new(
                Resolution::new(chosen.width, chosen.height),
                format,
                chosen.fps,
            )),
        ))
        .map_err(|e| classify(&e))?;
    camera.open_stream().map_err(|e| classify(&e))?;
    let _ = events.try_send(CameraEvent::Started {
        name: camera.info().human_name(),
        width: chosen.width,
        height: chosen.height,
        fps: chosen.fps,
    });
    while !stop.load(Ordering::Relaxed) {
        let buffer = camera.frame().map_err(|e| match classify(&e) {
            CameraError::Failed(_) => CameraError::Gone,
            other => other,
        })?;
        let captured = SystemTime::now();
        let (w, h) = (chosen.width as usize, chosen.height as usize);
        let picture: Result<I420Frame, ConvertError> = match chosen.format {
            PixelFormat::Mjpeg => convert::mjpeg_to_i420(buffer.buffer()),
            PixelFormat::Yuyv => convert::yuyv_to_i420(buffer.buffer(), w, h),
            PixelFormat::Nv12 => convert::nv12_to_i420(buffer.buffer(), w, h),
        };
        match picture {
            Ok(mut picture) => {
                picture.captured = captured;
                out.send(picture);
            }
            Err(e) => {
                let _ = events.try_send(CameraEvent::BadFrame(e.to_string()));
            }
        }
    }
    let _ = camera.stop_stream();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn offer(width: u32, height: u32, fps: u32, format: PixelFormat) -> Offered {
        Offered {
            width,
            height,
            fps,
            format,
        }
    }

    #[test]
    fn the_closest_format_is_chosen() {
        let wanted = VideoWanted::default();
        let webcam = [
            offer(1920, 1080, 30, PixelFormat::Mjpeg),
            offer(1280, 720, 30, PixelFormat::Mjpeg),
            offer(1280, 720, 10, PixelFormat::Yuyv),
            offer(640, 480, 30, PixelFormat::Yuyv),
        ];
        // 720p at 30 only as MJPEG: smooth beats uncompressed.
        assert_eq!(choose_format(&webcam, wanted), Some(webcam[1]));
        // Equal size and rate: the cheaper conversion.
        let both = [
            offer(1280, 720, 30, PixelFormat::Mjpeg),
            offer(1280, 720, 30, PixelFormat::Nv12),
        ];
        assert_eq!(choose_format(&both, wanted), Some(both[1]));
        // No 720p: the next size up, not down.
        let odd = [
            offer(640, 480, 30, PixelFormat::Yuyv),
            offer(1600, 900, 30, PixelFormat::Mjpeg),
            offer(1920, 1080, 30, PixelFormat::Mjpeg),
        ];
        assert_eq!(choose_format(&odd, wanted), Some(odd[1]));
        // Only small ones: the largest.
        let small = [
            offer(320, 240, 30, PixelFormat::Yuyv),
            offer(640, 480, 30, PixelFormat::Yuyv),
        ];
        assert_eq!(choose_format(&small, wanted), Some(small[1]));
        assert_eq!(choose_format(&[], wanted), None);
    }

    #[test]
    fn camera_failures_get_reasons_people_can_act_on() {
        use nokhwa::NokhwaError;
        let denied = NokhwaError::OpenDeviceError(
            "0".into(),
            "V4L2 Error: Permission denied (os error 13)".into(),
        );
        assert_eq!(classify(&denied), CameraError::PermissionDenied);
        assert!(classify(&denied).to_string().contains("system settings"));
        let busy = NokhwaError::OpenStreamError("Device or resource busy".into());
        assert_eq!(classify(&busy), CameraError::Busy);
        let unplugged = NokhwaError::ReadFrameError("No such device (os error 19)".into());
        assert_eq!(classify(&unplugged), CameraError::Gone);
    }

    #[test]
    fn a_missing_camera_is_an_event_not_a_panic() {
        let (tx, _rx) = super::super::mailbox::frame_mailbox();
        let (events, reports) = camera_events();
        let handle = start_camera(Pick::Index(97), VideoWanted::default(), tx, events).unwrap();
        let event = reports.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(
            event,
            CameraEvent::Stopped(CameraError::NotFound("97".into()))
        );
        drop(handle);
    }

    /// With no camera at all, the default camera's device node is missing: that is "no camera
    /// was found" (the window's own sentence), not a camera that was disconnected.
    #[test]
    fn no_camera_at_all_is_said_as_such() {
        use nokhwa::NokhwaError;
        let missing = NokhwaError::OpenDeviceError(
            "0".into(),
            "V4L2 Error: No such file or directory (os error 2)".into(),
        );
        let default = not_there(Pick::Default, classify(&missing));
        assert_eq!(default, CameraError::NoneFound);
        assert_eq!(default.to_string(), "no camera was found");
        assert_eq!(default.problem(), DeviceProblem::Missing);
        let third = not_there(Pick::Index(2), classify(&missing));
        assert_eq!(third, CameraError::NotFound("2".into()));
        assert!(matches!(third.problem(), DeviceProblem::Failed(_)));
        // Denied access stays denied access, whichever camera.
        let denied = NokhwaError::OpenDeviceError("0".into(), "Permission denied".into());
        assert_eq!(
            not_there(Pick::Default, classify(&denied)),
            CameraError::PermissionDenied
        );
    }

    #[test]
    fn the_synthetic_camera_delivers_pictures_with_readable_stripes() {
        let (tx, rx) = super::super::mailbox::frame_mailbox();
        let (events, reports) = camera_events();
        let wanted = VideoWanted {
            width: 640,
            height: 360,
            fps: 30,
        };
        let handle = start_test_pattern(wanted, tx, events).unwrap();
        assert!(matches!(
            reports.recv_timeout(Duration::from_secs(5)).unwrap(),
            CameraEvent::Started { width: 640, .. }
        ));
        let mut counters = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while counters.len() < 5 && Instant::now() < deadline {
            if let Some(f) = rx.take() {
                let stripe = super::super::pattern::read_stripe(f.y(), 640, 360, 640).unwrap();
                counters.push(stripe.counter);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(handle);
        assert_eq!(counters.len(), 5);
        assert!(counters.windows(2).all(|w| w[1] > w[0]), "{counters:?}");
    }
}
