//! OpenH264's decoder against FFmpeg's (libavcodec, what Chromium decodes H.264 with), one
//! thread each, on the same ten seconds of the synthetic 720p30 camera as Confer encodes it in
//! a call. It prints each decoder's time per picture and their ratio: the figure behind the
//! question whether Confer should ship FFmpeg for decoding (README, Calls).
//!
//!   benches/h264_decoders.sh        # installs ffmpeg, then runs this
//!
//! Both decoders read the same Annex B file; FFmpeg's figure is its own `-benchmark` user time,
//! which also counts reading the file and its null output, so the ratio errs in OpenH264's favour.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use confer::media::video::{EncoderSettings, H264Decoder, H264Encoder, TestPattern};

const PICTURES: u32 = 300;
const ROUNDS: usize = 5;

fn main() {
    let mut pattern = TestPattern::new(1280, 720);
    let mut encoder = H264Encoder::new(EncoderSettings {
        bitrate_bps: 1_700_000,
        max_fps: 30.0,
    })
    .expect("encoder");
    let t0 = SystemTime::now();
    let units: Vec<_> = (0..PICTURES)
        .filter_map(|i| {
            let picture = pattern.frame(t0 + Duration::from_micros(33_333) * i);
            encoder.encode(&picture).expect("encode")
        })
        .collect();
    let path = std::env::temp_dir().join(format!("confer-bench-{}.h264", std::process::id()));
    let mut file = std::fs::File::create(&path).expect("stream file");
    for unit in &units {
        file.write_all(&unit.data).expect("write stream");
    }
    drop(file);
    let bytes: usize = units.iter().map(|u| u.data.len()).sum();
    println!(
        "stream: {} pictures of 1280x720, {:.0} kbit/s",
        units.len(),
        bytes as f64 * 8.0 / (f64::from(PICTURES) / 30.0) / 1000.0
    );

    // The best of a few rounds for each: the machine is shared.
    let openh264 = (0..ROUNDS)
        .map(|_| {
            let mut decoder = H264Decoder::new().expect("decoder");
            let start = Instant::now();
            for unit in &units {
                std::hint::black_box(decoder.decode_info(&unit.data).expect("decode"));
            }
            start.elapsed().as_secs_f64() / units.len() as f64
        })
        .fold(f64::MAX, f64::min);
    println!("OpenH264: {:.3} ms a picture", openh264 * 1000.0);

    let ffmpeg = (0..ROUNDS)
        .map(|_| ffmpeg_seconds(&path).map(|s| s / units.len() as f64))
        .collect::<Result<Vec<_>, _>>();
    let _ = std::fs::remove_file(&path);
    match ffmpeg {
        Ok(times) => {
            let best = times.into_iter().fold(f64::MAX, f64::min);
            println!("FFmpeg:   {:.3} ms a picture", best * 1000.0);
            println!("OpenH264 / FFmpeg: {:.2}", openh264 / best);
        }
        Err(e) => println!("FFmpeg: not measured ({e})"),
    }
}

/// User plus system time FFmpeg reports for decoding the file with one thread.
fn ffmpeg_seconds(path: &std::path::Path) -> Result<f64, String> {
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostats",
            "-threads",
            "1",
            "-benchmark",
            "-i",
        ])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("utime="))
        .ok_or_else(|| format!("ffmpeg printed no benchmark line: {}", text.trim()))?;
    let field = |name: &str| -> Result<f64, String> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.trim_end_matches('s').parse().ok())
            .ok_or_else(|| format!("cannot read {name} in {line:?}"))
    };
    Ok(field("utime=")? + field("stime=")?)
}
