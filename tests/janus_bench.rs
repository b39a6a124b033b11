//! A bench, not a test (ignored; `benches/janus.sh` runs it): the same meeting of natives
//! (synthetic 720p camera and tone) as a mesh through `confer serve` and through Janus, 4 and
//! 6 people, one after the other in a network namespace of its own. Per participant: CPU (from
//! /proc over the steady part) and upload (iptables' byte counters on UDP in the namespace:
//! all of it in a mesh, what goes to Janus's media ports through Janus); Janus's own CPU
//! beside. Figures vary with the machine's load: compare rows of one run.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::janus::{JANUS_RTP_PORTS, Janus, JanusRoomConfig, Netns};
use support::serve::Serve;
use support::{CONFER, Owned, confer_as, join_with};

const ROOM: u64 = 1234;
/// The meeting's length, and the steady part measured (after everyone has joined).
const MEETING: u32 = 40;
const MEASURE_FROM: Duration = Duration::from_secs(12);
const MEASURE_FOR: Duration = Duration::from_secs(20);

/// CPU seconds a process has used (user and system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat (indexes 11 and 12 after the name), in
    // clock ticks: USER_HZ, 100 a second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// Bytes counted by the namespace's OUTPUT rules: (all UDP, UDP to Janus's media ports).
fn udp_bytes(netns: &Netns) -> (u64, u64) {
    let out = netns
        .command("iptables")
        .args(["-L", "OUTPUT", "-v", "-x", "-n"])
        .output()
        .expect("iptables");
    let text = String::from_utf8_lossy(&out.stdout);
    // Our two rules, in the order they were added, after the chain's two header lines (`-n`
    // names the protocol by number, so the lines are taken by place).
    let mut counts = text
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
    (counts.next().unwrap_or(0), counts.next().unwrap_or(0))
}

fn count_udp(netns: &Netns) {
    for rule in [
        vec!["-A", "OUTPUT", "-o", "lo", "-p", "udp"],
        vec![
            "-A",
            "OUTPUT",
            "-o",
            "lo",
            "-p",
            "udp",
            "--dport",
            JANUS_RTP_PORTS,
        ],
    ] {
        let status = netns.command("iptables").args(&rule).status().unwrap();
        assert!(status.success(), "iptables");
    }
}

/// `n` natives on `link` (a command each, inside the namespace) named p0, p1..., with
/// `options` after `join` (none: the synthetic 720p camera).
fn natives(netns: &Netns, home: &Path, link: &str, n: usize, options: &[&str]) -> Vec<Owned> {
    (0..n)
        .map(|i| {
            join_with(
                confer_as(netns.command(CONFER), home),
                home,
                link,
                &format!("p{i}"),
                MEETING,
                options,
            )
        })
        .collect()
}

/// `n` natives on `link` (see [`natives`]): their mean CPU over the steady part, in percent
/// of a core; returns once they have ended.
fn natives_cpu(netns: &Netns, home: &Path, link: &str, n: usize, options: &[&str]) -> f64 {
    let mut natives = natives(netns, home, link, n, options);
    std::thread::sleep(MEASURE_FROM);
    let pids: Vec<u32> = natives.iter().map(Owned::pid).collect();
    let cpu = mean(&cpu_over_window(&pids));
    all_end(&mut natives, Duration::from_secs(60));
    cpu
}

