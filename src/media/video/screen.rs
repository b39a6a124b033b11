//! Screens and windows to share, and their pictures.
//!
//! On X11 through x11rb (the protocol in Rust: nothing to install, nothing to load): screens are
//! RandR's monitors, windows the window manager's list (`_NET_CLIENT_LIST`) or, with no window
//! manager, the root's mapped children that have a name. A capture asks for the pixels only
//! when the Damage extension says something changed: a screen at rest costs nothing, and the
//! encoder gets no picture to spend bits on. On Windows through GDI (`screen_gdi.rs`), on macOS
//! through CoreGraphics (`screen_quartz.rs`, over platform/macos). Wayland (the desktop portal
//! and PipeWire) is not built yet: [`shareables`] says so in a sentence.

use thiserror::Error;

use super::frame::RgbaImage;

/// Something that can be shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shareable {
    pub target: ShareTarget,
    /// What the picker shows: the monitor's name or the window's title.
    pub name: String,
    pub width: u32,
    pub height: u32,
}

impl Shareable {
    /// What `confer devices` lists and `--share` takes: `screen:N` (the Nth screen, from 1)
    /// or `window:0xID` (the X window id).
    pub fn id(&self, screen_number: usize) -> String {
        match self.target {
            ShareTarget::Screen { .. } => format!("screen:{screen_number}"),
            ShareTarget::Window(id) => format!("window:{id:#x}"),
        }
    }
}

/// Each shareable with its id (see [`Shareable::id`]).
pub fn with_ids(found: &[Shareable]) -> Vec<(String, &Shareable)> {
    let mut screens = 0;
    found
        .iter()
        .map(|s| {
            if matches!(s.target, ShareTarget::Screen { .. }) {
                screens += 1;
            }
            (s.id(screens), s)
        })
        .collect()
}

/// The shareable `id` names among `found`: `screen` alone is the first screen.
pub fn find(found: &[Shareable], id: &str) -> Option<Shareable> {
    let id = if id == "screen" { "screen:1" } else { id };
    let wanted = id.to_ascii_lowercase();
    with_ids(found)
        .into_iter()
        .find(|(each, _)| *each == wanted)
        .map(|(_, s)| s.clone())
}

/// Where a share's pictures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShareTarget {
    /// A monitor: its area of the desktop.
    Screen {
        x: i16,
        y: i16,
        width: u16,
        height: u16,
    },
    /// One window, by its X id (it follows the window when it moves or is resized).
    Window(u32),
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ScreenError {
    #[error("cannot reach the display: {0}")]
    NoDisplay(String),
    #[error("the display refused: {0}")]
    Refused(String),
    #[error("the shared window is gone")]
    Gone,
    #[error("the shared window is not on the screen (minimized or hidden)")]
    Hidden,
    #[error("{0}")]
    Unsupported(String),
}

#[cfg(target_os = "linux")]
pub use x11::{ScreenCapture, shareables};

#[cfg(windows)]
pub use gdi::{ScreenCapture, shareables};

#[cfg(target_os = "macos")]
pub use quartz::{ScreenCapture, shareables};

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
pub use elsewhere::{ScreenCapture, shareables};

/// A picture of `target` that fits `max` (width, height), for the picker.
pub fn thumbnail(
    display: Option<&str>,
    target: ShareTarget,
    max: (usize, usize),
) -> Result<RgbaImage, ScreenError> {
    let mut capture = ScreenCapture::open(display, target)?;
    let frame = capture.grab()?;
    Ok(fit_rgba(&frame.to_rgba(), max))
}

/// A smaller copy of `picture` that fits `max` (width, height), keeping its shape: each pixel
/// the mean of the block it stands for.
pub fn fit_rgba(picture: &RgbaImage, (max_w, max_h): (usize, usize)) -> RgbaImage {
    let scale = (picture.width.div_ceil(max_w.max(1)))
        .max(picture.height.div_ceil(max_h.max(1)))
        .max(1);
    let (width, height) = (picture.width / scale, picture.height / scale);
    if width == 0 || height == 0 {
        return RgbaImage {
            width: 0,
            height: 0,
            pixels: Vec::new(),
        };
    }
    let mut pixels = vec![0u8; width * height * 4];
    for (row, line) in pixels.chunks_exact_mut(width * 4).enumerate() {
        for (col, px) in line.chunks_exact_mut(4).enumerate() {
            let mut sum = [0u32; 4];
            for y in row * scale..(row + 1) * scale {
                let start = (y * picture.width + col * scale) * 4;
                for source in picture.pixels[start..start + scale * 4].chunks_exact(4) {
                    for (s, v) in sum.iter_mut().zip(source) {
                        *s += u32::from(*v);
                    }
                }
            }
            let n = (scale * scale) as u32;
            for (p, s) in px.iter_mut().zip(sum) {
                *p = ((s + n / 2) / n) as u8;
            }
        }
    }
    RgbaImage {
        width,
        height,
        pixels,
    }
}

