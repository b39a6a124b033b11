//! Screens and windows to share on Windows, through GDI: monitors from `EnumDisplayMonitors`,
//! windows as Alt+Tab lists them (visible, titled, not owned, not tool windows), pictures read
//! from the screen with `BitBlt` into a DIB section kept between pictures.
//!
//! GDI tells nothing of what changed, so a picture is compared with the one before: a screen at
//! rest still costs a read of the screen and a comparison, but the encoder gets no picture to
//! spend bits on. A window is read where it is on the screen (what people see there, a window
//! on top included), as on X11. Coordinates are the virtual screen's; a process that is not
//! DPI-aware (the window app is: winit makes it so) sees them scaled, and its picture with them.

use windows_sys::Win32::Foundation::{HWND, LPARAM, RECT};
use windows_sys::Win32::Graphics::Gdi::{
    BI_RGB, BITMAPINFO, BITMAPINFOHEADER, BitBlt, CAPTUREBLT, CreateCompatibleDC, CreateDIBSection,
    DIB_RGB_COLORS, DeleteDC, DeleteObject, EnumDisplayMonitors, GdiFlush, GetDC, GetMonitorInfoW,
    HBITMAP, HDC, HGDIOBJ, HMONITOR, MONITORINFO, MONITORINFOEXW, ReleaseDC, SRCCOPY, SelectObject,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    EnumWindows, GW_OWNER, GWL_EXSTYLE, GetSystemMetrics, GetWindow, GetWindowLongW, GetWindowRect,
    GetWindowTextLengthW, GetWindowTextW, IsIconic, IsWindow, IsWindowVisible, SM_CXVIRTUALSCREEN,
    SM_CYVIRTUALSCREEN, SM_XVIRTUALSCREEN, SM_YVIRTUALSCREEN, WS_EX_TOOLWINDOW,
};

use super::super::convert::bgrx_to_i420;
use super::super::frame::I420Frame;
use super::{ScreenError, ShareTarget, Shareable};

/// A window handle as [`ShareTarget::Window`] keeps it: Windows keeps handles within 32 bits
/// (sign-extended in a 64-bit process) so that 32- and 64-bit programs can share them.
fn window_id(hwnd: HWND) -> u32 {
    hwnd as isize as u32
}

fn hwnd(id: u32) -> HWND {
    id as i32 as isize as HWND
}

fn refused(what: &str) -> ScreenError {
    ScreenError::Refused(format!(
        "{what} failed: {}",
        std::io::Error::last_os_error()
    ))
}

/// The screens, then the windows.
pub fn shareables(_display: Option<&str>) -> Result<Vec<Shareable>, ScreenError> {
    let mut found = screens()?;
    found.extend(windows());
    Ok(found)
}

