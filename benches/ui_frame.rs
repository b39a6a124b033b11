//! The window's cost per frame in a six-person meeting: each frame brings every other
//! participant's new 720p picture (what 30 fps from each means), which the meeting screen turns
//! into texture updates, and lays out the grid, labels and control bar. Measured on the UI
//! thread without a GPU (egui's CPU side: what competes with the call for the machine's
//! cores). Twice: with pictures at the stream's full size, and at the size the decode thread
//! converts them to once the meeting has told it each tile's size (`CallControl::Fit`).
//! `cargo bench --bench ui_frame`.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use confer::call::events::{CallControl, CallError, CallReport, PeerState};
use confer::call::ids::ParticipantId;
use confer::call::machine::Feed;
use confer::call::running::CallLink;
use confer::invite::Invite;
use confer::media::video::decode_thread::Picture;
use confer::media::video::frame::i420_to_rgba_fitted;
use confer::media::video::{RgbaImage, TestPattern};
use confer::ui::meeting::Meeting;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const OTHERS: usize = 5;

type Pending = Arc<Mutex<Vec<(ParticipantId, Feed, Picture)>>>;
type Fits = Arc<Mutex<Vec<(u32, u32)>>>;

/// A call whose five others each have a new picture every frame (made outside the timing:
/// in a call they come from the decode threads).
struct Busy {
    reports: Vec<CallReport>,
    pending: Pending,
    fits: Fits,
}

impl CallLink for Busy {
    fn control(&mut self, control: CallControl) {
        if let CallControl::Fit { width, height, .. } = control {
            self.fits.lock().unwrap().push((width, height));
        }
    }
    fn leave(&mut self) {}
    fn reports(&mut self) -> Vec<CallReport> {
        std::mem::take(&mut self.reports)
    }
    fn pictures(&mut self) -> Vec<(ParticipantId, Feed, Picture)> {
        std::mem::take(&mut *self.pending.lock().unwrap())
    }
    fn preview(&mut self) -> Option<RgbaImage> {
        None
    }
    fn ended(&mut self) -> Option<Result<(), CallError>> {
        None
    }
}

fn input() -> egui::RawInput {
    egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 800.0),
        )),
        ..Default::default()
    }
}

fn six_tiles(c: &mut Criterion, name: &str, fitted: bool) {
    let frame = TestPattern::new(1280, 720).frame(SystemTime::now());
    let reports = (0..OTHERS)
        .map(|i| CallReport::Participant {
            id: format!("p{i}").into(),
            name: format!("Person {i}"),
            state: PeerState::Connected,
        })
        .collect();
    let invite = Invite::parse("https://meet.example.org/j/bench#t=x").unwrap();
    let pending = Pending::default();
    let fits = Fits::default();
    let busy = Busy {
        reports,
        pending: Arc::clone(&pending),
        fits: Arc::clone(&fits),
    };
    let mut meeting = Meeting::new(Box::new(busy), invite, "Bench");
    let ctx = egui::Context::default();
    // A first frame lays out the grid, and the meeting says how big its tiles are.
    let mut first = ctx.run_ui(input(), |ui| {
        meeting.meeting_ui(ui);
    });
    first.textures_delta.clear();
    // What the decode thread makes for such a tile (or the full picture, not fitted).
    let fit = fits
        .lock()
        .unwrap()
        .first()
        .filter(|_| fitted)
        .map(|&(width, height)| (width as usize, height as usize));
    let mut pixels = Vec::new();
    let (width, height) = i420_to_rgba_fitted(
        (1280, 720),
        (frame.y(), frame.u(), frame.v()),
        (1280, 640, 640),
        fit,
        &mut pixels,
    );
    let image = RgbaImage {
        width,
        height,
        pixels,
    };
    let picture = Picture {
        image,
        stream_size: (1280, 720),
        stripe: None,
        shown_at: SystemTime::now(),
    };
    c.bench_function(name, |b| {
        b.iter_batched(
            || {
                *pending.lock().unwrap() = (0..OTHERS)
                    .map(|i| {
                        let id = ParticipantId::from(format!("p{i}"));
                        (id, Feed::Camera, picture.clone())
                    })
                    .collect();
            },
            |()| {
                let mut output = ctx.run_ui(input(), |ui| {
                    meeting.meeting_ui(ui);
                });
                let updates = output.textures_delta.set.len();
                // No renderer takes them here (egui insists they are not dropped unseen).
                output.textures_delta.clear();
                black_box(updates)
            },
            BatchSize::PerIteration,
        )
    });
}

fn ui_frame_six_tiles_720p(c: &mut Criterion) {
    six_tiles(c, "ui_frame_six_tiles_720p", false);
    six_tiles(c, "ui_frame_six_tiles_720p_fitted", true);
}

criterion_group!(benches, ui_frame_six_tiles_720p);
criterion_main!(benches);
