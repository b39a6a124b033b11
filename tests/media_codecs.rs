//! Real codecs, round trip: H.264 (OpenH264) on the synthetic 720p camera and Opus on tones,
//! with the quality asserted.

use std::time::{Duration, SystemTime};

use confer::media::audio::opus_codec::{FRAME_SAMPLES, OpusDecoder, OpusEncoder};
use confer::media::video::h264::Content;
use confer::media::video::{
    EncoderSettings, H264Decoder, H264Encoder, I420Frame, TestPattern, read_stripe,
};

const FPS: u32 = 30;

fn frames(n: u32) -> Vec<I420Frame> {
    frames_of(n, 1280, 720)
}

fn frames_of(n: u32, width: usize, height: usize) -> Vec<I420Frame> {
    let mut pattern = TestPattern::new(width, height);
    // A fixed clock: the stripe carries the capture time, so the pictures (and where a cut
    // through an encoded one falls) are the same in every run.
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    (0..n)
        .map(|i| pattern.frame(t0 + Duration::from_secs(1) * i / FPS))
        .collect()
}

/// The synthetic camera with sensor noise on every picture: detail that uses any rate, as a
/// real camera in poor light does (the calm test picture alone costs far less than 2 Mbit/s).
fn noisy_frames(n: u32) -> Vec<I420Frame> {
    add_noise(frames(n))
}

fn add_noise(frames: Vec<I420Frame>) -> Vec<I420Frame> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    frames
        .into_iter()
        .map(|mut frame| {
            let (y, _, _) = frame.planes_mut();
            for pixel in y.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *pixel = pixel.saturating_add((state % 24) as u8).min(235);
            }
            frame
        })
        .collect()
}

#[test]
fn h264_at_1_5_mbit_keeps_720p_above_36_db_and_the_stripe_readable() {
    let source = frames(90);
    let mut encoder = H264Encoder::new(EncoderSettings {
        bitrate_bps: 1_500_000,
        max_fps: FPS as f32,
    })
    .unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let mut psnr = Vec::new();
    let mut bytes = 0;
    let mut first = None;
    for frame in &source {
        let Some(encoded) = encoder.encode(frame).unwrap() else {
            continue;
        };
        bytes += encoded.data.len();
        first.get_or_insert_with(|| encoded.data.to_vec());
        let decoded = decoder.decode(&encoded.data).unwrap().unwrap();
        psnr.push(decoded.psnr_y(frame).unwrap());
        let stripe = read_stripe(
            decoded.y(),
            decoded.width(),
            decoded.height(),
            decoded.width(),
        )
        .expect("stripe readable after coding");
        let sent = read_stripe(frame.y(), 1280, 720, 1280).unwrap();
        assert_eq!(stripe, sent);
    }
    assert!(psnr.len() >= 85, "{} of 90 frames coded", psnr.len());
    let mean = psnr.iter().sum::<f64>() / psnr.len() as f64;
    eprintln!("mean PSNR {mean:.2} dB");
    assert!(mean > 36.0, "mean PSNR {mean:.1} dB");
    // Three seconds at no more than 1.5 Mbit/s, give or take what rate control allows.
    let rate = bytes as f64 * 8.0 / 3.0;
    assert!((100_000.0..2_250_000.0).contains(&rate), "{rate} bit/s");
    // Constrained Baseline: SPS profile_idc 66 with constraint_set1 (what WebRTC negotiates).
    let first = first.unwrap();
    let sps = first
        .windows(5)
        .position(|w| w[..4] == [0, 0, 0, 1] && w[4] & 0x1f == 7)
        .expect("the first frame carries an SPS");
    assert_eq!(first[sps + 5], 66, "profile_idc");
    assert_ne!(first[sps + 6] & 0x40, 0, "constraint_set1_flag");
}

