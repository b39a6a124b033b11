//! Media hot paths on this machine: 720p H.264 encode and decode of the synthetic camera at
//! 1.5 Mbit/s, and the whole audio send path for one 20 ms frame (echo cancellation, noise
//! suppression, gain, Opus). `cargo bench --bench media`; results in target/criterion/ID/.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use confer::media::audio::opus_codec::FRAME_SAMPLES;
use confer::media::audio::processing::ProcessingSettings;
use confer::media::audio::send::AudioSendPath;
use confer::media::video::{EncoderSettings, H264Decoder, H264Encoder, TestPattern};
use criterion::{Criterion, criterion_group, criterion_main};

fn pictures(n: u32) -> Vec<confer::media::video::I420Frame> {
    let mut pattern = TestPattern::new(1280, 720);
    let t0 = SystemTime::now();
    (0..n)
        .map(|i| pattern.frame(t0 + Duration::from_millis(33) * i))
        .collect()
}

fn settings() -> EncoderSettings {
    EncoderSettings {
        bitrate_bps: 1_500_000,
        max_fps: 30.0,
    }
}

fn h264_encode_720p(c: &mut Criterion) {
    let frames = pictures(60);
    let mut encoder = H264Encoder::new(settings()).unwrap();
    let mut i = 0;
    c.bench_function("h264_encode_720p", |b| {
        b.iter(|| {
            let frame = &frames[i % frames.len()];
            i += 1;
            black_box(encoder.encode(frame).unwrap())
        })
    });
}

fn h264_decode_720p(c: &mut Criterion) {
    let frames = pictures(60);
    let mut encoder = H264Encoder::new(settings()).unwrap();
    // A stream that loops: a keyframe first, then the rest as the encoder made them.
    let mut stream: Vec<_> = frames
        .iter()
        .filter_map(|f| encoder.encode(f).unwrap())
        .collect();
    encoder.request_keyframe();
    stream.push(encoder.encode(&frames[0]).unwrap().unwrap());
    let mut decoder = H264Decoder::new().unwrap();
    let mut rgba = Vec::new();
    let mut i = 0;
    c.bench_function("h264_decode_720p", |b| {
        b.iter(|| {
            let unit = &stream[i % stream.len()];
            i += 1;
            black_box(decoder.decode_rgba(&unit.data, &mut rgba, None).unwrap())
        })
    });
    // The same for a tile of a six-person grid in a 1280 × 800 window (converted at half size).
    c.bench_function("h264_decode_720p_for_a_tile", |b| {
        b.iter(|| {
            let unit = &stream[i % stream.len()];
            i += 1;
            black_box(
                decoder
                    .decode_rgba(&unit.data, &mut rgba, Some((420, 236)))
                    .unwrap(),
            )
        })
    });
}

fn audio_send_20ms(c: &mut Criterion) {
    let mut path = AudioSendPath::new(ProcessingSettings::default()).unwrap();
    let speech: Vec<f32> = (0..48_000)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            0.3 * (t * 180.0 * std::f32::consts::TAU).sin()
                * (t * 3.0 * std::f32::consts::TAU).sin()
        })
        .collect();
    let mut i = 0;
    c.bench_function("audio_send_20ms", |b| {
        b.iter(|| {
            let start = (i * FRAME_SAMPLES) % (speech.len() - FRAME_SAMPLES);
            i += 1;
            let far = &speech[(start + 4_800) % (speech.len() - FRAME_SAMPLES)..][..FRAME_SAMPLES];
            let mic = &speech[start..start + FRAME_SAMPLES];
            black_box(path.send(far, mic).unwrap().len())
        })
    });
}

criterion_group!(benches, h264_encode_720p, h264_decode_720p, audio_send_20ms);
criterion_main!(benches);
