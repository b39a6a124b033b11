//! One app per user. The first `confer` listens on a local socket in its data directory; a
//! later `confer [LINK]` (a click on an invite link starts one) hands its link to the first
//! and exits, and the first brings its window forward and shows pre-join for the link.
//!
//! The socket is the user's own: a Unix socket with mode 0600 on Linux and macOS; on Windows,
//! where std has no local sockets, a loopback TCP port whose number and key are in a file only
//! the user can read, and a connection that does not open with the key is turned away.
//!
//! One exchange a connection, a line each way: the key (empty on Unix) and the link (empty for
//! "just come forward") in; `ok` or `refused REASON` out. Whatever arrives is untrusted: the
//! link is checked again here, lines are bounded, and a slow sender is cut off.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::invite::{Invite, MAX_LINK_LEN};

/// How long either side waits for the other's line.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(3);
/// The longest line read: a link at its longest and some room.
const LINE_LIMIT: u64 = MAX_LINK_LEN as u64 + 64;

#[derive(Debug, Error)]
pub enum InstanceError {
    #[error("the running Confer refused the link: {0}")]
    Refused(String),
    #[error("cannot reach the running Confer: {0}")]
    Unreachable(String),
    #[error("cannot listen for links from later starts at {path}: {why}")]
    Listen { path: PathBuf, why: String },
}

/// What arrives from outside the window: a later start, or on macOS the system.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// Come forward and show pre-join for this meeting.
    Link(Invite),
    /// Come forward (the app was started again without a link).
    Forward,
    /// Come forward and say why this link cannot be opened (from the system, which has no
    /// one to tell; a later start is told instead).
    Refused(String),
}

/// Where the socket (or on Windows, the file naming the port) lives.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(if cfg!(windows) {
        "instance.port"
    } else {
        "instance.sock"
    })
}

/// What `claim` found.
pub enum Claim {
    /// No app runs: this one is the first, and later starts will reach it here.
    First(Listener),
    /// An app runs and took the link.
    HandedOver,
}