#[cfg(target_os = "linux")]
#[path = "screen_x11_shm.rs"]
mod x11_shm;

#[cfg(target_os = "linux")]
mod x11 {
    use x11rb::connection::{Connection, RequestConnection};
    use x11rb::protocol::Event;
    use x11rb::protocol::damage::{self, ConnectionExt as _};
    use x11rb::protocol::randr::ConnectionExt as _;
    use x11rb::protocol::xproto::{
        AtomEnum, ChangeWindowAttributesAux, ConnectionExt as _, EventMask, ImageFormat,
        ImageOrder, MapState, Window,
    };
    use x11rb::rust_connection::RustConnection;

    use super::super::convert::bgrx_to_i420;
    use super::super::frame::I420Frame;
    use super::{ScreenError, ShareTarget, Shareable};

    use super::x11_shm::SharedImage;

    fn connect(display: Option<&str>) -> Result<(RustConnection, Window), ScreenError> {
        if display.is_none() {
            // In a Wayland session DISPLAY names XWayland, whose root shows none of the
            // Wayland windows: a share of it would be black.
            let why = if std::env::var_os("WAYLAND_DISPLAY").is_some() {
                Some(
                    "this is a Wayland session, and sharing through the desktop portal is not \
                     built yet",
                )
            } else if std::env::var_os("DISPLAY").is_none() {
                Some("no X display (DISPLAY is not set)")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(ScreenError::Unsupported(format!(
                    "cannot share the screen: {why}"
                )));
            }
        }
        let (conn, screen) =
            x11rb::connect(display).map_err(|e| ScreenError::NoDisplay(e.to_string()))?;
        let root = conn
            .setup()
            .roots
            .get(screen)
            .map(|s| s.root)
            .ok_or_else(|| ScreenError::NoDisplay(format!("no screen {screen}")))?;
        Ok((conn, root))
    }

    fn refused(e: impl std::fmt::Display) -> ScreenError {
        ScreenError::Refused(e.to_string())
    }

    /// The screens (RandR monitors, or the whole desktop when RandR has none) and the windows
    /// that can be shared, on `display` (None: the session's, `DISPLAY`).
    pub fn shareables(display: Option<&str>) -> Result<Vec<Shareable>, ScreenError> {
        let (conn, root) = connect(display)?;
        let mut found = screens(&conn, root)?;
        found.extend(windows(&conn, root)?);
        Ok(found)
    }

