//! The audio jitter buffer over a simulated network (seeded): jitter that rises and falls,
//! reordering, loss, and sender clocks that run fast or slow. Simulated time, no sleeping.

use std::time::{Duration, Instant};

use confer::media::audio::jitter::{FRAME, JitterBuffer, Playout};

/// xorshift64*: a few lines of seeded randomness, enough for a network.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One simulated minute or so. `jitter(t)` gives the spread of extra delay at sender time t.
struct Run {
    seconds: u32,
    /// Sender's clock rate relative to the receiver's (1.003 = 0.3 % fast).
    clock: f64,
    loss: f64,
    jitter: fn(f64) -> f64,
    seed: u64,
}

#[derive(Default)]
struct Trace {
    /// (receiver seconds, late so far, delay in ms)
    samples: Vec<(f64, u64, f64)>,
    played: u64,
}

fn simulate(run: &Run) -> (Trace, confer::media::audio::jitter::JitterStats) {
    let t0 = Instant::now();
    let mut rng = Rng(run.seed);
    let frame_s = FRAME.as_secs_f64();
    // Every packet's arrival time, in receiver seconds.
    let mut arrivals: Vec<(f64, u16)> = (0..(f64::from(run.seconds) / frame_s) as u32)
        .filter_map(|i| {
            let sent = f64::from(i) * frame_s / run.clock;
            let delay = 0.030 + rng.next_f64() * (run.jitter)(sent);
            (rng.next_f64() >= run.loss).then_some((sent + delay, i as u16))
        })
        .collect();
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut jb = JitterBuffer::new();
    let mut trace = Trace::default();
    let mut next_arrival = 0;
    let mut tick = 0u32;
    loop {
        let pop_at = f64::from(tick) * frame_s;
        if pop_at > f64::from(run.seconds) {
            break;
        }
        while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= pop_at {
            let (at, seq) = arrivals[next_arrival];
            jb.push(seq, &seq.to_be_bytes(), t0 + Duration::from_secs_f64(at));
            next_arrival += 1;
        }
        if !matches!(jb.pop(t0 + Duration::from_secs_f64(pop_at)), Playout::Wait) {
            trace.played += 1;
        }
        if tick.is_multiple_of(50) {
            trace
                .samples
                .push((pop_at, jb.stats().late, jb.delay().as_secs_f64() * 1000.0));
        }
        tick += 1;
    }
    (trace, jb.stats())
}

fn late_between(trace: &Trace, from: f64, to: f64) -> u64 {
    let at = |t: f64| {
        trace
            .samples
            .iter()
            .rev()
            .find(|s| s.0 <= t)
            .map_or(0, |s| s.1)
    };
    at(to) - at(from)
}

fn delay_at(trace: &Trace, t: f64) -> f64 {
    trace
        .samples
        .iter()
        .rev()
        .find(|s| s.0 <= t)
        .map_or(0.0, |s| s.2)
}

#[test]
fn delay_follows_jitter_up_and_back_down_without_underruns_once_settled() {
    for seed in [1, 2, 3] {
        let run = Run {
            seconds: 60,
            clock: 1.0,
            loss: 0.02,
            // Calm, then 120 ms of jitter (packets overtake each other), then calm again.
            jitter: |t| {
                if (15.0..35.0).contains(&t) {
                    0.120
                } else {
                    0.010
                }
            },
            seed,
        };
        let (trace, stats) = simulate(&run);
        assert_eq!(late_between(&trace, 5.0, 15.0), 0, "seed {seed}");
        assert_eq!(late_between(&trace, 25.0, 35.0), 0, "seed {seed}");
        assert_eq!(late_between(&trace, 45.0, 60.0), 0, "seed {seed}");
        let calm = delay_at(&trace, 14.0);
        let rough = delay_at(&trace, 34.0);
        let calm_again = delay_at(&trace, 59.0);
        assert!(rough > calm + 30.0, "seed {seed}: {calm} then {rough} ms");
        assert!(
            calm_again < rough - 30.0,
            "seed {seed}: {rough} then {calm_again} ms"
        );
        assert!(
            (10.0..=200.0).contains(&calm_again),
            "seed {seed}: {calm_again}"
        );
        // Lost packets were covered by FEC or concealment, never played twice or skipped.
        assert!(stats.lost > 0 && stats.fec_recovered > 0, "{stats:?}");
    }
}

#[test]
fn clock_drift_either_way_is_absorbed() {
    for clock in [1.003, 0.997] {
        let run = Run {
            seconds: 60,
            clock,
            loss: 0.0,
            jitter: |_| 0.020,
            seed: 7,
        };
        let (trace, stats) = simulate(&run);
        assert_eq!(
            late_between(&trace, 5.0, 60.0),
            0,
            "clock {clock}: {stats:?}"
        );
        for (t, _, delay) in trace.samples.iter().filter(|s| s.0 > 5.0) {
            assert!(
                (5.0..=200.0).contains(delay),
                "clock {clock} at {t}: {delay} ms"
            );
        }
        // 0.3 % over a minute is 180 ms: it was corrected by dropping or inserting frames.
        if clock > 1.0 {
            assert!(stats.dropped >= 5, "{stats:?}");
        } else {
            assert!(stats.expanded >= 5, "{stats:?}");
        }
    }
}

