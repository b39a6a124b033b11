//! A real Janus (Debian's `janus`, 1.1.2) with its VideoRoom plugin and WebSocket transport, in
//! a network namespace of the test's own, for Confer's Janus tests.
//!
//! Janus's ICE skips loopback (and any interface not up and running), and this kernel has no
//! dummy interfaces: the namespace gets a veth pair with both ends inside it, `janus0` (Janus's
//! address, the only one it gathers: `interface` and `ice_enforce_list`) and `peer0` (the
//! address for the test's own participants). Both addresses are local to the namespace, so the
//! traffic between them goes over `lo`, not the veth: iptables rules for loss match `-i lo`.
//!
//! Measured here: Janus opens its WebSocket port about 0.1 s after it starts and stops in
//! about 0.2 s on SIGTERM; its log file is appended to across restarts.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{Owned, require_tool};

/// The VideoRoom's `admin_key`: room creation through the API needs it.
pub const ADMIN_KEY: &str = "confer-admin";
/// Every configured room's `secret` (for `edit`, `destroy`, `kick`).
pub const ROOM_SECRET: &str = "confer-secret";
/// The veth end that carries Janus's address.
pub const JANUS_INTERFACE: &str = "janus0";
/// The veth end that carries the test's participants' address.
pub const PEER_INTERFACE: &str = "peer0";

/// Where the WebSocket transport listens unless something in the namespace already does.
const FIRST_PORT: u16 = 8188;
/// Janus's media (RTP) ports, in iptables' notation: fixed so that a test can impair media
/// alone (each Janus has a namespace of its own, so they never collide).
pub const JANUS_RTP_PORTS: &str = "20000:20999";

/// The comment that names the rule of [`Netns::drop_janus_packets_from_before`].
const FROM_BEFORE: &str = "confer-from-before";
/// Janus's log level (4 = info: sessions, handles and plugin errors, a few lines a join; 5
/// adds each simulcast switch; 7 shows every NACK and resend). For chasing a failure,
/// CONFER_TEST_JANUS_LOG_LEVEL sets another.
const DEBUG_LEVEL: u8 = 4;
/// How long Janus may take to open its WebSocket port.
const START_LIMIT: Duration = Duration::from_secs(20);

/// Every plugin of Debian's Janus 1.1.2 but the VideoRoom (Janus loads every `.so` in its
/// folder unless told not to).
const DISABLED_PLUGINS: &str = "libjanus_audiobridge.so,libjanus_duktape.so,\
    libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,\
    libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,\
    libjanus_voicemail.so";
/// Every transport but the WebSockets one.
const DISABLED_TRANSPORTS: &str = "libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,\
    libjanus_pfunix.so,libjanus_rabbitmq.so";

/// Numbers namespaces and Janus directories within this test process.
static NEXT: AtomicU32 = AtomicU32::new(0);

fn run_ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run ip (package iproute2)");
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

fn require_root() {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .expect("cannot run id");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "the Janus tests make network namespaces: they run as root"
    );
}

/// A named network namespace (`ip netns`) with `lo` up and a veth pair, both ends inside it:
/// `janus0` with 10.99.X.1/24 and `peer0` with 10.99.X.2/24, X from this process's pid. Dropping
/// it ends what still runs in it and deletes it.
pub struct Netns {
    name: String,
    x: u32,
}

