//! The window's cost per frame in a six-person meeting: each frame brings every other
//! participant's new 720p picture (what 30 fps from each means), which the meeting screen turns
//! into texture updates, and lays out the grid, labels and control bar. Measured on the UI
//! thread without a GPU (egui's CPU side: what competes with the call for the machine's
//! cores). `cargo bench --bench ui_frame`.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use confer::call::engine::{CallControl, CallReport, PeerState};
use confer::call::running::CallLink;
use confer::invite::Invite;
use confer::media::video::decode_thread::Picture;
use confer::media::video::{RgbaImage, TestPattern};
use confer::ui::meeting::Meeting;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const OTHERS: usize = 5;

type Pending = Arc<Mutex<Vec<(String, Picture)>>>;

/// A call whose five others each have a new picture every frame (made outside the timing:
/// in a call they come from the decode threads).
struct Busy {
    reports: Vec<CallReport>,
    pending: Pending,
}

impl CallLink for Busy {
    fn control(&mut self, _: CallControl) {}
    fn leave(&mut self) {}
    fn reports(&mut self) -> Vec<CallReport> {
        std::mem::take(&mut self.reports)
    }
    fn pictures(&mut self) -> Vec<(String, Picture)> {
        std::mem::take(&mut *self.pending.lock().unwrap())
    }
    fn preview(&mut self) -> Option<RgbaImage> {
        None
    }
    fn ended(&mut self) -> Option<Result<(), String>> {
        None
    }
}

fn ui_frame_six_tiles_720p(c: &mut Criterion) {
    let image = TestPattern::new(1280, 720)
        .frame(SystemTime::now())
        .to_rgba();
    let picture = Picture {
        image,
        stripe: None,
        shown_at: SystemTime::now(),
    };
    let reports = (0..OTHERS)
        .map(|i| CallReport::Participant {
            id: format!("p{i}"),
            name: format!("Person {i}"),
            state: PeerState::Connected,
        })
        .collect();
    let invite = Invite::parse("https://meet.example.org/j/bench#t=x").unwrap();
    let pending = Pending::default();
    let busy = Busy {
        reports,
        pending: Arc::clone(&pending),
    };
    let mut meeting = Meeting::new(Box::new(busy), invite, "Bench");
    let ctx = egui::Context::default();
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 800.0),
        )),
        ..Default::default()
    };
    c.bench_function("ui_frame_six_tiles_720p", |b| {
        b.iter_batched(
            || {
                *pending.lock().unwrap() = (0..OTHERS)
                    .map(|i| (format!("p{i}"), picture.clone()))
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

criterion_group!(benches, ui_frame_six_tiles_720p);
criterion_main!(benches);
