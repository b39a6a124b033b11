//! MIT-SHM: the X server writes a picture into memory it shares with us, instead of sending
//! it down the socket (8 MB for each picture of a 1080p screen, which both sides copy and our
//! side then reassembles). Where the extension is missing or cannot attach (a display on
//! another machine, an X server in another IPC namespace), pictures come by GetImage as before.

use x11rb::connection::{Connection, RequestConnection};
use x11rb::errors::ReplyError;
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{Drawable, ImageFormat};
use x11rb::rust_connection::RustConnection;

/// A System V shared memory segment of ours, attached to the X server.
pub struct SharedImage {
    seg: shm::Seg,
    addr: *mut u8,
    size: usize,
}

// SAFETY: the segment is this process's memory, written by the X server only while a
// GetImage into it is answered; the capture that owns it moves to the share's thread and is
// used there alone.
unsafe impl Send for SharedImage {}

/// What a picture read into the segment is: its bytes, and the depth and visual to read them by.
pub struct Picture<'a> {
    pub data: &'a [u8],
    pub depth: u8,
    pub visual: u32,
}

impl SharedImage {
    /// A segment of `size` bytes that the server has attached, or None where MIT-SHM cannot
    /// be used.
    pub fn new(conn: &RustConnection, size: usize) -> Option<Self> {
        conn.extension_information(shm::X11_EXTENSION_NAME)
            .ok()
            .flatten()?;
        conn.shm_query_version().ok()?.reply().ok()?;
        // SAFETY: a new private segment; only its id leaves this function, to the X server.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, size, libc::IPC_CREAT | 0o600) };
        if id < 0 {
            return None;
        }
        // SAFETY: attaching the segment just made, wherever the kernel chooses.
        let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        let attached = if addr as isize == -1 {
            None
        } else {
            conn.generate_id()
                .ok()
                .and_then(|seg| Some((seg, conn.shm_attach(seg, id as u32, false).ok()?)))
                .and_then(|(seg, cookie)| cookie.check().ok().map(|()| seg))
        };
        // Marked for removal once both sides have it (or failed to): the kernel frees it when
        // the last detaches, also if this process dies.
        // SAFETY: the id is the segment made above.
        unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
        match attached {
            Some(seg) => Some(Self {
                seg,
                addr: addr.cast(),
                size,
            }),
            None => {
                if addr as isize != -1 {
                    // SAFETY: the address shmat gave above, not used after.
                    unsafe { libc::shmdt(addr) };
                }
                None
            }
        }
    }

    /// `drawable`'s pixels at (x, y), `width` by `height`, as ZPixmap rows of 32 bits a pixel
    /// (`check_layout` refuses other layouts), or None when they do not fit the segment.
    pub fn get(
        &self,
        conn: &RustConnection,
        drawable: Drawable,
        (x, y): (i16, i16),
        (width, height): (u16, u16),
    ) -> Result<Option<Picture<'_>>, ReplyError> {
        let bytes = usize::from(width) * usize::from(height) * 4;
        if bytes > self.size {
            return Ok(None);
        }
        let format = u8::from(ImageFormat::Z_PIXMAP);
        let reply = conn
            .shm_get_image(drawable, x, y, width, height, !0, format, self.seg, 0)?
            .reply()?;
        // SAFETY: the server has written the picture (its reply came after), and `bytes` is
        // within the segment.
        let data = unsafe { std::slice::from_raw_parts(self.addr, bytes) };
        Ok(Some(Picture {
            data,
            depth: reply.depth,
            visual: reply.visual,
        }))
    }
}

impl Drop for SharedImage {
    fn drop(&mut self) {
        // The server lets go of its side when our connection closes.
        // SAFETY: the address shmat gave, not used after.
        unsafe { libc::shmdt(self.addr.cast()) };
    }
}