impl Netns {
    pub fn new() -> Netns {
        require_tool("ip", "iproute2");
        require_root();
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("confer-janus-{pid}-{n}");
        // A namespace of an earlier process with this pid (one that was killed) goes first.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        run_ip(&["netns", "add", &name]);
        // From here a failure deletes the namespace again (Drop).
        let netns = Netns {
            name,
            x: (pid % 254 + n) % 254 + 1,
        };
        let (janus_cidr, peer_cidr) = (
            format!("{}/24", netns.janus_addr()),
            format!("{}/24", netns.peer_addr()),
        );
        let ns = netns.name.as_str();
        // IPv4 only, as Janus is configured: IPv6 addresses would come up seconds after the
        // links (duplicate address detection), and Chromium takes each such change for a new
        // network (ERR_NETWORK_CHANGED on its loads, candidates gathered again).
        for conf in ["all", "default"] {
            run_ip(&[
                "netns",
                "exec",
                ns,
                "sh",
                "-c",
                &format!("echo 1 > /proc/sys/net/ipv6/conf/{conf}/disable_ipv6"),
            ]);
        }
        run_ip(&["-n", ns, "link", "set", "lo", "up"]);
        run_ip(&[
            "-n",
            ns,
            "link",
            "add",
            JANUS_INTERFACE,
            "type",
            "veth",
            "peer",
            "name",
            PEER_INTERFACE,
        ]);
        run_ip(&["-n", ns, "addr", "add", &janus_cidr, "dev", JANUS_INTERFACE]);
        run_ip(&["-n", ns, "addr", "add", &peer_cidr, "dev", PEER_INTERFACE]);
        run_ip(&["-n", ns, "link", "set", JANUS_INTERFACE, "up"]);
        run_ip(&["-n", ns, "link", "set", PEER_INTERFACE, "up"]);
        // Janus gathers only on interfaces that are up and running (carrier: both ends up).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = Command::new("ip")
                .args(["-n", ns, "-o", "link", "show", "dev", JANUS_INTERFACE])
                .output()
                .expect("cannot run ip");
            if String::from_utf8_lossy(&out.stdout).contains("LOWER_UP") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{JANUS_INTERFACE} has no carrier"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        netns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `program` run inside the namespace (`ip netns exec NAME program`, which execs it: the
    /// child's pid is the program's).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Janus's address (on `janus0`).
    pub fn janus_addr(&self) -> String {
        format!("10.99.{}.1", self.x)
    }

    /// The address for the test's participants (on `peer0`).
    pub fn peer_addr(&self) -> String {
        format!("10.99.{}.2", self.x)
    }

    /// Puts the calling thread into the namespace (children it starts are in it too), until
    /// the returned guard is dropped: for a driver, such as the browser's, started from here.
    pub fn enter(&self) -> InNetns {
        use std::os::fd::AsRawFd;
        let original: std::os::fd::OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")
            .expect("cannot open this thread's network namespace")
            .into();
        let target = std::fs::File::open(format!("/run/netns/{}", self.name))
            .expect("cannot open the test's network namespace");
        // SAFETY: a plain system call on this thread, with a namespace fd it owns.
        let rc = unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns failed: {}", std::io::Error::last_os_error());
        InNetns { original }
    }

    /// Drops this share of the UDP datagrams to and from Janus's media ports
    /// ([`JANUS_RTP_PORTS`]), each way, with iptables' `statistic` match: every participant's
    /// leg to Janus loses them, the WebSocket (TCP) is spared. Both veth addresses are local to
    /// the namespace, so its traffic goes over `lo`.
    pub fn drop_janus_media(&self, probability: f64) {
        for side in ["--sport", "--dport"] {
            let status = Command::new("ip")
                .args([
                    "netns", "exec", &self.name, "iptables", "-A", "INPUT", "-i", "lo",
                ])
                .args(["-p", "udp", side, JANUS_RTP_PORTS])
                .args(["-m", "statistic", "--mode", "random", "--probability"])
                .arg(probability.to_string())
                .args(["-j", "DROP"])
                .status()
                .expect("cannot run iptables (package iptables)");
            assert!(status.success(), "iptables could not add the drop rule");
        }
    }

    /// Drops every RTP packet Janus sends numbered in the last 536 of the 65 536 sequence
    /// numbers: where Janus numbers a packet it forwards from before a subscription's first
    /// (`rtc::srtp_rollover`). Such a packet moves Janus's SRTP counter a cycle on; lost, the
    /// subscriber must find the new cycle from the packets after it. The rule counts what it
    /// dropped: [`Netns::dropped_from_before`].
    pub fn drop_janus_packets_from_before(&self) {
        // RTP (first byte 0x80..0xbf) whose sequence number is 65 000 or above; RTCP, STUN
        // and DTLS carry smaller values there.
        let rtp_numbered_high = "0>>22&0x3C@8>>24=0x80:0xBF&&0>>22&0x3C@8&0xFFFF=0xFDE8:0xFFFF";
        let status = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "iptables", "-I", "INPUT", "-i", "lo",
            ])
            .args(["-p", "udp", "--sport", JANUS_RTP_PORTS])
            .args(["-m", "u32", "--u32", rtp_numbered_high])
            .args(["-m", "comment", "--comment", FROM_BEFORE])
            .args(["-j", "DROP"])
            .status()
            .expect("cannot run iptables (package iptables)");
        assert!(status.success(), "iptables could not add the u32 drop rule");
    }

    /// How many packets [`Netns::drop_janus_packets_from_before`] dropped so far.
    pub fn dropped_from_before(&self) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "iptables", "-L", "INPUT", "-v", "-x", "-n",
            ])
            .output()
            .expect("cannot run iptables");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|line| line.contains(FROM_BEFORE))
            .and_then(|line| line.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Whether something in the namespace accepts TCP connections on `addr:port`.
    pub fn accepts(&self, addr: &str, port: u16) -> bool {
        accepts_in(&self.name, addr, port)
    }

    /// The pids of the processes in the namespace.
    pub fn pids(&self) -> Vec<String> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The calling thread inside a [`Netns`]; dropping it puts the thread back.
pub struct InNetns {
    original: std::os::fd::OwnedFd,
}

impl Drop for InNetns {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: the fd is the network namespace this thread was in.
        unsafe { libc::setns(self.original.as_raw_fd(), libc::CLONE_NEWNET) };
    }
}

