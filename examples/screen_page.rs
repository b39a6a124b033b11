//! A page of small text on an X display, for the screen sharing benchmark (`benches/share.sh`):
//! it rests, scrolls as someone reading does, and rests again, writing when each phase began to
//! a file, and the picture it ends on as a PPM (the reference the received share is measured
//! against).
//!
//!   cargo run --release --example screen_page -- DISPLAY PHASES_FILE FINAL_PPM [SECONDS]
//!
//! SECONDS (default 10) is each phase's length. Linux only (X11, through x11rb).

#[cfg(target_os = "linux")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    page::run()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("screen_page draws on X11, on Linux");
}

#[cfg(target_os = "linux")]
mod page {
    use std::io::Write;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use x11rb::connection::{Connection, RequestConnection};
    use x11rb::protocol::xproto::{
        ConnectionExt, CreateGCAux, CreateWindowAux, ImageFormat, WindowClass,
    };
    use x11rb::wrapper::ConnectionExt as _;

    /// Pixels a second the page scrolls by while scrolling (a reader's pace, in steps).
    const SCROLL_PX_PER_S: u32 = 240;
    const STEPS_PER_S: u32 = 30;
    /// The page is this many screens tall (room to scroll).
    const SCREENS_TALL: usize = 3;

    /// A glyph of a made-up alphabet: 5x7 one-pixel strokes, about as dense as letters.
    fn glyph(code: u32) -> [u8; 7] {
        let mut state = code.wrapping_mul(0x9e37_79b9) ^ 0x5bd1_e995;
        let mut rows = [0u8; 7];
        for row in &mut rows {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            // Two or three strokes a row: text, not noise.
            *row = ((state & 0x1f) as u8) & (if state & 0x100 != 0 { 0x15 } else { 0x0e });
        }
        rows
    }

    /// BGRX pixels of the whole page, `width` across and `height` down: a coloured heading,
    /// then lines of words.
    fn draw_page(width: usize, height: usize) -> Vec<u8> {
        let mut px = vec![255u8; width * height * 4];
        for y in 0..40 {
            for x in 0..width {
                px[(y * width + x) * 4..][..4].copy_from_slice(&[180, 100, 40, 0]);
            }
        }
        let mut word_state = 7u32;
        let line_height = 12;
        let mut top = 56;
        while top + 7 < height {
            let mut left = 24 + (top / line_height % 3) * 6;
            while left + 6 < width - 24 {
                word_state = word_state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let letters = 2 + (word_state >> 16) % 9;
                for i in 0..letters {
                    let rows = glyph(word_state.wrapping_add(i));
                    for (dy, bits) in rows.iter().enumerate() {
                        for dx in 0..5 {
                            if bits & (16 >> dx) != 0 {
                                let x = left + i as usize * 6 + dx;
                                if x < width {
                                    let p = ((top + dy) * width + x) * 4;
                                    px[p..p + 4].copy_from_slice(&[30, 30, 30, 0]);
                                }
                            }
                        }
                    }
                }
                left += (letters as usize + 1) * 6;
            }
            top += line_height;
        }
        px
    }

    fn mark(phases: &mut std::fs::File, name: &str) -> std::io::Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        writeln!(phases, "{name} {now:.3}")?;
        phases.flush()
    }

    pub fn run() -> Result<(), Box<dyn std::error::Error>> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let [display, phases_path, final_path, rest @ ..] = args.as_slice() else {
            return Err("usage: screen_page DISPLAY PHASES_FILE FINAL_PPM [SECONDS]".into());
        };
        let phase = Duration::from_secs_f64(rest.first().map_or(Ok(10.0), |s| s.parse())?);
        let (conn, screen_number) = x11rb::connect(Some(display))?;
        let screen = &conn.setup().roots[screen_number];
        let (width, height) = (
            usize::from(screen.width_in_pixels),
            usize::from(screen.height_in_pixels),
        );
        let page_height = height * SCREENS_TALL;
        let page = draw_page(width, page_height);
        // The page lives in a pixmap on the server; each scroll step is a copy there.
        let pixmap = conn.generate_id()?;
        conn.create_pixmap(
            screen.root_depth,
            pixmap,
            screen.root,
            width as u16,
            page_height as u16,
        )?;
        let gc = conn.generate_id()?;
        conn.create_gc(gc, pixmap, &CreateGCAux::new())?;
        let row_bytes = width * 4;
        let rows_per_put = (conn.maximum_request_bytes() - 64) / row_bytes;
        for (i, strip) in page.chunks(row_bytes * rows_per_put).enumerate() {
            conn.put_image(
                ImageFormat::Z_PIXMAP,
                pixmap,
                gc,
                width as u16,
                (strip.len() / row_bytes) as u16,
                0,
                (i * rows_per_put) as i16,
                0,
                screen.root_depth,
                strip,
            )?;
        }
        let window = conn.generate_id()?;
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            window,
            screen.root,
            0,
            0,
            width as u16,
            height as u16,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new().override_redirect(1),
        )?;
        conn.map_window(window)?;
        let show = |offset: usize| -> Result<(), Box<dyn std::error::Error>> {
            conn.copy_area(
                pixmap,
                window,
                gc,
                0,
                offset as i16,
                0,
                0,
                width as u16,
                height as u16,
            )?;
            conn.sync()?;
            Ok(())
        };
        show(0)?;
        let mut phases = std::fs::File::create(phases_path)?;
        mark(&mut phases, "rest")?;
        std::thread::sleep(phase);
        mark(&mut phases, "scroll")?;
        let started = Instant::now();
        let step = Duration::from_secs(1) / STEPS_PER_S;
        let mut offset = 0;
        let mut n = 0u32;
        while started.elapsed() < phase {
            n += 1;
            offset = (n * SCROLL_PX_PER_S / STEPS_PER_S) as usize % (page_height - height);
            show(offset)?;
            let next = started + step * n;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        mark(&mut phases, "rest-again")?;
        // Where the page stopped is what the receivers should end up showing.
        let mut ppm = format!("P6\n{width} {height}\n255\n").into_bytes();
        for pixel in page[offset * row_bytes..(offset + height) * row_bytes].chunks_exact(4) {
            ppm.extend_from_slice(&[pixel[2], pixel[1], pixel[0]]);
        }
        std::fs::write(final_path, ppm)?;
        std::thread::sleep(phase);
        mark(&mut phases, "done")?;
        // Stay up until stopped: the bench stops the sharers first.
        loop {
            std::thread::sleep(Duration::from_secs(60));
            show(offset)?;
        }
    }
}
