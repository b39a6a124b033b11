//! Each remote participant's figures: counted as the call runs ([`Figures`]) and handed out once
//! a second as a [`ParticipantStats`], which the window reads as it is and `confer join
//! --stats FILE` writes as one JSON line (its keys are a contract with tests outside the
//! project).

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::events::MediaState;
use crate::rtc::peer::PeerStats;

/// How a connection stands, as ICE and DTLS say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    #[default]
    Connecting,
    Connected,
    /// No path works at the moment (it may recover, or be restarted).
    Disconnected,
}

/// One remote participant's figures for the last second.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParticipantStats {
    /// Seconds since the call started.
    pub t: f64,
    /// Their id in the meeting's signaling now.
    pub peer: String,
    pub name: String,
    pub state: LinkState,
    pub fps_in: f64,
    pub frames_decoded: u64,
    /// RTP packets of their video received so far, resends included: whether anything
    /// comes when nothing is decoded.
    pub video_packets_in: u64,
    pub width_in: usize,
    pub height_in: usize,
    pub audio_packets_in: u64,
    pub bitrate_in_bps: u64,
    pub bitrate_out_bps: u64,
    pub rtt_ms: Option<f64>,
    /// The fraction of what they sent that we lost (0 to 1).
    pub loss_in: Option<f32>,
    pub freezes: u64,
    /// Time spent frozen so far: the whole of each freezing gap, as WebRTC's
    /// `totalFreezesDuration`.
    pub frozen_ms: u64,
    /// Keyframe requests (PLIs) we sent them, as WebRTC's `pliCount`.
    pub pli_count: u64,
    /// Resend requests (NACKs) we sent for their video, as WebRTC's `nackCount`.
    pub nacks_out: u64,
    /// Their audio played as concealment so far (a packet missing at its turn, or the jitter
    /// buffer growing).
    pub audio_concealed_ms: u64,
    /// How long their audio waits between arriving and reaching the speaker (jitter buffer and
    /// device).
    pub audio_delay_ms: f64,
    /// Glass-to-glass latency of the second's pictures (the synthetic camera's stripe).
    pub g2g_ms_p50: Option<f64>,
    pub g2g_ms_p95: Option<f64>,
    /// "host", "srflx", "prflx" or "relay": our side of the candidate pair in use.
    pub candidate: Option<&'static str>,
    /// Interarrival jitter of their audio.
    pub jitter_ms: Option<f64>,
    /// From entering the room to their first picture.
    pub first_frame_ms: Option<u64>,
    /// From the synthetic microphone's beep to its playing here.
    pub audio_latency_ms: Option<f64>,
    /// Loudness of what was last played from them, RMS in [0, 1].
    pub audio_level: f64,
    /// Lip sync: audio's latency less video's (positive: sound after picture).
    pub av_sync_ms: Option<f64>,
    /// How far their pictures' timeline runs behind on-time arrival: for their sound (lip
    /// sync) and for pictures repaired by resends (`call::video_timing`).
    pub video_hold_ms: f64,
    pub mic_on: bool,
    pub camera_on: bool,
    /// Their hand is raised.
    pub hand_up: bool,
    /// The codecs negotiated with them, as SDP names them.
    pub codec_video: Option<String>,
    pub codec_audio: Option<String>,
    /// The layer of theirs received, when an SFU forwards one of several ("full",
    /// "quarter"); None in a mesh.
    pub layer_in: Option<&'static str>,
    /// Their shared screen: pictures decoded so far (0 when they never shared), and the
    /// size of the last.
    pub screen_frames_decoded: u64,
    pub screen_width_in: usize,
    pub screen_height_in: usize,
    /// Whether they are sharing their screen now (its section is open).
    pub screen_in: bool,
}

