//! Short sounds of the app's own, played through the speaker the call uses: the device check's
//! test sound, and the notes that say someone joined or left. Each is Opus-encoded and fed to
//! playout like a participant's packets (paced as a network would deliver them), so it is
//! mixed, resampled and heard by the echo canceller exactly as voices are.

use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use super::engine::PlayoutInput;
use super::opus_codec::{FRAME_SAMPLES, OpusEncoder, SAMPLE_RATE};

/// Which sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chime {
    /// The device check's: a rising two-note chime, 0.8 s.
    Test,
    /// Someone joined: two short notes, rising.
    Arrived,
    /// Someone left: two short notes, falling.
    Left,
}

impl Chime {
    /// Its name in playout, where it plays as a participant of its own would.
    pub fn playout_name(self) -> &'static str {
        match self {
            Self::Test => "test-sound",
            Self::Arrived => "chime-arrived",
            Self::Left => "chime-left",
        }
    }

    /// Its two notes (Hz) and how many 20 ms frames it lasts.
    fn notes(self) -> ([f32; 2], usize) {
        match self {
            Self::Test => ([660.0, 880.0], 40),
            Self::Arrived => ([587.0, 784.0], 16),
            Self::Left => ([784.0, 587.0], 16),
        }
    }

    /// Its sound, 48 kHz mono: the first note for the first half, the second for the rest,
    /// faded in and out so that it does not click.
    pub fn samples(self) -> Vec<f32> {
        let ([first, second], frames) = self.notes();
        let total = frames * FRAME_SAMPLES;
        let length = total as f32 / SAMPLE_RATE as f32;
        (0..total)
            .map(|i| {
                let hz = if i < total / 2 { first } else { second };
                let t = i as f32 / SAMPLE_RATE as f32;
                let envelope = (t * 20.0).min(1.0) * ((length - t) * 20.0).clamp(0.0, 1.0);
                (t * hz * std::f32::consts::TAU).sin() * 0.3 * envelope
            })
            .collect()
    }

    /// Its Opus packets, one per 20 ms frame.
    pub fn packets(self) -> Vec<Vec<u8>> {
        let Ok(mut encoder) = OpusEncoder::new(32_000) else {
            return Vec::new();
        };
        self.samples()
            .chunks_exact(FRAME_SAMPLES)
            .filter_map(|frame| {
                let frame: &[f32; FRAME_SAMPLES] = frame.try_into().ok()?;
                encoder.encode(frame).ok().map(|p| p.to_vec())
            })
            .collect()
    }
}

/// Plays `chime` into `playout` on a thread of its own, paced at 20 ms a packet (the jitter
/// buffer plays what arrives in time); its playout goes when it is done.
pub fn play(chime: Chime, playout: SyncSender<PlayoutInput>) {
    let name = chime.playout_name();
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            for (seq, payload) in chime.packets().into_iter().enumerate() {
                let packet = PlayoutInput::Packet {
                    peer: name.into(),
                    seq: seq as u16,
                    payload,
                    arrived: Instant::now(),
                };
                if playout.send(packet).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(300));
            let _ = playout.send(PlayoutInput::PeerLeft(name.into()));
        });
    if let Err(e) = spawned {
        tracing::debug!("cannot play a chime: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pitch of `samples` by zero crossings, Hz.
    fn pitch(samples: &[f32]) -> f32 {
        let crossings = samples
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        crossings as f32 / 2.0 / (samples.len() as f32 / SAMPLE_RATE as f32)
    }

    #[test]
    fn arriving_rises_leaving_falls_and_each_is_a_whole_number_of_packets() {
        for (chime, rises) in [
            (Chime::Test, true),
            (Chime::Arrived, true),
            (Chime::Left, false),
        ] {
            let sound = chime.samples();
            let (first, second) = sound.split_at(sound.len() / 2);
            let (low, high) = (pitch(first), pitch(second));
            assert_eq!(
                high > low * 1.2,
                rises,
                "{chime:?}: {low} Hz then {high} Hz"
            );
            assert_eq!(
                chime.packets().len() * FRAME_SAMPLES,
                sound.len(),
                "{chime:?}"
            );
        }
    }
}