/// Each process's CPU over the next `MEASURE_FOR`, in percent of a core.
fn cpu_over_window(pids: &[u32]) -> Vec<f64> {
    let before: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
    let t0 = Instant::now();
    std::thread::sleep(MEASURE_FOR);
    let seconds = t0.elapsed().as_secs_f64();
    pids.iter()
        .zip(before)
        .map(|(p, b)| (cpu_seconds(*p) - b) / seconds * 100.0)
        .collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Waits for each native to end by itself.
fn all_end(natives: &mut [Owned], limit: Duration) {
    for native in natives {
        assert!(
            native.wait_for_exit(limit).is_some(),
            "a native did not end"
        );
    }
}

struct Row {
    what: String,
    cpu_percent: f64,
    upload_kbps: f64,
    janus_cpu_percent: Option<f64>,
}

/// Starts `n` natives on `link` (a command each, inside the namespace), measures the steady
/// part, and waits for them to end.
fn measure(
    what: String,
    netns: &Netns,
    home: &Path,
    link: &str,
    n: usize,
    janus: Option<u32>,
) -> Row {
    let mut natives = natives(netns, home, link, n, &[]);
    let started = Instant::now();
    std::thread::sleep(MEASURE_FROM);
    // Janus, when there, last.
    let pids: Vec<u32> = natives.iter().map(Owned::pid).chain(janus).collect();
    let bytes_before = udp_bytes(netns);
    let t0 = Instant::now();
    let mut cpus = cpu_over_window(&pids);
    let seconds = t0.elapsed().as_secs_f64();
    let bytes_after = udp_bytes(netns);
    let janus_cpu = janus.and_then(|_| cpus.pop());
    let cpu = mean(&cpus);
    let sent = if janus.is_some() {
        bytes_after.1 - bytes_before.1
    } else {
        bytes_after.0 - bytes_before.0
    };
    let upload_kbps = sent as f64 * 8.0 / seconds / 1000.0 / n as f64;
    let limit = Duration::from_secs(u64::from(MEETING) + 30).saturating_sub(started.elapsed());
    all_end(&mut natives, limit);
    Row {
        what,
        cpu_percent: cpu,
        upload_kbps,
        janus_cpu_percent: janus_cpu,
    }
}

#[test]
#[ignore = "a bench: benches/janus.sh"]
fn mesh_and_janus_cpu_and_upload_per_participant() {
    let mut rows = Vec::new();
    for n in [4, 6] {
        // A mesh through Confer's own server, in a namespace of its own.
        let netns = Netns::new();
        count_udp(&netns);
        let home = tempfile::tempdir().unwrap();
        let serve = {
            let _inside = netns.enter();
            Serve::start(home.path(), &["--open"])
        };
        let link = format!("confer://{}/bench?insecure=1", serve.addr);
        rows.push(measure(
            format!("mesh, {n}"),
            &netns,
            home.path(),
            &link,
            n,
            None,
        ));
        drop(serve);
        // The same meeting through Janus.
        let netns = Netns::new();
        count_udp(&netns);
        let home = tempfile::tempdir().unwrap();
        let janus = Janus::start(
            &netns,
            &[JanusRoomConfig {
                id: ROOM,
                pin: None,
                publishers: 12,
            }],
        );
        let link = janus.link(ROOM, None);
        let pid = janus.pid();
        rows.push(measure(
            format!("Janus, {n}"),
            &netns,
            home.path(),
            &link,
            n,
            pid,
        ));
    }
    println!("\n| meeting | CPU per participant | upload per participant | Janus's CPU |");
    println!("|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {:.0} % | {:.0} kbit/s | {} |",
            row.what,
            row.cpu_percent,
            row.upload_kbps,
            row.janus_cpu_percent
                .map_or("-".into(), |c| format!("{c:.0} %")),
        );
    }
    // Something was measured: a bench of nothing is no bench.
    assert!(
        rows.iter()
            .all(|r| r.cpu_percent > 1.0 && r.upload_kbps > 10.0)
    );
}

/// The CPU seconds used so far by the processes in the namespace whose name starts with
/// `prefix` (Chromium's browser, renderer, GPU and utility processes: `chrom`).
fn cpu_of_named(netns: &Netns, prefix: &str) -> f64 {
    netns
        .pids()
        .iter()
        .filter_map(|p| p.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim().starts_with(prefix))
        })
        .map(cpu_seconds)
        .sum()
}

/// Janus's room for the benches below, started in `netns`.
fn janus_in(netns: &Netns) -> Janus {
    Janus::start(
        netns,
        &[JanusRoomConfig {
            id: ROOM,
            pin: None,
            publishers: 12,
        }],
    )
}