impl ParticipantStats {
    /// The `--stats` line.
    pub fn to_json_line(&self) -> String {
        // Plain fields, string keys: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the connection carrying a participant says of itself: its state, str0m's figures as
/// last reported, and the codecs negotiated.
#[derive(Debug, Clone, Default)]
pub struct PathFigures {
    pub state: Option<LinkState>,
    pub stats: PeerStats,
    pub codecs: (Option<String>, Option<String>),
}

/// What is counted about one remote participant between reports.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub width_in: usize,
    pub height_in: usize,
    pub audio_packets_in: u64,
    pub freezes: u64,
    pub frozen: Duration,
    pub plis: u64,
    pub audio_concealed: Duration,
    pub audio_delay: Duration,
    /// From entering the room to their first decoded picture.
    pub first_frame: Option<Duration>,
    pub audio_latency_ms: Option<f64>,
    pub audio_level: f32,
    pub video_hold: Duration,
    /// The layer of theirs the SFU says it forwards (simulcast).
    pub layer_in: Option<&'static str>,
    /// Their shared screen's pictures decoded so far, and the last one's size.
    pub screen_frames: u64,
    pub screen_size: (usize, usize),
    /// They share their screen now.
    pub screen_in: bool,
    /// Glass-to-glass latencies of pictures seen in the current second, in ms.
    g2g_ms: Vec<f64>,
    last_picture: Option<Instant>,
    frame_interval_avg: Option<f64>,
    // At the previous report.
    reported_frames: u64,
    reported_bytes_in: u64,
    reported_bytes_out: u64,
}

/// What a report needs besides the figures.
pub struct ReportContext<'a> {
    pub t: f64,
    pub interval: f64,
    pub peer: &'a str,
    pub name: &'a str,
    /// The decoder's own count of their pictures.
    pub frames_total: u64,
    /// Their video's packets received so far (str0m's count).
    pub video_packets_in: u64,
    pub path: &'a PathFigures,
    /// Their microphone and camera as they said (None: not said; both on).
    pub media: Option<MediaState>,
}

impl Figures {
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
                self.frozen += Duration::from_secs_f64(gap);
            }
            self.frame_interval_avg = Some(avg * 0.9 + gap.min(1.0) * 0.1);
        }
        self.last_picture = Some(now);
    }

    /// The figures of the second that ends now; the counting starts again.
    pub fn report(&mut self, cx: ReportContext<'_>) -> ParticipantStats {
        let interval = cx.interval.max(1e-3);
        let (path, peer) = (cx.path, &cx.path.stats);
        let fps = cx.frames_total.saturating_sub(self.reported_frames) as f64 / interval;
        let bitrate_in =
            peer.bytes_in.saturating_sub(self.reported_bytes_in) as f64 * 8.0 / interval;
        let bitrate_out =
            peer.bytes_out.saturating_sub(self.reported_bytes_out) as f64 * 8.0 / interval;
        self.reported_frames = cx.frames_total;
        self.reported_bytes_in = peer.bytes_in;
        self.reported_bytes_out = peer.bytes_out;
        let (p50, p95) = percentiles(&mut self.g2g_ms);
        self.g2g_ms.clear();
        // The beep and the flash mark the same instant; each path's latency is measured from it.
        let av_sync = self
            .audio_latency_ms
            .zip(p50)
            .map(|(audio, video)| tenths(audio - video));
        let ms = |d: Duration| tenths(d.as_secs_f64() * 1000.0);
        // Not said yet: microphone and camera on, hand down.
        let said = cx.media.unwrap_or_default();
        ParticipantStats {
            t: tenths(cx.t),
            peer: cx.peer.to_string(),
            name: cx.name.to_string(),
            state: path.state.unwrap_or(LinkState::Connecting),
            fps_in: tenths(fps),
            frames_decoded: cx.frames_total,
            video_packets_in: cx.video_packets_in,
            width_in: self.width_in,
            height_in: self.height_in,
            audio_packets_in: self.audio_packets_in,
            bitrate_in_bps: bitrate_in.round() as u64,
            bitrate_out_bps: bitrate_out.round() as u64,
            rtt_ms: peer.rtt.map(ms),
            loss_in: peer.loss_in,
            freezes: self.freezes,
            frozen_ms: self.frozen.as_millis() as u64,
            pli_count: self.plis,
            nacks_out: peer.video_nacks,
            audio_concealed_ms: self.audio_concealed.as_millis() as u64,
            audio_delay_ms: ms(self.audio_delay),
            g2g_ms_p50: p50,
            g2g_ms_p95: p95,
            candidate: peer.candidate_pair,
            jitter_ms: peer.jitter.map(ms),
            first_frame_ms: self.first_frame.map(|d| d.as_millis() as u64),
            audio_latency_ms: self.audio_latency_ms,
            audio_level: (f64::from(self.audio_level) * 1000.0).round() / 1000.0,
            av_sync_ms: av_sync,
            video_hold_ms: ms(self.video_hold),
            mic_on: said.mic_on,
            camera_on: said.camera_on,
            hand_up: said.hand_up,
            codec_video: path.codecs.1.clone(),
            codec_audio: path.codecs.0.clone(),
            layer_in: self.layer_in,
            screen_frames_decoded: self.screen_frames,
            screen_width_in: self.screen_size.0,
            screen_height_in: self.screen_size.1,
            screen_in: self.screen_in,
        }
    }
}