impl Drop for Netns {
    /// Ends what a test left running in the namespace (SIGTERM, then SIGKILL after 3 s), then
    /// deletes it (the veth pair goes with it).
    fn drop(&mut self) {
        let mut pids = self.pids();
        if !pids.is_empty() {
            let _ = Command::new("kill").arg("-TERM").args(&pids).status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while !pids.is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
                pids = self.pids();
            }
            if !pids.is_empty() {
                let _ = Command::new("kill").arg("-KILL").args(&pids).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A VideoRoom room in Janus's configuration: H.264 (42e01f) and Opus, joins announced.
pub struct JanusRoomConfig {
    pub id: u64,
    pub pin: Option<String>,
    /// The most publishers at once.
    pub publishers: u32,
}

/// Janus with a configuration directory of its own (in a temporary directory, kept when the
/// test fails), started in a `Netns`; dropping it stops Janus.
pub struct Janus {
    netns: String,
    addr: String,
    port: u16,
    dir: PathBuf,
    process: Option<Owned>,
}

impl Janus {
    /// Writes the configuration, starts Janus in `netns` and waits until its WebSocket port
    /// accepts connections.
    pub fn start(netns: &Netns, rooms: &[JanusRoomConfig]) -> Janus {
        require_tool("janus", "janus");
        require_tool("bash", "bash");
        let lib = janus_lib_dir();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{}-janus{n}", netns.name()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cannot create Janus's directory");
        let addr = netns.janus_addr();
        let port = (FIRST_PORT..FIRST_PORT + 100)
            .find(|&port| !netns.accepts(&addr, port))
            .expect("no free port for Janus in the namespace");
        let files = [
            ("janus.jcfg", core_config(&dir, &lib, &addr)),
            (
                "janus.transport.websockets.jcfg",
                websockets_config(&addr, port),
            ),
            ("janus.plugin.videoroom.jcfg", videoroom_config(rooms)),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("cannot write Janus's configuration");
        }
        let mut janus = Janus {
            netns: netns.name().to_string(),
            addr,
            port,
            dir,
            process: None,
        };
        janus.launch();
        janus
    }

    fn launch(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("janus.out"))
            .expect("cannot open janus.out");
        // Janus appends to its log: this start's lines are the ones after this.
        let logged_before = std::fs::metadata(self.dir.join("janus.log")).map_or(0, |m| m.len());
        let started = Instant::now();
        let mut process = Owned(
            Command::new("ip")
                .args(["netns", "exec", &self.netns, "janus", "-C"])
                .arg(self.dir.join("janus.jcfg"))
                .arg("-F")
                .arg(&self.dir)
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("cannot share janus.out"))
                .stderr(out)
                .spawn()
                .expect("cannot start janus"),
        );
        loop {
            if accepts_in(&self.netns, &self.addr, self.port) {
                break;
            }
            if let Some(status) = process.0.try_wait().expect("try_wait failed") {
                panic!(
                    "Janus exited ({status}) before its WebSocket port opened; its log:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < START_LIMIT,
                "Janus did not open {} within {START_LIMIT:?}; its log:\n{}",
                self.ws_url(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // A configuration file Janus cannot parse is only an error in its log (a broken
        // janus.plugin.videoroom.jcfg gives a VideoRoom with no rooms and no admin key): read
        // this start's log up to the transport's last line, which follows the plugins'.
        let deadline = Instant::now() + Duration::from_secs(5);
        let this_start = loop {
            let log = std::fs::read(self.dir.join("janus.log")).unwrap_or_default();
            let this_start =
                String::from_utf8_lossy(log.get(logged_before as usize..).unwrap_or(&log))
                    .into_owned();
            if this_start.contains("WebSockets transport plugin initialized")
                || Instant::now() > deadline
            {
                break this_start;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            !this_start.contains("Error parsing config file")
                && !this_start.contains("Error reading configuration file"),
            "Janus could not read its configuration; its log:\n{}",
            self.log()
        );
        self.process = Some(process);
    }

    /// Janus's WebSocket address, `ws://10.99.X.1:PORT/`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}:{}/", self.addr, self.port)
    }

    /// `confer serve` for Confer rooms whose media moves to this Janus past `mesh_limit`
    /// participants, on loopback (where a page may open the camera: a secure context without
    /// TLS), run from the calling thread's namespace.
    pub fn confer_server(&self, home: &Path, mesh_limit: usize) -> super::serve::Serve {
        let url = self.ws_url();
        let limit = mesh_limit.to_string();
        super::serve::Serve::start_at(
            home,
            "127.0.0.1:0",
            &[
                "--open",
                "--janus",
                &url,
                "--janus-admin-key",
                ADMIN_KEY,
                "--mesh-limit",
                &limit,
            ],
        )
    }

    /// Holds back what Janus says over the WebSocket to the participant whose process is
    /// `pid` (its TCP segments are dropped, and sent again by the kernel once let through):
    /// the participant hears of nothing in the room meanwhile, while its media flows on.
    /// Returns the rule, for [`Janus::let_through`].
    pub fn hold_back_signaling_to(&self, pid: u32) -> Vec<String> {
        let port = self
            .signaling_port_of(pid)
            .unwrap_or_else(|| panic!("process {pid} has no WebSocket to Janus"));
        let rule: Vec<String> = [
            "INPUT", "-i", "lo", "-p", "tcp", "-s", &self.addr, "--sport",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([self.port.to_string(), "--dport".into(), port.to_string()])
        .chain(["-j", "DROP"].iter().map(|s| s.to_string()))
        .collect();
        self.iptables("-I", &rule);
        rule
    }

    /// Holds back Janus's DTLS: the UDP datagrams from its media ports whose first byte is a
    /// DTLS record's content type (20 to 63), so that a handshake begun meanwhile cannot
    /// finish. STUN (first byte 0 to 3), RTP and RTCP (128 to 191) pass, and connections set up
    /// before go on. Returns the rule, for [`Janus::let_through`].
    pub fn hold_back_dtls(&self) -> Vec<String> {
        let rule: Vec<String> = [
            "INPUT",
            "-i",
            "lo",
            "-p",
            "udp",
            "--sport",
            JANUS_RTP_PORTS,
            "-m",
            "u32",
            "--u32",
            "0>>22&0x3C@8>>24=20:63",
            "-j",
            "DROP",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        self.iptables("-I", &rule);
        rule
    }

    /// Removes a rule of [`Janus::hold_back_signaling_to`] or [`Janus::hold_back_dtls`].
    pub fn let_through(&self, rule: &[String]) {
        self.iptables("-D", rule);
    }

    fn iptables(&self, how: &str, rule: &[String]) {
        let status = Command::new("ip")
            .args(["netns", "exec", &self.netns, "iptables", how])
            .args(rule)
            .status()
            .expect("cannot run iptables (package iptables)");
        assert!(status.success(), "iptables {how} {rule:?} failed");
    }

    /// The local port of `pid`'s WebSocket to Janus, as `ss` lists the namespace's sockets.
    fn signaling_port_of(&self, pid: u32) -> Option<u16> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "ss",
                "-tnpH",
                "state",
                "established",
            ])
            .output()
            .expect("cannot run ss (package iproute2)");
        let janus = format!("{}:{}", self.addr, self.port);
        let owner = format!("pid={pid},");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|line| {
                let columns: Vec<&str> = line.split_whitespace().collect();
                // Recv-Q, Send-Q, local address, peer address, process.
                let (local, peer) = (columns.get(2)?, columns.get(3)?);
                if *peer != janus || !line.contains(&owner) {
                    return None;
                }
                local.rsplit_once(':')?.1.parse().ok()
            })
    }

    /// Confer's link to a room of this Janus: `janus+ws://10.99.X.1:PORT/?room=ROOM[&pin=PIN]`.
    pub fn link(&self, room: u64, pin: Option<&str>) -> String {
        let mut link = format!("janus+ws://{}:{}/?room={room}", self.addr, self.port);
        if let Some(pin) = pin {
            link.push_str("&pin=");
            for byte in pin.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    link.push(byte as char);
                } else {
                    let _ = write!(link, "%{byte:02X}");
                }
            }
        }
        link
    }