/// Becomes the first app, or hands `link` to the one that runs. Give the link in its canonical
/// form (`Invite::app_link`): one line, as the running app will judge it.
pub fn claim(data_dir: &Path, link: Option<&str>) -> Result<Claim, InstanceError> {
    let path = socket_path(data_dir);
    // Two tries: an app that was starting as we looked may have just begun listening.
    for _ in 0..2 {
        match hand_over(&path, link) {
            Ok(()) => return Ok(Claim::HandedOver),
            Err(HandOver::Refused(why)) => return Err(InstanceError::Refused(why)),
            Err(HandOver::NobodyThere) => {}
            Err(HandOver::Broken(why)) => return Err(InstanceError::Unreachable(why)),
        }
        match Listener::bind(&path) {
            Ok(listener) => return Ok(Claim::First(listener)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => {
                return Err(InstanceError::Listen {
                    path,
                    why: e.to_string(),
                });
            }
        }
    }
    Err(InstanceError::Unreachable(
        "another Confer is starting; try again".into(),
    ))
}

enum HandOver {
    NobodyThere,
    Refused(String),
    Broken(String),
}

fn hand_over(path: &Path, link: Option<&str>) -> Result<(), HandOver> {
    let (mut stream, key) = match sys::connect(path) {
        Ok(connected) => connected,
        // No socket, or one left by an app that ended without removing it.
        Err(e) if sys::nobody_there(&e) => return Err(HandOver::NobodyThere),
        Err(e) => return Err(HandOver::Broken(e.to_string())),
    };
    let broken = |e: std::io::Error| HandOver::Broken(e.to_string());
    sys::set_timeouts(&stream, EXCHANGE_LIMIT).map_err(broken)?;
    let message = format!("{key}\n{}\n", link.unwrap_or(""));
    stream.write_all(message.as_bytes()).map_err(broken)?;
    let mut reply = String::new();
    BufReader::new(Read::take(&stream, LINE_LIMIT))
        .read_line(&mut reply)
        .map_err(broken)?;
    match reply.trim_end().split_once(' ') {
        _ if reply.trim_end() == "ok" => Ok(()),
        Some(("refused", why)) => Err(HandOver::Refused(why.to_string())),
        _ => Err(HandOver::Broken(format!(
            "it answered {:?}",
            reply.trim_end()
        ))),
    }
}

/// The first app's end of the socket.
pub struct Listener {
    inner: sys::Listener,
    path: PathBuf,
}

/// The socket is being answered; dropping this removes it, so that the next app to start
/// finds no one (a socket left behind by a crash is cleared by the next start).
pub struct Serving {
    path: PathBuf,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Listener {
    fn bind(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self {
            inner: sys::Listener::bind(path)?,
            path: path.to_path_buf(),
        })
    }

    /// Answers later starts on a thread of its own, handing each good link to `arrived`,
    /// until the process ends.
    pub fn serve(self, arrived: impl Fn(Arrival) + Send + 'static) -> std::io::Result<Serving> {
        let Listener { inner, path } = self;
        std::thread::Builder::new()
            .name("single-instance".into())
            .spawn(move || {
                loop {
                    match inner.accept() {
                        Ok(stream) => {
                            if let Err(e) = answer(&inner, stream, &arrived) {
                                tracing::debug!("a later start's hand-over failed: {e}");
                            }
                        }
                        Err(e) => {
                            tracing::warn!("no more links from later starts: {e}");
                            return;
                        }
                    }
                }
            })?;
        Ok(Serving { path })
    }
}

fn answer(
    listener: &sys::Listener,
    mut stream: sys::Stream,
    arrived: &impl Fn(Arrival),
) -> std::io::Result<()> {
    sys::set_timeouts(&stream, EXCHANGE_LIMIT)?;
    let mut reader = BufReader::new(Read::take(&stream, 2 * LINE_LIMIT));
    let mut key = String::new();
    let mut link = String::new();
    reader.read_line(&mut key)?;
    reader.read_line(&mut link)?;
    let reply = if !listener.admits(key.trim_end()) {
        "refused wrong key".to_string()
    } else {
        match judge(&link) {
            Ok(arrival) => {
                tracing::info!("a later start handed over {arrival:?}");
                arrived(arrival);
                "ok".to_string()
            }
            Err(why) => format!("refused {why}"),
        }
    };
    stream.write_all(format!("{reply}\n").as_bytes())
}

/// What a link the system hands over asks for (on macOS an Apple Event brings it).
pub fn judge_link(link: &str) -> Arrival {
    match judge(&format!("{link}\n")) {
        Ok(arrival) => arrival,
        Err(why) => Arrival::Refused(why),
    }
}

/// What a later start's link line asks for, or why it is refused.
fn judge(line: &str) -> Result<Arrival, String> {
    let link = line.strip_suffix('\n').unwrap_or(line);
    let link = link.strip_suffix('\r').unwrap_or(link);
    if link.is_empty() {
        return Ok(Arrival::Forward);
    }
    if !line.ends_with('\n') {
        return Err("the link was cut short".into());
    }
    Invite::parse_handed_over(link)
        .map(Arrival::Link)
        .map_err(|e| format!("invalid invite link: {e}"))
}

#[cfg(unix)]
mod sys {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::Path;
    use std::time::Duration;

    pub type Stream = UnixStream;

    pub fn connect(path: &Path) -> std::io::Result<(UnixStream, &'static str)> {
        UnixStream::connect(path).map(|s| (s, ""))
    }

    pub fn nobody_there(e: &std::io::Error) -> bool {
        matches!(
            e.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
        )
    }

    pub fn set_timeouts(stream: &UnixStream, limit: Duration) -> std::io::Result<()> {
        stream.set_read_timeout(Some(limit))?;
        stream.set_write_timeout(Some(limit))
    }

    pub struct Listener(UnixListener);

    impl Listener {
        pub fn bind(path: &Path) -> std::io::Result<Self> {
            // Only reached when connecting failed: what is there is left from an app that
            // ended without removing it.
            if UnixStream::connect(path).is_err() {
                let _ = std::fs::remove_file(path);
            }
            let listener = UnixListener::bind(path)?;
            // Connecting needs write permission: the user's own socket.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            Ok(Self(listener))
        }

        pub fn accept(&self) -> std::io::Result<UnixStream> {
            self.0.accept().map(|(stream, _)| stream)
        }

        /// The socket's mode already keeps others out.
        pub fn admits(&self, _key: &str) -> bool {
            true
        }
    }
}

#[cfg(not(unix))]
mod sys {
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::path::Path;
    use std::time::Duration;

    pub type Stream = TcpStream;

    /// Reads the port and key the first app wrote, and connects.
    pub fn connect(path: &Path) -> std::io::Result<(TcpStream, String)> {
        let text = std::fs::read_to_string(path)?;
        let (port, key) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::NotFound, "no port"))?;
        let stream = TcpStream::connect_timeout(
            &(Ipv4Addr::LOCALHOST, port).into(),
            Duration::from_secs(1),
        )?;
        Ok((stream, key.to_string()))
    }

    pub fn nobody_there(e: &std::io::Error) -> bool {
        matches!(
            e.kind(),
            std::io::ErrorKind::NotFound
                | std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::TimedOut
        )
    }

    pub fn set_timeouts(stream: &TcpStream, limit: Duration) -> std::io::Result<()> {
        stream.set_read_timeout(Some(limit))?;
        stream.set_write_timeout(Some(limit))
    }

    pub struct Listener {
        listener: TcpListener,
        key: String,
    }

    impl Listener {
        pub fn bind(path: &Path) -> std::io::Result<Self> {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
            let key = crate::token::random_id(24);
            let port = listener.local_addr()?.port();
            std::fs::write(path, format!("{port} {key}\n"))?;
            Ok(Self { listener, key })
        }

        pub fn accept(&self) -> std::io::Result<TcpStream> {
            self.listener.accept().map(|(stream, _)| stream)
        }

        /// Any local program can reach a loopback port; only the user can read the key.
        pub fn admits(&self, key: &str) -> bool {
            // The same time whatever the key, so no byte of it is told by the reply's timing.
            key.len() == self.key.len()
                && key
                    .bytes()
                    .zip(self.key.bytes())
                    .fold(0, |differ, (a, b)| differ | (a ^ b))
                    == 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn the_first_start_listens_and_later_ones_hand_over_until_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let Ok(Claim::First(listener)) = claim(dir.path(), None) else {
            panic!("the first start did not become the first");
        };
        let (tx, arrivals) = mpsc::channel();
        let serving = listener
            .serve(move |arrival| tx.send(arrival).unwrap())
            .unwrap();

        let link = "confer://meet.example.org/standup#t=tok";
        assert!(matches!(
            claim(dir.path(), Some(link)),
            Ok(Claim::HandedOver)
        ));
        let arrived = arrivals.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(arrived, Arrival::Link(i) if i.room == "standup"));
        assert!(matches!(claim(dir.path(), None), Ok(Claim::HandedOver)));
        assert_eq!(
            arrivals.recv_timeout(Duration::from_secs(5)).unwrap(),
            Arrival::Forward
        );
        // A link the caller did not check is refused by the running app, with the reason.
        match claim(dir.path(), Some("ftp://meet.example.org/standup")) {
            Err(InstanceError::Refused(why)) => assert!(why.contains("unknown scheme"), "{why}"),
            _ => panic!("a foreign link was not refused"),
        }
        assert!(arrivals.try_recv().is_err());

        // Once it is gone, the next start is the first again.
        drop(serving);
        assert!(matches!(claim(dir.path(), None), Ok(Claim::First(_))));
    }

    #[cfg(unix)]
    #[test]
    fn a_socket_left_by_an_app_that_crashed_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let left = std::os::unix::net::UnixListener::bind(socket_path(dir.path())).unwrap();
        drop(left);
        assert!(socket_path(dir.path()).exists());
        assert!(matches!(claim(dir.path(), None), Ok(Claim::First(_))));
    }

    #[test]
    fn a_link_line_is_judged_as_untrusted_input() {
        assert_eq!(judge("\n"), Ok(Arrival::Forward));
        assert_eq!(judge(""), Ok(Arrival::Forward));
        let good = judge("confer://meet.example.org/standup#t=tok\n").unwrap();
        assert!(matches!(good, Arrival::Link(i) if i.room == "standup"));
        assert!(judge("confer://meet.example.org/standup\r\n").is_ok());
        for bad in [
            "javascript:alert(1)\n",
            "http://meet.example.org/j/standup\n",
            "file:///etc/passwd\n",
            "https://meet.example.org/standup\n",
            "confer://\n",
        ] {
            let why = judge(bad).unwrap_err();
            assert!(why.starts_with("invalid invite link: "), "{bad}: {why}");
        }
        assert_eq!(
            judge("confer://meet.example.org/stand").unwrap_err(),
            "the link was cut short"
        );
    }
}