fn tenths(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn percentiles(values: &mut [f64]) -> (Option<f64>, Option<f64>) {
    if values.is_empty() {
        return (None, None);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
        tenths(values[i])
    };
    (Some(at(0.5)), Some(at(0.95)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_every_key_and_rates_per_second() {
        let mut figures = Figures::default();
        let t0 = Instant::now();
        let c = SystemTime::now();
        for i in 0..30u32 {
            figures.picture(
                t0 + Duration::from_millis(33) * i,
                1280,
                720,
                Some(c),
                c + Duration::from_millis(40 + u64::from(i)),
            );
        }
        figures.audio_latency_ms = Some(80.0);
        let path = PathFigures {
            stats: PeerStats {
                bytes_in: 125_000,
                ..PeerStats::default()
            },
            codecs: (Some("opus".into()), Some("H264".into())),
            ..PathFigures::default()
        };
        let cx = |frames_total, path| ReportContext {
            t: 1.0,
            interval: 1.0,
            peer: "P1",
            name: "Bob",
            frames_total,
            video_packets_in: 90,
            path,
            media: Some(MediaState {
                mic_on: false,
                ..MediaState::default()
            }),
        };
        let stats = figures.report(cx(30, &path));
        let line: serde_json::Value = serde_json::from_str(&stats.to_json_line()).unwrap();
        for key in [
            "t",
            "peer",
            "name",
            "state",
            "fps_in",
            "frames_decoded",
            "video_packets_in",
            "width_in",
            "height_in",
            "audio_packets_in",
            "bitrate_in_bps",
            "bitrate_out_bps",
            "rtt_ms",
            "loss_in",
            "freezes",
            "frozen_ms",
            "pli_count",
            "nacks_out",
            "audio_concealed_ms",
            "audio_delay_ms",
            "g2g_ms_p50",
            "g2g_ms_p95",
            "candidate",
            "jitter_ms",
            "first_frame_ms",
            "audio_latency_ms",
            "audio_level",
            "av_sync_ms",
            "video_hold_ms",
            "mic_on",
            "camera_on",
            "hand_up",
            "codec_video",
            "codec_audio",
            "layer_in",
        ] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
        assert_eq!(line["state"], "connecting");
        assert_eq!(line["fps_in"], 30.0);
        assert_eq!(line["bitrate_in_bps"], 1_000_000);
        assert_eq!(line["video_packets_in"], 90);
        assert_eq!(line["g2g_ms_p50"], 54.0);
        assert_eq!(line["av_sync_ms"], 26.0);
        assert_eq!(line["freezes"], 0);
        assert_eq!(line["mic_on"], false);
        assert_eq!(line["codec_video"], "H264");
        assert_eq!(line["codec_audio"], "opus");
        // A second-long gap is a freeze.
        figures.picture(t0 + Duration::from_secs(2), 1280, 720, None, c);
        assert_eq!(figures.freezes, 1);
        // Frozen for the whole gap (2000 - 29 x 33 ms).
        let frozen = figures.frozen.as_millis();
        assert!((1040..1046).contains(&frozen), "{frozen} ms frozen");
        let next = figures.report(cx(31, &path));
        assert_eq!(next.g2g_ms_p50, None);
        assert_eq!(next.bitrate_in_bps, 0);
    }
}