/// Bits the picture does not need are packets a lossy path need not lose: on a calm picture the
/// encoder stops at `MIN_QP` (OpenH264 alone spent the whole target: 1.6 Mbit/s for 57 dB).
#[test]
fn a_calm_picture_costs_what_its_quality_needs_not_the_whole_target() {
    let source = frames(150);
    let mut encoder = H264Encoder::new(EncoderSettings {
        bitrate_bps: 2_500_000,
        max_fps: FPS as f32,
    })
    .unwrap();
    let mut decoder = H264Decoder::new().unwrap();
    let (mut bytes, mut psnr) = (0, Vec::new());
    for (i, frame) in source.iter().enumerate() {
        let Some(encoded) = encoder.encode(frame).unwrap() else {
            continue;
        };
        let decoded = decoder.decode(&encoded.data).unwrap().unwrap();
        // After the first second: the keyframe and rate control's start are another matter.
        if i >= 30 {
            bytes += encoded.data.len();
            psnr.push(decoded.psnr_y(frame).unwrap());
        }
    }
    let rate = bytes as f64 * 8.0 / 4.0;
    let mean = psnr.iter().sum::<f64>() / psnr.len().max(1) as f64;
    eprintln!("{rate:.0} bit/s, mean PSNR {mean:.2} dB");
    assert!(rate < 1_000_000.0, "{rate} bit/s of a 2.5 Mbit/s target");
    assert!(mean > 48.0, "mean PSNR {mean:.1} dB");
}

/// The bit rate `encoder` makes of `frames` after the first second (the keyframe and rate
/// control's start are another matter).
fn rate_after_the_first_second(encoder: &mut H264Encoder, frames: &[I420Frame]) -> f64 {
    let mut bytes = 0;
    for (i, frame) in frames.iter().enumerate() {
        if let Some(encoded) = encoder.encode(frame).unwrap()
            && i >= FPS as usize
        {
            bytes += encoded.data.len();
        }
    }
    let seconds = frames.len().saturating_sub(FPS as usize) as f64 / f64::from(FPS);
    bytes as f64 * 8.0 / seconds
}

/// A small picture is given what its size needs, not the whole path: a noisy 320x180 (which
/// takes any rate) under a 2.5 Mbit/s target stays near `max_bitrate_for` (about 170 kbit/s).
#[test]
fn a_small_picture_costs_what_its_size_needs_not_the_whole_target() {
    let source = add_noise(frames_of(150, 320, 180));
    let mut encoder = H264Encoder::new(EncoderSettings {
        bitrate_bps: 2_500_000,
        max_fps: FPS as f32,
    })
    .unwrap();
    let rate = rate_after_the_first_second(&mut encoder, &source);
    eprintln!("{rate:.0} bit/s");
    // Without the cap: 2.48 Mbit/s.
    assert!(rate < 300_000.0, "{rate} bit/s for 320x180");
}

#[test]
fn h264_bitrate_changes_during_the_stream_and_keyframes_come_on_request() {
    let source = noisy_frames(150);
    let mut encoder = H264Encoder::new(EncoderSettings {
        bitrate_bps: 2_500_000,
        max_fps: FPS as f32,
    })
    .unwrap();
    let mut sizes = Vec::new();
    let mut keyframes = Vec::new();
    for (i, frame) in source.iter().enumerate() {
        if i == 60 {
            encoder.set_bitrate(300_000);
        }
        if i == 100 {
            encoder.request_keyframe();
        }
        let encoded = encoder.encode(frame).unwrap();
        sizes.push(encoded.as_ref().map_or(0, |e| e.data.len()));
        if encoded.is_some_and(|e| e.keyframe) {
            keyframes.push(i);
        }
    }
    let rate = |range: std::ops::Range<usize>| {
        sizes[range.clone()].iter().sum::<usize>() as f64 * 8.0 * f64::from(FPS)
            / range.len() as f64
    };
    let high = rate(20..60);
    let low = rate(110..150);
    assert!(high > 1_500_000.0, "{high}");
    assert!((100_000.0..500_000.0).contains(&low), "{low}");
    assert_eq!(keyframes, vec![0, 100]);
}

