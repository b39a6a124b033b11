//! The audio device callbacks never allocate (nor free): run under an allocation guard in debug
//! builds, with rings that fill up and run dry, in every sample format a device may use.

use std::sync::Arc;

use assert_no_alloc::{AllocDisabler, assert_no_alloc, reset_violation_count, violation_count};
use confer::media::audio::device::{CaptureCallback, PlayoutCallback, StreamHealth};
use ringbuf::HeapRb;
use ringbuf::traits::{Consumer, Producer, Split};

#[cfg(debug_assertions)]
#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

/// The guard's counter is per thread and tests run on several: one test does it all in order.
#[test]
fn callbacks_run_without_allocating() {
    // The guard itself works: an allocation inside counts.
    reset_violation_count();
    assert_no_alloc(|| drop(std::hint::black_box(vec![0u8; 64])));
    assert!(violation_count() > 0, "the allocation guard is not active");

    let health = Arc::new(StreamHealth::default());
    let (producer, mut consumer) = HeapRb::<f32>::new(4_800).split();
    let mut capture = CaptureCallback::new(producer, 2, health.clone());
    let stereo_i16 = vec![8_192i16; 960 * 2];
    let stereo_f32 = vec![0.25f32; 960 * 2];
    let stereo_u8 = vec![192u8; 960 * 2];

    let (mut to_speaker, from_mixer) = HeapRb::<f32>::new(4_800).split();
    let (reference, played) = HeapRb::<f32>::new(4_800).split();
    let mut playout = PlayoutCallback::new(from_mixer, Some(reference), 2, health.clone());
    to_speaker.push_slice(&[0.5; 1_000]);
    let mut out_i16 = vec![0i16; 960 * 2];
    let mut out_f32 = vec![0f32; 960 * 2];

    reset_violation_count();
    assert_no_alloc(|| {
        for _ in 0..4 {
            capture.on_data(&stereo_i16);
            capture.on_data(&stereo_f32);
            capture.on_data(&stereo_u8);
            // Far more than the ring holds: the rest is counted, not stored.
        }
        playout.on_data(&mut out_i16);
        playout.on_data(&mut out_f32);
    });
    assert_eq!(violation_count(), 0, "a device callback allocated");

    // What the callbacks did is right: mono at the source's level, overflow counted...
    let mut mono = vec![0.0; 960];
    assert_eq!(consumer.pop_slice(&mut mono), 960);
    assert!(mono.iter().all(|s| (s - 0.25).abs() < 1e-3), "{}", mono[0]);
    assert!(health.ring_misses() >= 4 * 3 * 960 - 4_800);
    // ...the ring's samples go to both channels, silence and a count when it runs dry...
    assert!(out_i16.iter().all(|s| (*s - 16_384).abs() <= 1));
    assert!(out_f32[..80].iter().all(|s| *s == 0.5));
    assert!(out_f32[80..].iter().all(|s| *s == 0.0));
    // ...and the reference ring holds what was played, silence included.
    assert_eq!(ringbuf::traits::Observer::occupied_len(&played), 1_920);
}
