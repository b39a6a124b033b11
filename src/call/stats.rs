//! Per-remote figures of a call, gathered as it runs and written once a second as one JSON line
//! per remote participant (`confer join --stats FILE`; the keys are a contract with tests
//! outside the project).

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

/// Everything counted about one remote participant.
#[derive(Debug, Clone)]
pub struct RemoteStats {
    pub name: String,
    pub state: &'static str,
    pub frames_decoded: u64,
    pub width_in: usize,
    pub height_in: usize,
    pub audio_packets_in: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rtt: Option<Duration>,
    pub loss_in: Option<f32>,
    pub freezes: u64,
    pub candidate_pair: Option<&'static str>,
    /// Interarrival jitter of their audio.
    pub jitter: Option<Duration>,
    /// From joining the meeting to this participant's first decoded picture.
    pub first_frame: Option<Duration>,
    /// From the synthetic microphone's latest beep to its playing here.
    pub audio_latency_ms: Option<f64>,
    /// Loudness of what was last played from this participant, RMS in [0, 1] (the window's
    /// speaker highlight reads the same figure).
    pub audio_level: f32,
    /// How long pictures wait after decoding for the sound to catch up (lip sync).
    pub video_hold: Duration,
    /// Their microphone and camera, as they last said (None: not said; both on).
    pub media: Option<(bool, bool)>,
    /// Glass-to-glass latencies of pictures seen in the current second, in ms.
    g2g_ms: Vec<f64>,
    last_picture: Option<Instant>,
    frame_interval_avg: Option<f64>,
    // At the previous report.
    reported_frames: u64,
    reported_bytes_in: u64,
    reported_bytes_out: u64,
}

impl RemoteStats {
    pub fn new(name: String) -> Self {
        Self {
            name,
            state: "connecting",
            frames_decoded: 0,
            width_in: 0,
            height_in: 0,
            audio_packets_in: 0,
            bytes_in: 0,
            bytes_out: 0,
            rtt: None,
            loss_in: None,
            freezes: 0,
            candidate_pair: None,
            jitter: None,
            first_frame: None,
            audio_latency_ms: None,
            audio_level: 0.0,
            video_hold: Duration::ZERO,
            media: None,
            g2g_ms: Vec::new(),
            last_picture: None,
            frame_interval_avg: None,
            reported_frames: 0,
            reported_bytes_in: 0,
            reported_bytes_out: 0,
        }
    }

    /// A picture was decoded at `now`; `captured` is what the sender's stripe said, if any.
    pub fn picture(
        &mut self,
        now: Instant,
        width: usize,
        height: usize,
        captured: Option<SystemTime>,
        decoded: SystemTime,
    ) {
        self.width_in = width;
        self.height_in = height;
        if let Some(captured) = captured
            && let Ok(latency) = decoded.duration_since(captured)
        {
            self.g2g_ms.push(latency.as_secs_f64() * 1000.0);
        }
        // A freeze as WebRTC counts them: a gap longer than three frames and than a frame
        // plus 150 ms.
        if let Some(last) = self.last_picture {
            let gap = now.duration_since(last).as_secs_f64();
            let avg = *self.frame_interval_avg.get_or_insert(gap);
            if gap > (3.0 * avg).max(avg + 0.150) {
                self.freezes += 1;
            }
            self.frame_interval_avg = Some(avg * 0.9 + gap.min(1.0) * 0.1);
        }
        self.last_picture = Some(now);
    }