#[test]
fn the_h264_decoder_survives_garbage_and_truncation() {
    let mut decoder = H264Decoder::new().unwrap();
    for junk in [&b""[..], b"\0\0\0\x01\x65garbage", &[0xff; 3000]] {
        let _ = decoder.decode(junk);
    }
    let mut encoder = H264Encoder::new(EncoderSettings::default()).unwrap();
    let source = frames(2);
    let key = encoder.encode(&source[0]).unwrap().unwrap();
    let _ = decoder.decode(&key.data[..key.data.len() / 2]);
    // After the damage, a whole keyframe decodes again.
    encoder.request_keyframe();
    let key = encoder.encode(&source[1]).unwrap().unwrap();
    let mut rgba = Vec::new();
    let size = decoder
        .decode_rgba(&key.data, &mut rgba, None)
        .unwrap()
        .unwrap();
    assert_eq!((size.width, size.height), (1280, 720));
    assert_eq!(size.converted, (1280, 720));
    assert_eq!(rgba.len(), 1280 * 720 * 4);
    // For a tile of 400 × 225 pixels: half size is the smallest that still fills it.
    encoder.request_keyframe();
    let key = encoder.encode(&source[0]).unwrap().unwrap();
    let size = decoder
        .decode_rgba(&key.data, &mut rgba, Some((400, 225)))
        .unwrap()
        .unwrap();
    assert_eq!((size.width, size.height), (1280, 720));
    assert_eq!(size.converted, (640, 360));
    assert_eq!(rgba.len(), 640 * 360 * 4);
}

fn tone(hz: f32, amplitude: f32, samples: usize) -> Vec<f32> {
    (0..samples)
        .map(|i| (i as f32 * hz * std::f32::consts::TAU / 48_000.0).sin() * amplitude)
        .collect()
}

fn rms(s: &[f32]) -> f32 {
    (s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32).sqrt()
}

fn zero_crossing_hz(s: &[f32]) -> f32 {
    let up = s.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    up as f32 * 48_000.0 / s.len() as f32
}

#[test]
fn opus_keeps_a_tones_frequency_and_level() {
    let input = tone(440.0, 0.5, 48_000);
    let mut encoder = OpusEncoder::new(32_000).unwrap();
    let mut decoder = OpusDecoder::new().unwrap();
    let mut output = Vec::new();
    let mut frame = vec![0.0; FRAME_SAMPLES];
    for chunk in input.chunks_exact(FRAME_SAMPLES) {
        let packet = encoder.encode(chunk).unwrap().to_vec();
        assert!(packet.len() < 200, "{} bytes for 20 ms", packet.len());
        decoder.decode(&packet, &mut frame).unwrap();
        output.extend_from_slice(&frame);
    }
    let settled = &output[9_600..];
    let hz = zero_crossing_hz(settled);
    assert!((hz - 440.0).abs() < 3.0, "{hz} Hz");
    let level_db = 20.0 * (rms(settled) / rms(&input)).log10();
    assert!(level_db.abs() < 1.0, "{level_db} dB");
    assert!(encoder.encode(&[0.0; 10]).is_err());
    assert!(decoder.decode(&[0xff, 0xff, 0xff], &mut frame).is_err());
}

/// Speech-like: a pitch that glides, with syllable-rate loudness changes.
fn speechy(samples: usize) -> Vec<f32> {
    let mut phase = 0.0f32;
    (0..samples)
        .map(|i| {
            let t = i as f32 / 48_000.0;
            let pitch = 160.0 + 60.0 * (t * 3.0).sin();
            phase += pitch * std::f32::consts::TAU / 48_000.0;
            let envelope = 0.3 + 0.25 * (t * 4.0 * std::f32::consts::TAU).sin();
            envelope * (phase.sin() + 0.5 * (2.0 * phase).sin() + 0.25 * (3.0 * phase).sin())
        })
        .collect()
}

