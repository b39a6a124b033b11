//! Screens and windows to share on macOS, through CoreGraphics: the active displays and their
//! bounds, the on-screen windows of normal level (as the window server lists them), and
//! pictures of a rectangle of the desktop or of one window.
//!
//! CoreGraphics' picture calls are deprecated in favour of ScreenCaptureKit, which is
//! asynchronous and needs an app bundle's entitlements to test; they still work, and are what
//! the app's synchronous capture loop needs. macOS asks the user for Screen Recording
//! permission the first time: until it is given, the pictures show only the desktop and the
//! app's own windows, and window titles are missing.
//!
//! Coordinates are in points, the global display space; pictures are taken at nominal
//! resolution (one pixel a point), so a Retina screen is shared at its size in points.

// CGDisplayCreateImage and CGWindowListCreateImage: see above.
#![allow(deprecated)]

use objc2_core_foundation::{
    CFArray, CFDictionary, CFNumber, CFRetained, CFString, CFType, CGPoint, CGRect, CGSize,
};
use objc2_core_graphics::{
    CGBitmapInfo, CGDataProvider, CGDirectDisplayID, CGDisplayBounds, CGError,
    CGGetActiveDisplayList, CGImage, CGPreflightScreenCaptureAccess,
    CGRectMakeWithDictionaryRepresentation, CGRectNull, CGRequestScreenCaptureAccess, CGWindowID,
    CGWindowImageOption, CGWindowListCopyWindowInfo, CGWindowListCreateImage, CGWindowListOption,
    kCGNullWindowID, kCGWindowBounds, kCGWindowLayer, kCGWindowName, kCGWindowNumber,
    kCGWindowOwnerName,
};

/// A display, in the global display space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Display {
    pub id: u32,
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

/// A window on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub id: u32,
    /// Its title, or its application's name when it has none the app may read.
    pub title: String,
    pub width: u32,
    pub height: u32,
}

/// A picture: `height` rows of `stride` bytes, each pixel blue, green, red and alpha.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub bgra: Vec<u8>,
}

/// Whether this process may record the screen (macOS's Screen Recording permission).
pub fn may_record_screen() -> bool {
    CGPreflightScreenCaptureAccess()
}

/// Asks for Screen Recording permission (macOS shows its prompt once); whether it is given.
pub fn ask_to_record_screen() -> bool {
    CGRequestScreenCaptureAccess()
}

/// The active displays, the main one first.
pub fn displays() -> Result<Vec<Display>, String> {
    let mut ids: [CGDirectDisplayID; 16] = [0; 16];
    let mut count = 0u32;
    // SAFETY: the buffer holds as many ids as it says.
    let error = unsafe { CGGetActiveDisplayList(ids.len() as u32, ids.as_mut_ptr(), &mut count) };
    if error != CGError::Success {
        return Err(format!(
            "the displays could not be listed (error {})",
            error.0
        ));
    }
    Ok(ids
        .iter()
        .take(count as usize)
        .enumerate()
        .map(|(i, &id)| {
            let bounds = CGDisplayBounds(id);
            Display {
                id,
                name: format!("Display {}", i + 1),
                x: bounds.origin.x as i32,
                y: bounds.origin.y as i32,
                width: bounds.size.width as u32,
                height: bounds.size.height as u32,
            }
        })
        .collect())
}

/// The windows on screen at the normal level (no menu bar, dock or desktop), front first.
pub fn windows() -> Vec<Window> {
    let options =
        CGWindowListOption::OptionOnScreenOnly | CGWindowListOption::ExcludeDesktopElements;
    let Some(list) = CGWindowListCopyWindowInfo(options, kCGNullWindowID) else {
        return Vec::new();
    };
    (0..list.count())
        .filter_map(|i| {
            // SAFETY: the window server's list holds one dictionary per window.
            let entry = unsafe { list.value_at_index(i) }.cast::<CFDictionary>();
            // SAFETY: as above; the list outlives the reference.
            let entry = unsafe { entry.as_ref() }?;
            window_of(entry)
        })
        .collect()
}

/// One entry of the window server's list, when it is a shareable window.
fn window_of(entry: &CFDictionary) -> Option<Window> {
    // SAFETY (each key): the keys are CoreGraphics' own CFString constants.
    let layer = number(entry, unsafe { kCGWindowLayer })?;
    if layer != 0 {
        return None;
    }
    let id = u32::try_from(number(entry, unsafe { kCGWindowNumber })?).ok()?;
    let bounds = rect(entry, unsafe { kCGWindowBounds })?;
    if bounds.size.width < 2.0 || bounds.size.height < 2.0 {
        return None;
    }
    let title = text(entry, unsafe { kCGWindowName })
        .filter(|t| !t.trim().is_empty())
        .or_else(|| text(entry, unsafe { kCGWindowOwnerName }))?;
    Some(Window {
        id,
        title,
        width: bounds.size.width as u32,
        height: bounds.size.height as u32,
    })
}

