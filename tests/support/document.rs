//! The "document" the screen-sharing tests share: a window of small text on an X server, drawn
//! by the test, and how well a received picture of the screen holds it.

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt, CreateGCAux, CreateWindowAux, ImageFormat, PropMode, Window,
    WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// Where the test's "document" window is, and its size (even: chroma pairs line up).
pub const AT: (i16, i16) = (100, 60);
pub const DOC: (u16, u16) = (640, 360);
pub const TITLE: &str = "Shared document — 共享";

/// Glyphs of a 5x7 pixel font, enough to write on the document.
pub fn glyph(c: char) -> [u8; 7] {
    match c {
        'C' => [14, 17, 16, 16, 16, 17, 14],
        'O' => [14, 17, 17, 17, 17, 17, 14],
        'N' => [17, 25, 21, 19, 17, 17, 17],
        'F' => [31, 16, 16, 30, 16, 16, 16],
        'E' => [31, 16, 16, 30, 16, 16, 31],
        'R' => [30, 17, 17, 30, 20, 18, 17],
        'S' => [15, 16, 16, 14, 1, 1, 30],
        'H' => [17, 17, 17, 31, 17, 17, 17],
        'A' => [14, 17, 17, 31, 17, 17, 17],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [30, 1, 1, 14, 1, 1, 30],
        _ => [0; 7],
    }
}

/// A page of text: dark lines of small letters on white (one pixel strokes, the hardest thing
/// to keep sharp), with a coloured heading bar whose colour is `heading` (BGRX).
pub fn document(heading: [u8; 4]) -> Vec<u8> {
    let (w, h) = (usize::from(DOC.0), usize::from(DOC.1));
    let mut px = vec![255u8; w * h * 4];
    for row in 0..24 {
        for col in 0..w {
            px[(row * w + col) * 4..][..4].copy_from_slice(&heading);
        }
    }
    let words = ["CONFER SHARES 123", "SCREENS AND FONTS", "NO ONE FRETS 321"];
    for line in 0..30 {
        let text = words[line % words.len()];
        let top = 36 + line * 10;
        if top + 7 > h {
            break;
        }
        for (i, c) in text.chars().enumerate() {
            let left = 8 + i * 6 + (line % 4) * 3;
            for (dy, bits) in glyph(c).iter().enumerate() {
                for dx in 0..5 {
                    if bits & (16 >> dx) != 0 {
                        let p = ((top + dy) * w + left + dx) * 4;
                        px[p..p + 4].copy_from_slice(&[40, 30, 20, 0]);
                    }
                }
            }
        }
    }
    px
}

/// A top-level window titled [`TITLE`] at [`AT`], showing `pixels` (BGRX, [`DOC`] in size).
pub fn show_document(conn: &RustConnection, pixels: &[u8]) -> Window {
    let screen = &conn.setup().roots[0];
    let window = conn.generate_id().unwrap();
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        window,
        screen.root,
        AT.0,
        AT.1,
        DOC.0,
        DOC.1,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new().background_pixel(screen.white_pixel),
    )
    .unwrap();
    let utf8 = conn
        .intern_atom(false, b"UTF8_STRING")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    let net_wm_name = conn
        .intern_atom(false, b"_NET_WM_NAME")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    conn.change_property8(
        PropMode::REPLACE,
        window,
        net_wm_name,
        utf8,
        TITLE.as_bytes(),
    )
    .unwrap();
    conn.change_property8(
        PropMode::REPLACE,
        window,
        AtomEnum::WM_NAME,
        AtomEnum::STRING,
        b"Shared document",
    )
    .unwrap();
    conn.map_window(window).unwrap();
    draw(conn, window, pixels);
    window
}

/// Puts `pixels` into `window`, in strips that fit a request, and waits until the server has
/// done it.
pub fn draw(conn: &RustConnection, window: Window, pixels: &[u8]) {
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, window, &CreateGCAux::new()).unwrap();
    let row_bytes = usize::from(DOC.0) * 4;
    for (i, strip) in pixels.chunks(row_bytes * 32).enumerate() {
        conn.put_image(
            ImageFormat::Z_PIXMAP,
            window,
            gc,
            DOC.0,
            (strip.len() / row_bytes) as u16,
            0,
            (i * 32) as i16,
            0,
            24,
            strip,
        )
        .unwrap();
    }
    conn.free_gc(gc).unwrap();
    conn.sync().unwrap();
}

/// A binary PPM (as `--save-share` writes it) as its size and RGB bytes.
pub fn read_ppm(path: &std::path::Path) -> ((usize, usize), Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // "P6\nW H\n255\n", then the pixels.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        let end = at
            + bytes[at..]
                .iter()
                .position(|b| b.is_ascii_whitespace())
                .unwrap();
        fields.push(String::from_utf8_lossy(&bytes[at..end]).into_owned());
        at = end + 1;
    }
    assert_eq!(fields[0], "P6");
    let size = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    (size, bytes[at..].to_vec())
}

/// How well `rgb` (a received picture of the whole screen, `width` wide, RGB) holds the
/// document drawn with `pixels` where it is on the screen: the PSNR of their luma, in dB.
pub fn document_psnr(pixels: &[u8], rgb: &[u8], width: usize) -> f64 {
    let (w, h) = (usize::from(DOC.0), usize::from(DOC.1));
    let luma =
        |r: u8, g: u8, b: u8| 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
    let mut squared = 0.0;
    for y in 0..h {
        for x in 0..w {
            let drawn = &pixels[(y * w + x) * 4..];
            let at = ((y + AT.1 as usize) * width + x + AT.0 as usize) * 3;
            let got = &rgb[at..at + 3];
            let diff = luma(drawn[2], drawn[1], drawn[0]) - luma(got[0], got[1], got[2]);
            squared += diff * diff;
        }
    }
    let mse = squared / (w * h) as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}
