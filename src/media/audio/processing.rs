//! The microphone path's clean-up: echo cancellation (the far end taken from what playout
//! really played), noise suppression and automatic gain, each switchable. `sonora`, a Rust port
//! of WebRTC's audio processing module, does all three; `nnnoiseless` (RNNoise) is the optional
//! stronger noise suppressor for noisy rooms.
//!
//! Works on 10 ms blocks of 48 kHz mono in [-1, 1]; [`AudioProcessor::process`] takes 20 ms
//! frames (the Opus frame) and runs two blocks. It allocates inside (sonora does), so it runs on
//! the audio send thread, never in a device callback.

use sonora::config::{
    AdaptiveDigital, EchoCanceller, GainController2, MaxProcessingRate, NoiseSuppression,
    NoiseSuppressionLevel, Pipeline,
};
use sonora::{AudioProcessing, Config, StreamConfig};

/// 10 ms at 48 kHz: sonora's block.
pub const BLOCK: usize = 480;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingSettings {
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub auto_gain: bool,
    /// RNNoise instead of WebRTC's suppressor: stronger on steady noise, 10 ms more delay.
    pub rnnoise: bool,
}

impl Default for ProcessingSettings {
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            auto_gain: true,
            rnnoise: false,
        }
    }
}

pub struct AudioProcessor {
    apm: AudioProcessing,
    /// sonora 0.2's band-split path (on with echo cancellation or its noise suppressor) comes
    /// out with the sign flipped (measured: `tests/echo_cancel.rs` fails if this goes wrong).
    /// A flipped voice sounds the same alone but cancels against anything mixed with it.
    flips_sign: bool,
    settings: ProcessingSettings,
    rnnoise: Option<Box<nnnoiseless::DenoiseState<'static>>>,
    block_in: [f32; BLOCK],
    block_out: [f32; BLOCK],
    far_out: [f32; BLOCK],
}

fn sonora_config(settings: &ProcessingSettings) -> Config {
    Config {
        // The default runs at 32 kHz internally: a resampling round trip and nothing above 16 kHz.
        pipeline: Pipeline {
            maximum_internal_processing_rate: MaxProcessingRate::Rate48kHz,
            ..Default::default()
        },
        echo_canceller: settings.echo_cancellation.then(EchoCanceller::default),
        noise_suppression: (settings.noise_suppression && !settings.rnnoise).then(|| {
            NoiseSuppression {
                level: NoiseSuppressionLevel::High,
                ..Default::default()
            }
        }),
        // The default gain controller is only a limiter; the adaptive part is the gain control.
        gain_controller2: settings.auto_gain.then(|| GainController2 {
            adaptive_digital: Some(AdaptiveDigital::default()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn flips_sign(settings: &ProcessingSettings) -> bool {
    settings.echo_cancellation || (settings.noise_suppression && !settings.rnnoise)
}

impl AudioProcessor {
    pub fn new(settings: ProcessingSettings) -> Self {
        let stream = StreamConfig::new(48_000, 1);
        let apm = AudioProcessing::builder()
            .config(sonora_config(&settings))
            .capture_config(stream)
            .render_config(stream)
            .build();
        let mut processor = Self {
            apm,
            flips_sign: flips_sign(&settings),
            settings,
            rnnoise: None,
            block_in: [0.0; BLOCK],
            block_out: [0.0; BLOCK],
            far_out: [0.0; BLOCK],
        };
        processor.set_rnnoise(settings.noise_suppression && settings.rnnoise);
        processor
    }

    pub fn settings(&self) -> ProcessingSettings {
        self.settings
    }

    /// Switches parts on or off. Switching echo cancellation resets it (it re-learns the room).
    pub fn apply(&mut self, settings: ProcessingSettings) {
        if settings == self.settings {
            return;
        }
        self.apm.apply_config(sonora_config(&settings));
        self.set_rnnoise(settings.noise_suppression && settings.rnnoise);
        self.flips_sign = flips_sign(&settings);
        self.settings = settings;
    }

    fn set_rnnoise(&mut self, on: bool) {
        self.rnnoise = on.then(nnnoiseless::DenoiseState::new);
    }

    /// What the speakers played, 10 ms blocks at a time (any length that is a multiple of
    /// [`BLOCK`]): the echo canceller's reference.
    pub fn far_end(&mut self, played: &[f32]) {
        for block in played.chunks_exact(BLOCK) {
            let _ = self
                .apm
                .process_render_f32(&[block], &mut [&mut self.far_out[..]]);
        }
    }

    /// Cleans a frame from the microphone in place (a multiple of [`BLOCK`] samples).
    pub fn process(&mut self, frame: &mut [f32]) {
        for block in frame.chunks_exact_mut(BLOCK) {
            self.block_in.copy_from_slice(block);
            if self
                .apm
                .process_capture_f32(&[&self.block_in[..]], &mut [&mut self.block_out[..]])
                .is_ok()
            {
                if self.flips_sign {
                    for (d, s) in block.iter_mut().zip(&self.block_out) {
                        *d = -*s;
                    }
                } else {
                    block.copy_from_slice(&self.block_out);
                }
            }
            if let Some(rnnoise) = self.rnnoise.as_mut() {
                // RNNoise works in the 16-bit range.
                for (d, s) in self.block_in.iter_mut().zip(block.iter()) {
                    *d = *s * 32_768.0;
                }
                rnnoise.process_frame(&mut self.block_out, &self.block_in);
                for (d, s) in block.iter_mut().zip(&self.block_out) {
                    *d = (*s / 32_768.0).clamp(-1.0, 1.0);
                }
            }
        }
    }
}