    /// The pid of the running Janus.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Owned::pid)
    }

    /// The directory with Janus's configuration and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Janus's log (every start's, in order), then what it wrote to stdout and stderr.
    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("janus.log")).unwrap_or_default();
        let out = std::fs::read_to_string(self.dir.join("janus.out")).unwrap_or_default();
        format!("{log}\n--- janus stdout and stderr ---\n{out}")
    }

    /// Stops Janus (SIGTERM, SIGKILL after 3 s) and waits for it; every session is gone.
    pub fn stop(&mut self) {
        drop(self.process.take());
    }

    /// Stops Janus and starts it again with the same configuration, on the same address and
    /// port, and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "Janus's configuration and log are kept in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether something in the namespace `netns` accepts TCP connections on `addr:port` (a
/// connection from inside it: bash's /dev/tcp).
fn accepts_in(netns: &str, addr: &str, port: u16) -> bool {
    Command::new("ip")
        .args(["netns", "exec", netns, "bash", "-c"])
        .arg(format!(": </dev/tcp/{addr}/{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Where Janus's plugins, transports, event handlers and loggers are (Debian: the multiarch
/// library directory).
fn janus_lib_dir() -> PathBuf {
    let candidates = [
        format!("/usr/lib/{}-linux-gnu/janus", std::env::consts::ARCH),
        "/usr/lib/janus".to_string(),
        "/usr/local/lib/janus".to_string(),
        "/opt/janus/lib/janus".to_string(),
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|dir| dir.join("plugins/libjanus_videoroom.so").exists())
        .unwrap_or_else(|| panic!("Janus's VideoRoom plugin is in none of {candidates:?}"))
}

/// `janus.jcfg`: folders, logging to `DIR/janus.log`, the one address for SDP and ICE, and
/// only the VideoRoom plugin and the WebSockets transport.
fn core_config(dir: &Path, lib: &Path, addr: &str) -> String {
    let (dir, lib) = (dir.display(), lib.display());
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# A Janus of one Confer test (tests/support/janus.rs), in its network namespace."
    );
    let _ = writeln!(c, "general: {{");
    let _ = writeln!(c, "    configs_folder = \"{dir}\"");
    let _ = writeln!(c, "    plugins_folder = \"{lib}/plugins\"");
    let _ = writeln!(c, "    transports_folder = \"{lib}/transports\"");
    let _ = writeln!(c, "    events_folder = \"{lib}/events\"");
    let _ = writeln!(c, "    loggers_folder = \"{lib}/loggers\"");
    let _ = writeln!(c, "    log_to_stdout = false");
    let _ = writeln!(c, "    log_to_file = \"{dir}/janus.log\"");
    let level = std::env::var("CONFER_TEST_JANUS_LOG_LEVEL")
        .ok()
        .and_then(|l| l.parse::<u8>().ok())
        .unwrap_or(DEBUG_LEVEL);
    let _ = writeln!(c, "    debug_level = {level}");
    let _ = writeln!(c, "    debug_timestamps = true");
    let _ = writeln!(c, "    debug_colors = false");
    let _ = writeln!(c, "    interface = \"{addr}\"");
    let _ = writeln!(c, "    server_name = \"confer-test-janus\"");
    let _ = writeln!(c, "    session_timeout = 60");
    let _ = writeln!(c, "}}");
    let _ = writeln!(c, "media: {{");
    let _ = writeln!(
        c,
        "    rtp_port_range = \"{}\"",
        JANUS_RTP_PORTS.replace(':', "-")
    );
    let _ = writeln!(c, "}}");
    let _ = writeln!(c, "nat: {{");
    let _ = writeln!(c, "    nice_debug = false");
    let _ = writeln!(c, "    ice_enforce_list = \"{JANUS_INTERFACE}\"");
    let _ = writeln!(c, "}}");
    let _ = writeln!(c, "plugins: {{");
    let _ = writeln!(c, "    disable = \"{}\"", DISABLED_PLUGINS);
    let _ = writeln!(c, "}}");
    let _ = writeln!(c, "transports: {{");
    let _ = writeln!(c, "    disable = \"{}\"", DISABLED_TRANSPORTS);
    let _ = writeln!(c, "}}");
    let _ = writeln!(c, "loggers: {{");
    let _ = writeln!(c, "    disable = \"libjanus_jsonlog.so\"");
    let _ = writeln!(c, "}}");
    let _ = writeln!(c, "events: {{");
    let _ = writeln!(c, "    broadcast = false");
    let _ = writeln!(c, "}}");
    c
}

/// `janus.transport.websockets.jcfg`: plain `ws://` on Janus's address only, no admin API.
fn websockets_config(addr: &str, port: u16) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "general: {{");
    let _ = writeln!(c, "    json = \"indented\"");
    let _ = writeln!(c, "    ws = true");
    let _ = writeln!(c, "    ws_port = {port}");
    let _ = writeln!(c, "    ws_ip = \"{addr}\"");
    let _ = writeln!(c, "    wss = false");
    let _ = writeln!(c, "}}");
    let _ = writeln!(c, "admin: {{");
    let _ = writeln!(c, "    admin_ws = false");
    let _ = writeln!(c, "    admin_wss = false");
    let _ = writeln!(c, "}}");
    c
}