#[test]
fn fec_recovers_a_lost_packet_better_than_concealment() {
    let input = speechy(48_000);
    let mut encoder = OpusEncoder::new(32_000).unwrap();
    encoder.set_loss_percent(20).unwrap();
    let packets: Vec<Vec<u8>> = input
        .chunks_exact(FRAME_SAMPLES)
        .map(|c| encoder.encode(c).unwrap().to_vec())
        .collect();
    let (mut fec_total, mut plc_total) = (0.0, 0.0);
    let lost_frames: Vec<usize> = (6..46).step_by(4).collect();
    for &lost in &lost_frames {
        // Reference: every packet decoded.
        let mut reference = OpusDecoder::new().unwrap();
        let mut concealing = OpusDecoder::new().unwrap();
        let mut recovering = OpusDecoder::new().unwrap();
        let mut want = vec![0.0; FRAME_SAMPLES];
        let mut concealed = vec![0.0; FRAME_SAMPLES];
        let mut recovered = vec![0.0; FRAME_SAMPLES];
        for (i, packet) in packets.iter().enumerate().take(lost + 1) {
            reference.decode(packet, &mut want).unwrap();
            if i < lost {
                concealing.decode(packet, &mut concealed).unwrap();
                recovering.decode(packet, &mut recovered).unwrap();
            }
        }
        concealing.conceal(&mut concealed).unwrap();
        recovering
            .recover(&packets[lost + 1], &mut recovered)
            .unwrap();
        let error = |got: &[f32]| -> f32 {
            let noise: f32 = got.iter().zip(&want).map(|(a, b)| (a - b) * (a - b)).sum();
            let signal: f32 = want.iter().map(|v| v * v).sum();
            10.0 * (signal / noise.max(1e-12)).log10()
        };
        let (snr_fec, snr_plc) = (error(&recovered), error(&concealed));
        eprintln!("frame {lost}: FEC {snr_fec:.1} dB, concealment {snr_plc:.1} dB");
        // Where the encoder sent no redundancy the decoder falls back to concealment.
        assert!(
            snr_fec > snr_plc - 0.5,
            "frame {lost}: FEC worse than nothing"
        );
        fec_total += snr_fec;
        plc_total += snr_plc;
    }
    let n = lost_frames.len() as f32;
    let (fec, plc) = (fec_total / n, plc_total / n);
    assert!(
        fec > plc + 6.0,
        "FEC {fec:.1} dB vs concealment {plc:.1} dB on average"
    );
}

/// A rate asked before the first picture (when the encoder is set up) holds from then on: it
/// was lost, and a small layer started at 1.5 Mbit/s stayed there.
#[test]
fn a_bitrate_asked_before_the_first_picture_applies() {
    let source = add_noise(frames_of(60, 320, 180));
    let mut encoder = H264Encoder::new(EncoderSettings {
        bitrate_bps: 1_500_000,
        max_fps: FPS as f32,
    })
    .unwrap();
    encoder.set_bitrate(170_000);
    let rate = rate_after_the_first_second(&mut encoder, &source);
    // Before: 1.49 Mbit/s.
    assert!(rate < 300_000.0, "{rate} bit/s");
}

/// A 1920x1080 screen of text: lines of dark glyph-like marks (strokes one and two pixels
/// wide, as small type has) on white, `scrolled` pixels up; pictures `i` at 15 a second.
fn text_screen(scrolled: usize, i: u32) -> I420Frame {
    const LINE: usize = 22;
    let (width, height) = (1920, 1080);
    let mut frame = I420Frame::black(width, height);
    let (y, u, v) = frame.planes_mut();
    y.fill(235);
    u.fill(128);
    v.fill(128);
    for row in 0..height {
        let page_row = row + scrolled;
        let (line, in_line) = (page_row / LINE, page_row % LINE);
        if !(4..16).contains(&in_line) {
            continue;
        }
        for col in 40..width - 40 {
            let (glyph, in_glyph) = (col / 9, col % 9);
            // Word gaps, and a glyph's strokes from a hash of its place on the page.
            let hash = (line * 7919 + glyph * 104_729).wrapping_mul(2_654_435_761) >> 7;
            if hash % 6 == 0 || in_glyph >= 7 {
                continue;
            }
            let stem = in_glyph == hash % 5 || in_glyph == (hash >> 3) % 7;
            let bar = in_line == 4 + (hash >> 5) % 12 || in_line == 4 + (hash >> 9) % 12;
            if stem || bar {
                y[row * width + col] = 30;
            }
        }
    }
    frame.captured = SystemTime::UNIX_EPOCH + Duration::from_millis(1000 * u64::from(i) / 15);
    frame
}