fn value<'a>(entry: &'a CFDictionary, key: &CFString) -> Option<&'a CFType> {
    // SAFETY: a lookup by a CFString key; the value, if any, is a CF object the dictionary
    // keeps alive while it is borrowed.
    let found = unsafe { entry.value((key as *const CFString).cast()) };
    // SAFETY: as above.
    unsafe { found.cast::<CFType>().as_ref() }
}

fn number(entry: &CFDictionary, key: &CFString) -> Option<i64> {
    value(entry, key)?.downcast_ref::<CFNumber>()?.as_i64()
}

fn text(entry: &CFDictionary, key: &CFString) -> Option<String> {
    Some(value(entry, key)?.downcast_ref::<CFString>()?.to_string())
}

fn rect(entry: &CFDictionary, key: &CFString) -> Option<CGRect> {
    let dictionary = value(entry, key)?.downcast_ref::<CFDictionary>()?;
    let mut bounds = CGRect::default();
    // SAFETY: the dictionary is a CGRect's representation, and `bounds` a CGRect to fill.
    unsafe { CGRectMakeWithDictionaryRepresentation(Some(dictionary), &mut bounds) }
        .then_some(bounds)
}

/// Where a window is: on screen, off it (minimized, on another Space, hidden), or gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    OnScreen,
    OffScreen,
    Gone,
}

/// Where the window with that id is.
pub fn window_state(id: CGWindowID) -> WindowState {
    let on_screen =
        CGWindowListCopyWindowInfo(CGWindowListOption::OptionOnScreenOnly, kCGNullWindowID)
            .is_some_and(|list| listed(&list, id));
    if on_screen {
        return WindowState::OnScreen;
    }
    let exists = CGWindowListCopyWindowInfo(CGWindowListOption::OptionAll, kCGNullWindowID)
        .is_some_and(|list| listed(&list, id));
    if exists {
        WindowState::OffScreen
    } else {
        WindowState::Gone
    }
}

/// Whether the window server's `list` holds the window `id`.
fn listed(list: &CFArray, id: CGWindowID) -> bool {
    (0..list.count()).any(|i| {
        // SAFETY: the window server's list holds one dictionary per window.
        let entry = unsafe { list.value_at_index(i) }.cast::<CFDictionary>();
        // SAFETY: as above; the list outlives the reference.
        unsafe { entry.as_ref() }
            .and_then(|entry| number(entry, unsafe { kCGWindowNumber }))
            .is_some_and(|n| n == i64::from(id))
    })
}

/// A picture of the desktop's rectangle at (x, y), `width` by `height` points: every window
/// on screen there, as people see it.
pub fn picture_of_area(x: i32, y: i32, width: u32, height: u32) -> Result<Picture, String> {
    let area = CGRect::new(
        CGPoint::new(f64::from(x), f64::from(y)),
        CGSize::new(f64::from(width), f64::from(height)),
    );
    let image = CGWindowListCreateImage(
        area,
        CGWindowListOption::OptionOnScreenOnly,
        kCGNullWindowID,
        CGWindowImageOption::NominalResolution,
    )
    .ok_or("the window server gave no picture of the screen")?;
    picture(&image)
}

/// A picture of one window (only it, without its shadow), or None when it is not on screen
/// ([`window_state`] tells whether it is gone).
pub fn picture_of_window(id: CGWindowID) -> Result<Option<Picture>, String> {
    // SAFETY: CGRectNull is CoreGraphics' constant for "the window's own bounds".
    let bounds = unsafe { CGRectNull };
    let image = CGWindowListCreateImage(
        bounds,
        CGWindowListOption::OptionIncludingWindow,
        id,
        CGWindowImageOption::BoundsIgnoreFraming | CGWindowImageOption::NominalResolution,
    );
    match image {
        Some(image) => picture(&image).map(Some),
        None if window_state(id) != WindowState::OnScreen => Ok(None),
        None => Err("the window server gave no picture of the window".into()),
    }
}

/// The pixels of `image`, which the window server makes as 32-bit little-endian pixels with
/// alpha or padding first: blue, green, red, alpha in memory.
fn picture(image: &CFRetained<CGImage>) -> Result<Picture, String> {
    let image = Some(&**image);
    let (width, height) = (CGImage::width(image), CGImage::height(image));
    let stride = CGImage::bytes_per_row(image);
    let info = CGImage::bitmap_info(image);
    let little = info & CGBitmapInfo::ByteOrderMask == CGBitmapInfo::ByteOrder32Little;
    if CGImage::bits_per_pixel(image) != 32 || !little {
        return Err(format!(
            "a picture of {} bits a pixel, layout {:#x}: only 32-bit BGRA is read",
            CGImage::bits_per_pixel(image),
            info.0
        ));
    }
    let data = CGImage::data_provider(image)
        .and_then(|provider| CGDataProvider::data(Some(&provider)))
        .ok_or("the picture's pixels could not be read")?;
    let bgra = data.to_vec();
    if width < 2 || height < 2 || stride < width * 4 || bgra.len() < stride * height {
        return Err(format!("a {width}x{height} picture without its pixels"));
    }
    Ok(Picture {
        width,
        height,
        stride,
        bgra,
    })
}