/// `janus.plugin.videoroom.jcfg`: the admin key for rooms made through the API, and `rooms`.
fn videoroom_config(rooms: &[JanusRoomConfig]) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "general: {{");
    let _ = writeln!(c, "    admin_key = \"{ADMIN_KEY}\"");
    let _ = writeln!(c, "}}");
    for room in rooms {
        assert!(room.id > 0, "Janus room ids start at 1");
        let _ = writeln!(c);
        let _ = writeln!(c, "room-{}: {{", room.id);
        let _ = writeln!(c, "    description = \"Confer test room {}\"", room.id);
        let _ = writeln!(c, "    secret = \"{ROOM_SECRET}\"");
        let _ = writeln!(c, "    publishers = {}", room.publishers);
        let _ = writeln!(c, "    videocodec = \"h264\"");
        let _ = writeln!(c, "    audiocodec = \"opus\"");
        let _ = writeln!(c, "    h264_profile = \"42e01f\"");
        let _ = writeln!(c, "    notify_joining = true");
        if let Some(pin) = &room.pin {
            assert!(
                !pin.is_empty() && !pin.contains(['"', '\\']) && !pin.contains(char::is_control),
                "a PIN for Janus's configuration file: not empty, no quotes, backslashes or \
                 control characters"
            );
            let _ = writeln!(c, "    pin = \"{pin}\"");
        }
        let _ = writeln!(c, "}}");
    }
    c
}
