//! Screens and windows to share on macOS: CoreGraphics' lists and pictures, from
//! platform/macos (`confer_macos::screen`), made into the shareables and I420 pictures the
//! share thread takes. Like GDI, CoreGraphics says nothing of what changed, so each picture is
//! compared with the last.
//!
//! This file is built only for macOS, which this project cannot build or run on its Linux
//! machines: platform/macos is checked for both Apple targets there, this glue is not.

use confer_macos::screen::{self as cg, Picture, WindowState};

use super::super::convert::bgrx_to_i420;
use super::super::frame::I420Frame;
use super::{ScreenError, ShareTarget, Shareable};

/// macOS's Screen Recording permission: asked for once, and a sentence until it is given.
fn permission() -> Result<(), ScreenError> {
    if cg::may_record_screen() || cg::ask_to_record_screen() {
        Ok(())
    } else {
        Err(ScreenError::Refused(
            "macOS has not allowed Confer to record the screen: allow it in System Settings, \
             Privacy & Security, Screen Recording, then share again"
                .into(),
        ))
    }
}

/// The displays, then the windows.
pub fn shareables(_display: Option<&str>) -> Result<Vec<Shareable>, ScreenError> {
    let mut found: Vec<Shareable> = cg::displays()
        .map_err(ScreenError::Refused)?
        .into_iter()
        .filter_map(|d| {
            Some(Shareable {
                target: ShareTarget::Screen {
                    x: i16::try_from(d.x).ok()?,
                    y: i16::try_from(d.y).ok()?,
                    width: u16::try_from(d.width).ok()?,
                    height: u16::try_from(d.height).ok()?,
                },
                name: d.name,
                width: d.width,
                height: d.height,
            })
        })
        .collect();
    found.extend(cg::windows().into_iter().map(|w| Shareable {
        target: ShareTarget::Window(w.id),
        name: w.title,
        width: w.width,
        height: w.height,
    }));
    Ok(found)
}

/// Pictures of a display's area or of a window, given when they changed.
pub struct ScreenCapture {
    target: ShareTarget,
    /// The last picture's pixels, to tell whether the next one changed.
    last: Vec<u8>,
}

impl ScreenCapture {
    /// Pictures of `target` (the display argument is X11's).
    pub fn open(_display: Option<&str>, target: ShareTarget) -> Result<Self, ScreenError> {
        permission()?;
        if let ShareTarget::Window(id) = target
            && cg::window_state(id) == WindowState::Gone
        {
            return Err(ScreenError::Gone);
        }
        Ok(Self {
            target,
            last: Vec::new(),
        })
    }

    /// The next picture if it differs from the last one (the first is always given), or None
    /// (also while a shared window is off screen: the share waits for it).
    pub fn next_if_changed(&mut self) -> Result<Option<I420Frame>, ScreenError> {
        match self.read() {
            Err(ScreenError::Hidden) => Ok(None),
            other => other,
        }
    }

    /// A picture now, changed or not.
    pub fn grab(&mut self) -> Result<I420Frame, ScreenError> {
        self.last.clear();
        self.read()?
            .ok_or_else(|| ScreenError::Refused("the screen gave no picture".into()))
    }

    fn read(&mut self) -> Result<Option<I420Frame>, ScreenError> {
        let captured = std::time::SystemTime::now();
        let picture = match self.target {
            ShareTarget::Screen {
                x,
                y,
                width,
                height,
            } => cg::picture_of_area(
                i32::from(x),
                i32::from(y),
                u32::from(width),
                u32::from(height),
            )
            .map_err(ScreenError::Refused)?,
            ShareTarget::Window(id) => match cg::picture_of_window(id) {
                Ok(Some(picture)) => picture,
                Ok(None) if cg::window_state(id) == WindowState::Gone => {
                    return Err(ScreenError::Gone);
                }
                Ok(None) => return Err(ScreenError::Hidden),
                Err(e) => return Err(ScreenError::Refused(e)),
            },
        };
        if picture.bgra == self.last {
            return Ok(None);
        }
        let frame = to_i420(&picture, captured)?;
        self.last = picture.bgra;
        Ok(Some(frame))
    }
}

/// The picture as I420, cut to even sizes (4:2:0 pictures come in pairs of pixels).
fn to_i420(picture: &Picture, captured: std::time::SystemTime) -> Result<I420Frame, ScreenError> {
    let (width, height) = (picture.width & !1, picture.height & !1);
    let mut frame = bgrx_to_i420(&picture.bgra, width, height, picture.stride)
        .map_err(|e| ScreenError::Unsupported(e.to_string()))?;
    frame.captured = captured;
    Ok(frame)
}