/// Ten natives in one Janus room (320x180 synthetic cameras, so that ten fit on two cores),
/// joining together: per participant CPU, the pictures a second received of each other (over
/// the last stats line of each pair), and the time from joining to a first picture of
/// everyone (each native's slowest first picture).
#[test]
#[ignore = "a bench: benches/janus.sh"]
fn ten_in_a_janus_room() {
    const N: usize = 10;
    let netns = Netns::new();
    let home = tempfile::tempdir().unwrap();
    let janus = janus_in(&netns);
    let link = janus.link(ROOM, None);
    let mut natives = natives(
        &netns,
        home.path(),
        &link,
        N,
        &["--camera", "test-pattern:320x180"],
    );
    std::thread::sleep(MEASURE_FROM);
    let pids: Vec<u32> = natives.iter().map(Owned::pid).chain(janus.pid()).collect();
    let mut cpus = cpu_over_window(&pids);
    let janus_cpu = janus.pid().and_then(|_| cpus.pop());
    let cpu = mean(&cpus);
    all_end(&mut natives, Duration::from_secs(60));
    let mut fps = Vec::new();
    let mut everyone_after = Vec::new();
    for i in 0..N {
        let saw = support::last_stats_by_name(&home.path().join(format!("p{i}.jsonl")));
        assert_eq!(saw.len(), N - 1, "p{i} saw {:?}", saw.keys());
        fps.extend(saw.values().filter_map(|s| s["fps_in"].as_f64()));
        // Each first picture is timed from our own joining.
        let slowest = saw
            .values()
            .map(|s| s["first_frame_ms"].as_f64().unwrap_or(f64::INFINITY))
            .fold(0.0, f64::max);
        everyone_after.push(slowest / 1000.0);
    }
    fps.sort_by(f64::total_cmp);
    everyone_after.sort_by(f64::total_cmp);
    println!(
        "\n| ten natives through Janus | CPU per participant | pictures a second received (median of 90 pairs, lowest) | joining to everyone's first picture (median, slowest) | Janus's CPU |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| 320x180 cameras | {cpu:.0} % | {:.1}, {:.1} | {:.1} s, {:.1} s | {} |",
        fps[fps.len() / 2],
        fps[0],
        everyone_after[N / 2],
        everyone_after[N - 1],
        janus_cpu.map_or("-".into(), |c| format!("{c:.0} %"))
    );
    assert!(cpu > 1.0 && fps[fps.len() / 2] > 0.0, "nothing measured");
}

/// The same Janus meeting, six people, with Janus's own demo page in Chromium in place of
/// the natives: CPU per participant side by side (the natives with a 640x480 synthetic camera,
/// the size of Chromium's fake one; the demo page shows at most five others, so six is the
/// meeting both can hold). Chromium's CPU is all of its processes', divided by its pages.
#[test]
#[ignore = "a bench: benches/janus.sh"]
fn natives_against_chromium_on_the_demo_page() {
    const N: usize = 6;
    // The natives.
    let netns = Netns::new();
    let home = tempfile::tempdir().unwrap();
    let janus = janus_in(&netns);
    let link = janus.link(ROOM, None);
    let native_cpu = natives_cpu(
        &netns,
        home.path(),
        &link,
        N,
        &["--camera", "test-pattern:640x480"],
    );
    drop(janus);
    drop(netns);

    // Chromium, one page per participant.
    let netns = Netns::new();
    let home = tempfile::tempdir().unwrap();
    let janus = janus_in(&netns);
    let site_dir = home.path().join("site");
    std::fs::create_dir(&site_dir).unwrap();
    let _site = support::janus_demo::demo_site(&netns, &janus, &site_dir);
    let _inside = netns.enter();
    let mut browser = support::browser::Browser::start(&home.path().join("browser.log"));
    for i in 0..N {
        support::janus_demo::demo_joins(&mut browser, &format!("p{i}"), ROOM);
    }
    browser.wait_for(
        "p0",
        support::janus_demo::PLAYS_REMOTE,
        Duration::from_secs(30),
        "the others on the first page",
    );
    std::thread::sleep(Duration::from_secs(5));
    let before = cpu_of_named(&netns, "chrom");
    let t0 = Instant::now();
    std::thread::sleep(MEASURE_FOR);
    let chromium_cpu =
        (cpu_of_named(&netns, "chrom") - before) / t0.elapsed().as_secs_f64() * 100.0 / N as f64;
    println!("\n| six through Janus, 640x480 | CPU per participant | ratio to Chromium |");
    println!("|---|---|---|");
    println!(
        "| Confer (native) | {native_cpu:.0} % | {:.2} |",
        native_cpu / chromium_cpu
    );
    println!("| Chromium on Janus's demo page | {chromium_cpu:.0} % | 1.00 |");
    assert!(native_cpu > 1.0 && chromium_cpu > 1.0, "nothing measured");
}