    fn screens(conn: &RustConnection, root: Window) -> Result<Vec<Shareable>, ScreenError> {
        let mut found = Vec::new();
        let monitors = conn
            .randr_get_monitors(root, true)
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|r| r.monitors)
            .unwrap_or_default();
        for (i, m) in monitors.iter().enumerate() {
            let name = conn
                .get_atom_name(m.name)
                .ok()
                .and_then(|c| c.reply().ok())
                .map(|r| String::from_utf8_lossy(&r.name).into_owned())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("Screen {}", i + 1));
            found.push(Shareable {
                target: ShareTarget::Screen {
                    x: m.x,
                    y: m.y,
                    width: m.width,
                    height: m.height,
                },
                name,
                width: u32::from(m.width),
                height: u32::from(m.height),
            });
        }
        if found.is_empty() {
            let geometry = conn
                .get_geometry(root)
                .map_err(refused)?
                .reply()
                .map_err(refused)?;
            found.push(Shareable {
                target: ShareTarget::Screen {
                    x: 0,
                    y: 0,
                    width: geometry.width,
                    height: geometry.height,
                },
                name: "Screen 1".into(),
                width: u32::from(geometry.width),
                height: u32::from(geometry.height),
            });
        }
        Ok(found)
    }

    fn windows(conn: &RustConnection, root: Window) -> Result<Vec<Shareable>, ScreenError> {
        let atom = |name: &[u8]| -> Result<u32, ScreenError> {
            Ok(conn
                .intern_atom(false, name)
                .map_err(refused)?
                .reply()
                .map_err(refused)?
                .atom)
        };
        let client_list = atom(b"_NET_CLIENT_LIST")?;
        let managed: Vec<Window> = conn
            .get_property(false, root, client_list, AtomEnum::WINDOW, 0, 4096)
            .map_err(refused)?
            .reply()
            .ok()
            .and_then(|r| r.value32().map(|v| v.collect()))
            .unwrap_or_default();
        let candidates = if managed.is_empty() {
            // No window manager: the top-level windows are the root's children.
            conn.query_tree(root)
                .map_err(refused)?
                .reply()
                .map_err(refused)?
                .children
        } else {
            managed
        };
        let (net_wm_name, utf8) = (atom(b"_NET_WM_NAME")?, atom(b"UTF8_STRING")?);
        let mut found = Vec::new();
        for window in candidates {
            // A window may go while we look: it is left out.
            let Some(attributes) = conn
                .get_window_attributes(window)
                .ok()
                .and_then(|c| c.reply().ok())
            else {
                continue;
            };
            if attributes.map_state != MapState::VIEWABLE || attributes.override_redirect {
                continue;
            }
            let Some(name) = title(conn, window, net_wm_name, utf8) else {
                continue;
            };
            let Some(geometry) = conn.get_geometry(window).ok().and_then(|c| c.reply().ok()) else {
                continue;
            };
            found.push(Shareable {
                target: ShareTarget::Window(window),
                name,
                width: u32::from(geometry.width),
                height: u32::from(geometry.height),
            });
        }
        Ok(found)
    }

    /// A window's title: EWMH's UTF-8 name, else the older Latin-1 `WM_NAME`.
    fn title(conn: &RustConnection, window: Window, net_wm_name: u32, utf8: u32) -> Option<String> {
        let read = |property: u32, kind: u32| {
            conn.get_property(false, window, property, kind, 0, 1024)
                .ok()?
                .reply()
                .ok()
                .map(|r| r.value)
                .filter(|v| !v.is_empty())
        };
        if let Some(bytes) = read(net_wm_name, utf8) {
            return Some(String::from_utf8_lossy(&bytes).into_owned());
        }
        read(AtomEnum::WM_NAME.into(), AtomEnum::STRING.into())
            .map(|bytes| bytes.iter().map(|&b| char::from(b)).collect())
    }

    /// Pictures of a screen or a window, taken when it changed.
    pub struct ScreenCapture {
        conn: RustConnection,
        target: ShareTarget,
        /// Pictures are read from the root window (see `window_area`).
        root: Window,
        /// The Damage object watching the drawable; None when the server has no Damage (then
        /// every call takes a picture).
        damage: Option<damage::Damage>,
        /// Whether something changed since the last picture (the first is always taken).
        changed: bool,
        /// Where the server writes pictures (MIT-SHM), the root window's size; None where it
        /// cannot, and pictures come down the socket.
        shared: Option<SharedImage>,
    }

    impl ScreenCapture {
        /// Pictures of `target` on `display` (None: the session's).
        pub fn open(display: Option<&str>, target: ShareTarget) -> Result<Self, ScreenError> {
            let (conn, root) = connect(display)?;
            let drawable = match target {
                ShareTarget::Screen { .. } => root,
                ShareTarget::Window(window) => {
                    // Told when it moves, is resized, hidden, shown or closed.
                    let events =
                        ChangeWindowAttributesAux::new().event_mask(EventMask::STRUCTURE_NOTIFY);
                    conn.change_window_attributes(window, &events)
                        .map_err(refused)?
                        .check()
                        .map_err(|_| ScreenError::Gone)?;
                    window
                }
            };
            let damage = if conn
                .extension_information(damage::X11_EXTENSION_NAME)
                .map_err(refused)?
                .is_some()
            {
                conn.damage_query_version(1, 1)
                    .map_err(refused)?
                    .reply()
                    .map_err(refused)?;
                let id = conn.generate_id().map_err(refused)?;
                conn.damage_create(id, drawable, damage::ReportLevel::NON_EMPTY)
                    .map_err(refused)?
                    .check()
                    .map_err(refused)?;
                Some(id)
            } else {
                None
            };
            let root_size = conn
                .get_geometry(root)
                .map_err(refused)?
                .reply()
                .map_err(refused)?;
            let bytes = usize::from(root_size.width) * usize::from(root_size.height) * 4;
            let shared = SharedImage::new(&conn, bytes);
            Ok(Self {
                conn,
                target,
                root,
                damage,
                changed: true,
                shared,
            })
        }

        /// Whether pictures come through shared memory (MIT-SHM) rather than the socket.
        pub fn uses_shared_memory(&self) -> bool {
            self.shared.is_some()
        }

        /// The next picture if what is shared changed since the last one (the first is always
        /// taken), or None: a screen at rest costs one look at the event queue.
        pub fn next_if_changed(&mut self) -> Result<Option<I420Frame>, ScreenError> {
            let mut gone = false;
            while let Some(event) = self.conn.poll_for_event().map_err(refused)? {
                match event {
                    // What it shows changed, or where it is (a window moved, resized, shown).
                    Event::DamageNotify(_) | Event::ConfigureNotify(_) | Event::MapNotify(_) => {
                        self.changed = true
                    }
                    Event::DestroyNotify(_) => gone = true,
                    _ => {}
                }
            }
            if gone {
                return Err(ScreenError::Gone);
            }
            if !self.changed && self.damage.is_some() {
                return Ok(None);
            }
            match self.grab() {
                Ok(picture) => Ok(Some(picture)),
                // A hidden window pauses the share: its picture is taken again when it is
                // shown.
                Err(ScreenError::Hidden) => {
                    self.changed = true;
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        }

        /// A picture now, changed or not.
        pub fn grab(&mut self) -> Result<I420Frame, ScreenError> {
            if let Some(damage) = self.damage {
                // Cleared before the picture is taken: a change while it is taken is noticed
                // next time.
                self.conn
                    .damage_subtract(damage, x11rb::NONE, x11rb::NONE)
                    .map_err(refused)?;
            }
            self.changed = false;
            let (x, y, width, height) = match self.target {
                ShareTarget::Screen {
                    x,
                    y,
                    width,
                    height,
                } => (x, y, width, height),
                ShareTarget::Window(window) => self.window_area(window)?,
            };
            if width < 2 || height < 2 {
                return Err(ScreenError::Unsupported(format!(
                    "nothing to share in a {width}x{height} area"
                )));
            }
            let captured = std::time::SystemTime::now();
            let shared = match &self.shared {
                Some(segment) => segment
                    .get(&self.conn, self.root, (x, y), (width, height))
                    .map_err(refused)?,
                None => None,
            };
            let socket_reply;
            let (data, depth, visual) = match shared {
                Some(picture) => (picture.data, picture.depth, picture.visual),
                None => {
                    socket_reply = self
                        .conn
                        .get_image(ImageFormat::Z_PIXMAP, self.root, x, y, width, height, !0)
                        .map_err(refused)?
                        .reply()
                        .map_err(refused)?;
                    (
                        socket_reply.data.as_slice(),
                        socket_reply.depth,
                        socket_reply.visual,
                    )
                }
            };
            self.check_layout(depth, visual)?;
            let (width, height) = (usize::from(width), usize::from(height));
            let mut frame = bgrx_to_i420(data, width, height, width * 4)
                .map_err(|e| ScreenError::Unsupported(e.to_string()))?;
            frame.captured = captured;
            Ok(frame)
        }

        /// Where `window` is on the screen, as much of it as the screen shows. Its pixels are
        /// read from the screen (what people see there, a window on top included): reading
        /// the window itself fails when part of it is off screen.
        fn window_area(&self, window: Window) -> Result<(i16, i16, u16, u16), ScreenError> {
            let gone = |_| ScreenError::Gone;
            let attributes = self
                .conn
                .get_window_attributes(window)
                .map_err(refused)?
                .reply()
                .map_err(gone)?;
            if attributes.map_state != MapState::VIEWABLE {
                return Err(ScreenError::Hidden);
            }
            let geometry = self
                .conn
                .get_geometry(window)
                .map_err(refused)?
                .reply()
                .map_err(gone)?;
            let at = self
                .conn
                .translate_coordinates(window, self.root, 0, 0)
                .map_err(refused)?
                .reply()
                .map_err(gone)?;
            let screen = self
                .conn
                .get_geometry(self.root)
                .map_err(refused)?
                .reply()
                .map_err(refused)?;
            let clip = |start: i16, length: u16, limit: u16| {
                let from = i32::from(start).max(0);
                let to = (i32::from(start) + i32::from(length)).min(i32::from(limit));
                (from, (to - from).max(0))
            };
            let (x, width) = clip(at.dst_x, geometry.width, screen.width);
            let (y, height) = clip(at.dst_y, geometry.height, screen.height);
            // Even sizes: 4:2:0 pictures come in pairs of pixels.
            Ok((
                x as i16,
                y as i16,
                (width & !1) as u16,
                (height & !1) as u16,
            ))
        }

        /// Whether the picture's pixels are 32-bit blue-green-red-unused, the layout of every
        /// 24- and 32-bit X server on a little-endian machine; others are refused by name.
        fn check_layout(&self, depth: u8, visual: u32) -> Result<(), ScreenError> {
            let setup = self.conn.setup();
            let bits = setup
                .pixmap_formats
                .iter()
                .find(|f| f.depth == depth)
                .map(|f| (f.bits_per_pixel, f.scanline_pad));
            let masks = setup
                .roots
                .iter()
                .flat_map(|s| &s.allowed_depths)
                .flat_map(|d| &d.visuals)
                .find(|v| v.visual_id == visual)
                .map(|v| (v.red_mask, v.green_mask, v.blue_mask));
            let ok = bits == Some((32, 32))
                && setup.image_byte_order == ImageOrder::LSB_FIRST
                && masks.is_none_or(|m| m == (0xff0000, 0xff00, 0xff));
            if ok {
                Ok(())
            } else {
                Err(ScreenError::Unsupported(format!(
                    "a {depth}-bit display with pixels {bits:?} bits, masks {masks:?}: only \
                     32-bit BGRX is supported"
                )))
            }
        }
    }
}

#[cfg(windows)]
#[path = "screen_gdi.rs"]
mod gdi;

#[cfg(target_os = "macos")]
#[path = "screen_quartz.rs"]
mod quartz;

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
mod elsewhere {
    use super::super::frame::I420Frame;
    use super::{ScreenError, ShareTarget, Shareable};

    fn not_yet() -> ScreenError {
        ScreenError::Unsupported("sharing the screen is not built for this system yet".into())
    }

    pub fn shareables(_: Option<&str>) -> Result<Vec<Shareable>, ScreenError> {
        Err(not_yet())
    }

    pub struct ScreenCapture;

    impl ScreenCapture {
        pub fn open(_: Option<&str>, _: ShareTarget) -> Result<Self, ScreenError> {
            Err(not_yet())
        }

        pub fn next_if_changed(&mut self) -> Result<Option<I420Frame>, ScreenError> {
            Err(not_yet())
        }

        pub fn grab(&mut self) -> Result<I420Frame, ScreenError> {
            Err(not_yet())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shareables_have_ids_people_can_type() {
        let screen = |x| Shareable {
            target: ShareTarget::Screen {
                x,
                y: 0,
                width: 800,
                height: 600,
            },
            name: "DP-1".into(),
            width: 800,
            height: 600,
        };
        let window = Shareable {
            target: ShareTarget::Window(0x40_0003),
            name: "Notes".into(),
            width: 300,
            height: 200,
        };
        let found = [screen(0), window.clone(), screen(800)];
        let ids: Vec<String> = with_ids(&found).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["screen:1", "window:0x400003", "screen:2"]);
        assert_eq!(find(&found, "screen"), Some(screen(0)));
        assert_eq!(find(&found, "screen:2"), Some(screen(800)));
        assert_eq!(find(&found, "WINDOW:0X400003"), Some(window));
        assert_eq!(find(&found, "screen:3"), None);
        assert_eq!(find(&found, "window:12"), None);
    }

    #[test]
    fn a_thumbnail_keeps_the_shape_and_averages_blocks() {
        // 4x2: left half white, right half black.
        let mut pixels = Vec::new();
        for _ in 0..2 {
            pixels.extend_from_slice(
                &[[255u8; 4], [255; 4], [0, 0, 0, 255], [0, 0, 0, 255]].concat(),
            );
        }
        let picture = RgbaImage {
            width: 4,
            height: 2,
            pixels,
        };
        let small = fit_rgba(&picture, (2, 2));
        assert_eq!((small.width, small.height), (2, 1));
        assert_eq!(small.pixels, [255, 255, 255, 255, 0, 0, 0, 255]);
        // Already small enough: the same size.
        assert_eq!(fit_rgba(&picture, (10, 10)), picture);
    }
}