    /// The line for this second; `frames_total` is the decoder's own count.
    pub fn report(&mut self, t: f64, peer: &str, frames_total: u64, interval: f64) -> String {
        self.frames_decoded = frames_total;
        let fps = (frames_total - self.reported_frames) as f64 / interval;
        let bitrate_in =
            (self.bytes_in.saturating_sub(self.reported_bytes_in)) as f64 * 8.0 / interval;
        let bitrate_out =
            (self.bytes_out.saturating_sub(self.reported_bytes_out)) as f64 * 8.0 / interval;
        self.reported_frames = frames_total;
        self.reported_bytes_in = self.bytes_in;
        self.reported_bytes_out = self.bytes_out;
        let (p50, p95) = percentiles(&mut self.g2g_ms);
        // Lip sync: audio's latency less video's (positive: sound after picture). The beep and
        // the flash mark the same instant, each path's latency is measured from it.
        let av_sync = self
            .audio_latency_ms
            .zip(p50)
            .map(|(audio, video)| ((audio - video) * 10.0).round() / 10.0);
        self.g2g_ms.clear();
        json!({
            "t": (t * 10.0).round() / 10.0,
            "peer": peer,
            "name": self.name,
            "state": self.state,
            "fps_in": (fps * 10.0).round() / 10.0,
            "frames_decoded": self.frames_decoded,
            "width_in": self.width_in,
            "height_in": self.height_in,
            "audio_packets_in": self.audio_packets_in,
            "bitrate_in_bps": bitrate_in.round() as u64,
            "bitrate_out_bps": bitrate_out.round() as u64,
            "rtt_ms": self.rtt.map(|r| (r.as_secs_f64() * 10_000.0).round() / 10.0),
            "loss_in": self.loss_in,
            "freezes": self.freezes,
            "g2g_ms_p50": p50,
            "g2g_ms_p95": p95,
            "candidate": self.candidate_pair,
            "jitter_ms": self.jitter.map(|j| (j.as_secs_f64() * 10_000.0).round() / 10.0),
            "first_frame_ms": self.first_frame.map(|d| d.as_millis() as u64),
            "audio_latency_ms": self.audio_latency_ms,
            "audio_level": (f64::from(self.audio_level) * 1000.0).round() / 1000.0,
            "av_sync_ms": av_sync,
            "video_hold_ms": (self.video_hold.as_secs_f64() * 10_000.0).round() / 10.0,
            "mic_on": self.media.is_none_or(|(mic, _)| mic),
            "camera_on": self.media.is_none_or(|(_, camera)| camera),
            "codec_video": "H264",
            "codec_audio": "opus",
        })
        .to_string()
    }
}

fn percentiles(values: &mut [f64]) -> (Option<f64>, Option<f64>) {
    if values.is_empty() {
        return (None, None);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
        (values[i] * 10.0).round() / 10.0
    };
    (Some(at(0.5)), Some(at(0.95)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_every_key_and_rates_per_second() {
        let mut s = RemoteStats::new("Bob".into());
        let t0 = Instant::now();
        let c = SystemTime::now();
        for i in 0..30u32 {
            s.picture(
                t0 + Duration::from_millis(33) * i,
                1280,
                720,
                Some(c),
                c + Duration::from_millis(40 + u64::from(i)),
            );
        }
        s.bytes_in = 125_000;
        s.audio_latency_ms = Some(80.0);
        let line: serde_json::Value = serde_json::from_str(&s.report(1.0, "P1", 30, 1.0)).unwrap();
        for key in [
            "t",
            "peer",
            "name",
            "state",
            "fps_in",
            "frames_decoded",
            "width_in",
            "height_in",
            "audio_packets_in",
            "bitrate_in_bps",
            "bitrate_out_bps",
            "rtt_ms",
            "loss_in",
            "freezes",
            "g2g_ms_p50",
            "g2g_ms_p95",
        ] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
        assert_eq!(line["fps_in"], 30.0);
        assert_eq!(line["bitrate_in_bps"], 1_000_000);
        assert_eq!(line["g2g_ms_p50"], 54.0);
        assert_eq!(line["av_sync_ms"], 26.0);
        assert_eq!(line["freezes"], 0);
        // A second-long gap is a freeze.
        s.picture(t0 + Duration::from_secs(2), 1280, 720, None, c);
        assert_eq!(s.freezes, 1);
        let next: serde_json::Value = serde_json::from_str(&s.report(2.0, "P1", 31, 1.0)).unwrap();
        assert!(next["g2g_ms_p50"].is_null());
    }
}