/// A guest page's pictures through Janus so far: those it decoded of each sender (by name)
/// and those it encoded of its camera, with why Chromium limits the camera's quality if it
/// does ("cpu", "bandwidth" or "none").
const PAGE_PICTURES_VIA_JANUS: &str = r#"(async () => {
  const sfu = window.confer.sfu;
  const out = { received: {}, sent: 0, limit: null };
  for (const r of (sfu.subPc ? await sfu.subPc.getStats() : new Map()).values()) {
    if (r.type !== "inbound-rtp" || r.kind !== "video") continue;
    const id = sfu.mids.get(r.mid);
    out.received[window.confer.names.get(id) || id] = r.framesDecoded || 0;
  }
  for (const r of (sfu.pubPc ? await sfu.pubPc.getStats() : new Map()).values()) {
    if (r.type !== "outbound-rtp" || r.kind !== "video") continue;
    out.sent = r.framesEncoded || 0;
    out.limit = r.qualityLimitationReason;
  }
  return out;
})()"#;

/// The median and the lowest of `values`.
fn median_and_lowest(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values.get(values.len() / 2).copied().unwrap_or(0.0),
        values.first().copied().unwrap_or(0.0),
    )
}

/// Ten people in a Confer room whose media goes through Janus (`confer serve --janus`, with a
/// mesh of one, so the room moves to Janus as the second joins): ten natives, then ten
/// Chromium pages on Confer's own guest page in their place (the page subscribes to everyone,
/// where Janus's demo page holds five others). Every camera is 320x180 at 30 pictures a second
/// (so that ten fit on two cores): the natives' synthetic one, and Chromium's fake one
/// constrained to that. CPU per participant side by side, with the pictures a second each
/// receives of the others and sends, so that a side that kept up is not taken for one that
/// fell behind. Chromium's CPU is all of its processes', divided by its pages.
#[test]
#[ignore = "a bench: benches/janus.sh"]
fn ten_natives_against_ten_chromium_guests_through_janus() {
    const N: usize = 10;
    // The natives.
    let netns = Netns::new();
    let home = tempfile::tempdir().unwrap();
    let janus = janus_in(&netns);
    let inside = netns.enter();
    let server = janus.confer_server(home.path(), 1);
    let link = format!("confer://{}/ten?insecure=1", server.addr);
    let native_cpu = natives_cpu(
        &netns,
        home.path(),
        &link,
        N,
        &["--camera", "test-pattern:320x180"],
    );
    let mut native_fps = Vec::new();
    for i in 0..N {
        let saw = support::last_stats_by_name(&home.path().join(format!("p{i}.jsonl")));
        assert_eq!(saw.len(), N - 1, "p{i} saw {:?}", saw.keys());
        native_fps.extend(saw.values().filter_map(|s| s["fps_in"].as_f64()));
    }
    drop(server);
    drop(inside);
    drop(janus);
    drop(netns);

    // Chromium, one guest page per participant.
    let netns = Netns::new();
    let home = tempfile::tempdir().unwrap();
    let janus = janus_in(&netns);
    let _inside = netns.enter();
    let server = janus.confer_server(home.path(), 1);
    let mut browser = support::browser::Browser::start(&home.path().join("browser.log"));
    let names: Vec<String> = (0..N).map(|i| format!("p{i}")).collect();
    for name in &names {
        browser.open(name, &format!("http://{}/j/ten?name={name}", server.addr));
        browser.click(name, "#join");
        browser.wait_for(
            name,
            "(async () => { const t = window.confer.stream.getVideoTracks()[0]; if (!t) \
             return false; await t.applyConstraints({width: 320, height: 180, frameRate: 30}); \
             return true; })()",
            Duration::from_secs(30),
            "the guest's camera",
        );
    }
    let everyone_on = |page: &serde_json::Value| {
        page["received"]
            .as_object()
            .is_some_and(|o| o.len() == N - 1 && o.values().all(|f| f.as_u64().unwrap_or(0) > 0))
    };
    for name in &names {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !everyone_on(&browser.eval(name, PAGE_PICTURES_VIA_JANUS)) {
            assert!(
                Instant::now() < deadline,
                "{name} does not receive everyone through Janus: {}\nbrowser log:\n{}",
                browser.eval(name, PAGE_PICTURES_VIA_JANUS),
                browser.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    std::thread::sleep(Duration::from_secs(5));
    let pictures = |browser: &mut support::browser::Browser| -> Vec<serde_json::Value> {
        names
            .iter()
            .map(|name| browser.eval(name, PAGE_PICTURES_VIA_JANUS))
            .collect()
    };
    let pictures_before = pictures(&mut browser);
    let cpu_before = cpu_of_named(&netns, "chrom");
    let t0 = Instant::now();
    std::thread::sleep(MEASURE_FOR);
    let seconds = t0.elapsed().as_secs_f64();
    let chromium_cpu = (cpu_of_named(&netns, "chrom") - cpu_before) / seconds * 100.0 / N as f64;
    let pictures_after = pictures(&mut browser);
    // Pictures a second over the window: each page's of each sender, and each page's own.
    let count = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let mut chromium_fps = Vec::new();
    let mut sent_fps = Vec::new();
    let mut limits = Vec::new();
    for (before, after) in pictures_before.iter().zip(&pictures_after) {
        for (sender, decoded) in after["received"].as_object().into_iter().flatten() {
            chromium_fps.push((count(decoded) - count(&before["received"][sender])) / seconds);
        }
        sent_fps.push((count(&after["sent"]) - count(&before["sent"])) / seconds);
        limits.extend(after["limit"].as_str().map(str::to_string));
    }
    limits.sort_unstable();
    limits.dedup();
    let (sent_median, sent_lowest) = median_and_lowest(sent_fps);
    let (native_median, native_lowest) = median_and_lowest(native_fps);
    let (chromium_median, chromium_lowest) = median_and_lowest(chromium_fps);
    println!(
        "\n| ten through Janus (a Confer room), 320x180 | CPU per participant | ratio to Chromium | pictures a second received (median of 90 pairs, lowest) |"
    );
    println!("|---|---|---|---|");
    println!(
        "| Confer (native) | {native_cpu:.0} % | {:.2} | {native_median:.1}, {native_lowest:.1} |",
        native_cpu / chromium_cpu
    );
    println!(
        "| Chromium on Confer's guest page | {chromium_cpu:.0} % | 1.00 | {chromium_median:.1}, {chromium_lowest:.1} |"
    );
    println!(
        "Chromium's pages encoded {sent_median:.1} pictures a second (median; lowest \
         {sent_lowest:.1}) of the 30 asked; their quality limitation: {limits:?}"
    );
    assert!(native_cpu > 1.0 && chromium_cpu > 1.0, "nothing measured");
}