fn screens() -> Result<Vec<Shareable>, ScreenError> {
    unsafe extern "system" fn each(monitor: HMONITOR, _: HDC, _: *mut RECT, data: LPARAM) -> i32 {
        // SAFETY: `data` is the Vec that `screens` lent for this enumeration.
        let found = unsafe { &mut *(data as *mut Vec<Shareable>) };
        let mut info = MONITORINFOEXW::default();
        info.monitorInfo.cbSize = std::mem::size_of::<MONITORINFOEXW>() as u32;
        // SAFETY: cbSize says the structure is the larger MONITORINFOEXW.
        let ok = unsafe { GetMonitorInfoW(monitor, (&raw mut info).cast::<MONITORINFO>()) };
        if ok != 0 {
            let r = info.monitorInfo.rcMonitor;
            let device = String::from_utf16_lossy(&info.szDevice);
            let name = device.trim_end_matches('\0').trim_start_matches(r"\\.\");
            if let Some(target) = screen_target(r) {
                found.push(Shareable {
                    target,
                    name: name.to_string(),
                    width: (r.right - r.left) as u32,
                    height: (r.bottom - r.top) as u32,
                });
            }
        }
        1
    }
    let mut found: Vec<Shareable> = Vec::new();
    // SAFETY: the callback uses `found` only during the call.
    let ok = unsafe {
        EnumDisplayMonitors(
            std::ptr::null_mut(),
            std::ptr::null(),
            Some(each),
            (&raw mut found) as LPARAM,
        )
    };
    if ok == 0 && found.is_empty() {
        return Err(refused("listing the screens"));
    }
    Ok(found)
}

/// A monitor's rectangle as a share target, when it fits one.
fn screen_target(r: RECT) -> Option<ShareTarget> {
    Some(ShareTarget::Screen {
        x: i16::try_from(r.left).ok()?,
        y: i16::try_from(r.top).ok()?,
        width: u16::try_from(r.right - r.left).ok()?,
        height: u16::try_from(r.bottom - r.top).ok()?,
    })
}

fn windows() -> Vec<Shareable> {
    unsafe extern "system" fn each(window: HWND, data: LPARAM) -> i32 {
        // SAFETY: `data` is the Vec that `windows` lent for this enumeration.
        let found = unsafe { &mut *(data as *mut Vec<Shareable>) };
        if let Some(shareable) = listed(window) {
            found.push(shareable);
        }
        1
    }
    let mut found: Vec<Shareable> = Vec::new();
    // SAFETY: the callback uses `found` only during the call.
    unsafe { EnumWindows(Some(each), (&raw mut found) as LPARAM) };
    found
}

/// A top-level window as the picker lists it, or None for one that Alt+Tab would not show.
fn listed(window: HWND) -> Option<Shareable> {
    // SAFETY: plain queries of a window handle; a stale one makes them fail, nothing more.
    unsafe {
        if IsWindowVisible(window) == 0 || !GetWindow(window, GW_OWNER).is_null() {
            return None;
        }
        if GetWindowLongW(window, GWL_EXSTYLE) as u32 & WS_EX_TOOLWINDOW != 0 {
            return None;
        }
    }
    let name = title(window)?;
    let mut r = RECT::default();
    // SAFETY: `r` is a RECT to fill.
    if unsafe { GetWindowRect(window, &mut r) } == 0 || r.right <= r.left || r.bottom <= r.top {
        return None;
    }
    Some(Shareable {
        target: ShareTarget::Window(window_id(window)),
        name,
        width: (r.right - r.left) as u32,
        height: (r.bottom - r.top) as u32,
    })
}

fn title(window: HWND) -> Option<String> {
    // SAFETY: the buffer's length is given with it.
    let length = unsafe { GetWindowTextLengthW(window) };
    if length <= 0 {
        return None;
    }
    let mut text = vec![0u16; length as usize + 1];
    // SAFETY: as above.
    let copied = unsafe { GetWindowTextW(window, text.as_mut_ptr(), text.len() as i32) };
    let name = String::from_utf16_lossy(&text[..copied.max(0) as usize]);
    (!name.trim().is_empty()).then_some(name)
}

/// Pictures of a screen or a window, given when they changed.
pub struct ScreenCapture {
    target: ShareTarget,
    /// Made at the first picture, on the share's own thread, and again when the size changes.
    surface: Option<Surface>,
    /// The last picture's pixels (BGRX), to tell whether the next one changed.
    last: Vec<u8>,
}

impl ScreenCapture {
    /// Pictures of `target` (the display argument is X11's; Windows has one desktop).
    pub fn open(_display: Option<&str>, target: ShareTarget) -> Result<Self, ScreenError> {
        if let ShareTarget::Window(id) = target {
            // SAFETY: a query of a handle that may be stale.
            if unsafe { IsWindow(hwnd(id)) } == 0 {
                return Err(ScreenError::Gone);
            }
        }
        Ok(Self {
            target,
            surface: None,
            last: Vec::new(),
        })
    }

    /// The next picture if it differs from the last one (the first is always given), or None.
    pub fn next_if_changed(&mut self) -> Result<Option<I420Frame>, ScreenError> {
        match self.read() {
            Ok(None) => Ok(None),
            Ok(Some(frame)) => Ok(Some(frame)),
            // A minimized window pauses the share until it is back.
            Err(ScreenError::Hidden) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A picture now, changed or not.
    pub fn grab(&mut self) -> Result<I420Frame, ScreenError> {
        self.last.clear();
        self.read()?
            .ok_or_else(|| ScreenError::Refused("the screen gave no picture".into()))
    }

    fn read(&mut self) -> Result<Option<I420Frame>, ScreenError> {
        let (x, y, width, height) = match self.target {
            ShareTarget::Screen {
                x,
                y,
                width,
                height,
            } => (
                i32::from(x),
                i32::from(y),
                i32::from(width),
                i32::from(height),
            ),
            ShareTarget::Window(id) => window_area(hwnd(id))?,
        };
        // Even sizes: 4:2:0 pictures come in pairs of pixels.
        let (width, height) = (width & !1, height & !1);
        if width < 2 || height < 2 {
            return Err(ScreenError::Unsupported(format!(
                "nothing to share in a {width}x{height} area"
            )));
        }
        if self
            .surface
            .as_ref()
            .is_none_or(|s| (s.width, s.height) != (width, height))
        {
            self.surface = None; // the old one goes first
            self.surface = Some(Surface::new(width, height)?);
        }
        let Some(surface) = self.surface.as_ref() else {
            return Ok(None);
        };
        let captured = std::time::SystemTime::now();
        let pixels = surface.copy_from_screen(x, y)?;
        if pixels == self.last.as_slice() {
            return Ok(None);
        }
        self.last.clear();
        self.last.extend_from_slice(pixels);
        let (w, h) = (width as usize, height as usize);
        let mut frame = bgrx_to_i420(pixels, w, h, w * 4)
            .map_err(|e| ScreenError::Unsupported(e.to_string()))?;
        frame.captured = captured;
        Ok(Some(frame))
    }
}

/// Where `window` is, as much of it as the virtual screen shows.
fn window_area(window: HWND) -> Result<(i32, i32, i32, i32), ScreenError> {
    // SAFETY: plain queries of a handle that may be stale.
    unsafe {
        if IsWindow(window) == 0 {
            return Err(ScreenError::Gone);
        }
        if IsIconic(window) != 0 || IsWindowVisible(window) == 0 {
            return Err(ScreenError::Hidden);
        }
    }
    let mut r = RECT::default();
    // SAFETY: `r` is a RECT to fill.
    if unsafe { GetWindowRect(window, &mut r) } == 0 {
        return Err(ScreenError::Gone);
    }
    // SAFETY: plain queries.
    let (sx, sy, sw, sh) = unsafe {
        (
            GetSystemMetrics(SM_XVIRTUALSCREEN),
            GetSystemMetrics(SM_YVIRTUALSCREEN),
            GetSystemMetrics(SM_CXVIRTUALSCREEN),
            GetSystemMetrics(SM_CYVIRTUALSCREEN),
        )
    };
    let (left, top) = (r.left.max(sx), r.top.max(sy));
    let (right, bottom) = (r.right.min(sx + sw), r.bottom.min(sy + sh));
    Ok((left, top, (right - left).max(0), (bottom - top).max(0)))
}

/// A memory device context with a top-down 32-bit DIB section selected into it: BitBlt from
/// the screen writes its pixels where this process can read them.
struct Surface {
    dc: HDC,
    bitmap: HBITMAP,
    previous: HGDIOBJ,
    bits: *const u8,
    width: i32,
    height: i32,
}

// SAFETY: a memory DC and a DIB section belong to the process, not to the thread that made
// them; the surface is moved to the share's thread and used there alone.
unsafe impl Send for Surface {}

impl Surface {
    fn new(width: i32, height: i32) -> Result<Self, ScreenError> {
        let info = BITMAPINFO {
            bmiHeader: BITMAPINFOHEADER {
                biSize: std::mem::size_of::<BITMAPINFOHEADER>() as u32,
                biWidth: width,
                // Negative: rows top to bottom, as the encoder reads them.
                biHeight: -height,
                biPlanes: 1,
                biBitCount: 32,
                biCompression: BI_RGB,
                ..Default::default()
            },
            ..Default::default()
        };
        // SAFETY: GDI calls on handles made here; each failure is checked before the next
        // step, and what was made is released on the way out.
        unsafe {
            let dc = CreateCompatibleDC(std::ptr::null_mut());
            if dc.is_null() {
                return Err(refused("CreateCompatibleDC"));
            }
            let mut bits: *mut std::ffi::c_void = std::ptr::null_mut();
            let bitmap = CreateDIBSection(
                dc,
                &info,
                DIB_RGB_COLORS,
                &mut bits,
                std::ptr::null_mut(),
                0,
            );
            if bitmap.is_null() || bits.is_null() {
                let e = refused("CreateDIBSection");
                DeleteDC(dc);
                return Err(e);
            }
            let previous = SelectObject(dc, bitmap);
            Ok(Self {
                dc,
                bitmap,
                previous,
                bits: bits.cast_const().cast(),
                width,
                height,
            })
        }
    }

    /// The screen's pixels at (x, y), the surface's size, as BGRX rows.
    fn copy_from_screen(&self, x: i32, y: i32) -> Result<&[u8], ScreenError> {
        // SAFETY: the screen's DC is released before returning; the DIB section's memory is
        // width * height * 4 bytes, read after GdiFlush has finished GDI's writes to it.
        unsafe {
            let screen = GetDC(std::ptr::null_mut());
            if screen.is_null() {
                return Err(refused("GetDC"));
            }
            let copied = BitBlt(
                self.dc,
                0,
                0,
                self.width,
                self.height,
                screen,
                x,
                y,
                SRCCOPY | CAPTUREBLT,
            );
            ReleaseDC(std::ptr::null_mut(), screen);
            if copied == 0 {
                return Err(refused("BitBlt"));
            }
            GdiFlush();
            Ok(std::slice::from_raw_parts(
                self.bits,
                self.width as usize * self.height as usize * 4,
            ))
        }
    }
}

impl Drop for Surface {
    fn drop(&mut self) {
        // SAFETY: the handles were made in `new` and are released once, the bitmap after it
        // is no longer selected.
        unsafe {
            SelectObject(self.dc, self.previous);
            DeleteObject(self.bitmap);
            DeleteDC(self.dc);
        }
    }
}