#[test]
fn an_outage_neither_skips_ahead_nor_leaves_playout_a_second_behind() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut tick = 0u64;
    let mut pop_until = |jb: &mut JitterBuffer, ms: u64| {
        while tick * 20 <= ms {
            jb.pop(at(tick * 20));
            tick += 1;
        }
    };
    // 2 s steady, then the network holds everything for a second and delivers it at once.
    for seq in 0..100u16 {
        pop_until(&mut jb, u64::from(seq) * 20 + 30);
        jb.push(seq, &[0], at(u64::from(seq) * 20 + 30));
    }
    pop_until(&mut jb, 3_000);
    for seq in 100..150u16 {
        jb.push(seq, &[0], at(3_000));
    }
    // At most the maximum delay is kept; the rest of the burst is dropped, not queued.
    let stats = jb.stats();
    assert!(stats.dropped >= 35, "{stats:?}");
    let mut played = 0;
    for i in 0..20 {
        if matches!(jb.pop(at(3_000 + i * 20)), Playout::Packet(_)) {
            played += 1;
        }
    }
    assert!(
        (9..=12).contains(&played),
        "{played} packets left after the burst"
    );
    // The wait for the held packets was one underrun, not one per packet.
    assert!(jb.stats().late <= 1, "{:?}", jb.stats());
}

/// A remote's playout (`PeerPlayout`: jitter buffer, Opus, time compression) on a tone from
/// the synthetic microphone: 2 s of calm, 3 s of up to 150 ms of jitter, then calm again.
/// Returns the most delay (ms, averaged over a second) sound waited just after the rough spell,
/// and what it waits 4.5 s into the calm after it.
fn delay_after_jitter(shortening: bool) -> (f64, f64) {
    use confer::media::audio::opus_codec::{FRAME_SAMPLES, OpusEncoder};
    use confer::media::audio::playout::PeerPlayout;
    use confer::media::audio::synthetic::SyntheticMic;
    use std::time::SystemTime;

    let t0 = Instant::now();
    let mut rng = Rng(9);
    let mut mic = SyntheticMic::tone();
    let mut opus = OpusEncoder::new(32_000).unwrap();
    let mut arrivals: Vec<(Duration, u16, Vec<u8>)> = (0..500u16)
        .map(|seq| {
            let sent = FRAME * u32::from(seq);
            let mut samples = [0.0f32; FRAME_SAMPLES];
            mic.fill(&mut samples, SystemTime::UNIX_EPOCH + sent);
            let packet = opus.encode(&samples).unwrap().to_vec();
            let rough = (2.0..5.0).contains(&sent.as_secs_f64());
            let spread = if rough { 0.150 } else { 0.005 };
            let delay = Duration::from_secs_f64(0.020 + rng.next_f64() * spread);
            (sent + delay, seq, packet)
        })
        .collect();
    arrivals.sort_by_key(|a| a.0);
    let playout = PeerPlayout::new().unwrap();
    let mut playout = if shortening {
        playout
    } else {
        playout.without_shortening()
    };
    let mut next = 0;
    let (mut after_rough, mut calm_again) = (0.0, 0.0);
    // The playout clock, out of step with the sender's.
    for tick in 0..490u32 {
        let now = FRAME * tick + Duration::from_millis(7);
        while next < arrivals.len() && arrivals[next].0 <= now {
            let (at, seq, packet) = &arrivals[next];
            playout.push(*seq, packet, t0 + *at);
            next += 1;
        }
        playout.play(t0 + now, t0 + now);
        let delay = playout.stats().delay.as_secs_f64() * 1000.0;
        if (250..350).contains(&tick) {
            after_rough = f64::max(after_rough, delay);
        }
        if tick == 480 {
            calm_again = delay;
        }
    }
    (after_rough, calm_again)
}

#[test]
fn time_compression_gives_back_the_delay_a_rough_spell_left_within_seconds() {
    let (rough, calm) = delay_after_jitter(true);
    assert!(
        rough > 100.0,
        "the rough spell grew the buffer to {rough} ms"
    );
    // A calm second tells it is over; then it is given back within about one more.
    assert!(calm < 60.0, "4.5 s later sound still waits {calm} ms");
    // Without it (whole frames dropped, one a second after four calm seconds) the delay is
    // still far from where it was.
    let (rough, slow) = delay_after_jitter(false);
    assert!(rough > 80.0, "{rough}");
    assert!(slow > calm + 40.0, "{slow} against {calm} ms");
}