/// Encodes `pictures`; returns (bytes of each coded picture after the first, each decoded
/// picture's PSNR against its original, the decoded size).
fn share(
    encoder: &mut H264Encoder,
    pictures: &[I420Frame],
) -> (Vec<usize>, Vec<f64>, (usize, usize)) {
    let mut decoder = H264Decoder::new().unwrap();
    let (mut sizes, mut psnr, mut size) = (Vec::new(), Vec::new(), (0, 0));
    for picture in pictures {
        let Some(encoded) = encoder.encode(picture).unwrap() else {
            continue;
        };
        sizes.push(encoded.data.len());
        if let Some(decoded) = decoder.decode(&encoded.data).unwrap() {
            psnr.push(decoded.psnr_y(picture).unwrap_or(0.0));
            size = (decoded.width(), decoded.height());
        }
    }
    sizes.remove(0);
    (sizes, psnr, size)
}

/// A shared screen (OpenH264's screen-content mode): its text is sharper than the camera mode
/// makes it at the same rate, a screen at rest costs next to nothing after its first picture,
/// and scrolling keeps the full resolution within the rate.
#[test]
fn a_shared_screen_keeps_text_sharp_costs_little_at_rest_and_scrolls_at_full_size() {
    let settings = EncoderSettings {
        bitrate_bps: 2_500_000,
        max_fps: 30.0,
    };
    // Three seconds of a screen at rest: the first picture at what the rate allows, then
    // OpenH264 refines it (about a dozen pictures here), then nothing is left to send.
    let at_rest: Vec<I420Frame> = (0..45).map(|i| text_screen(0, i)).collect();
    let mut screen = H264Encoder::for_content(settings, Content::Screen).unwrap();
    let (rest_sizes, rest_psnr, size) = share(&mut screen, &at_rest);
    let mut camera = H264Encoder::new(settings).unwrap();
    let (_, camera_psnr, _) = share(&mut camera, &at_rest);
    let last = |v: &[f64]| v.last().copied().unwrap_or(0.0);
    let settled: Vec<usize> = rest_sizes.iter().rev().take(5).copied().collect();
    eprintln!(
        "at rest: screen {:.1} dB, camera {:.1} dB at the end; the last pictures {settled:?} bytes",
        last(&rest_psnr),
        last(&camera_psnr)
    );
    assert_eq!(size, (1920, 1080));
    assert!(last(&rest_psnr) > 40.0, "{rest_psnr:?}");
    assert!(
        last(&rest_psnr) > last(&camera_psnr) + 2.0,
        "{camera_psnr:?}"
    );
    assert!(settled.iter().all(|bytes| *bytes < 200), "{rest_sizes:?}");

    // Scrolling two lines a second: every picture changes.
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let scrolling: Vec<I420Frame> = (0..45).map(|i| text_screen(3 * i as usize, i)).collect();
    let mut screen = H264Encoder::for_content(settings, Content::Screen).unwrap();
    let (sizes, psnr, size) = share(&mut screen, &scrolling);
    let rate = sizes.iter().sum::<usize>() as f64 * 8.0 / 3.0;
    eprintln!(
        "scrolling: {:.1} dB, {:.0} kbit/s, {} of 45 pictures",
        mean(&psnr),
        rate / 1000.0,
        psnr.len()
    );
    assert_eq!(size, (1920, 1080), "the resolution is kept");
    assert!(rate < 2_500_000.0 * 1.3, "{rate} bit/s");
    assert!(mean(&psnr) > 30.0, "{:.1} dB", mean(&psnr));
}
