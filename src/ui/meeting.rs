//! The meeting: a grid of the others' video with their names, muted and camera-off marks and
//! connection state, the active speaker outlined, and the control bar (microphone, camera,
//! leave; Ctrl/Cmd+D and Ctrl/Cmd+E). It draws what the call reports and sends it controls; it
//! never waits on the call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use egui::{Color32, Key, KeyboardShortcut, Modifiers, RichText, Stroke, TextureOptions};

use crate::call::engine::{CallControl, CallReport, PeerState};
use crate::call::running::CallLink;
use crate::media::video::decode_thread::Picture;

const MIC_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::D);
const CAMERA_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::E);
/// A participant this loud (RMS) is speaking.
const SPEAKING: f32 = 0.02;
/// How long a notice stays on screen.
const NOTICE_FOR: Duration = Duration::from_secs(6);

struct Person {
    id: String,
    name: String,
    state: PeerState,
    mic_on: bool,
    camera_on: bool,
    level: f32,
    video: Option<egui::TextureHandle>,
}

pub struct Meeting {
    call: Box<dyn CallLink>,
    room: String,
    people: Vec<Person>,
    mic_on: bool,
    camera_on: bool,
    notices: VecDeque<(Instant, String)>,
    /// Leave was pressed; the call is saying goodbye.
    leaving: bool,
}

/// What the meeting screen asks of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingOutcome {
    /// The call is over: Ok when we left, Err with why it could not go on.
    Ended(Result<(), String>),
}

impl Meeting {
    pub fn new(call: Box<dyn CallLink>, room: String) -> Self {
        Self {
            call,
            room,
            people: Vec::new(),
            mic_on: true,
            camera_on: true,
            notices: VecDeque::new(),
            leaving: false,
        }
    }

    fn person(&mut self, id: &str) -> Option<&mut Person> {
        self.people.iter_mut().find(|p| p.id == id)
    }

    fn apply(&mut self, report: CallReport, now: Instant) {
        match report {
            CallReport::Participant { id, name, state } => match state {
                PeerState::Left | PeerState::Unreachable => {
                    if state == PeerState::Unreachable {
                        self.notice(now, format!("{name} cannot be reached"));
                    }
                    self.people.retain(|p| p.id != id);
                }
                _ => match self.person(&id) {
                    Some(person) => {
                        person.state = state;
                        person.name = name;
                    }
                    None => self.people.push(Person {
                        id,
                        name,
                        state,
                        mic_on: true,
                        camera_on: true,
                        level: 0.0,
                        video: None,
                    }),
                },
            },
            CallReport::Media {
                id,
                mic_on,
                camera_on,
            } => {
                if let Some(person) = self.person(&id) {
                    person.mic_on = mic_on;
                    person.camera_on = camera_on;
                }
            }
            CallReport::Levels { remotes, .. } => {
                for (id, level) in remotes {
                    if let Some(person) = self.person(&id) {
                        person.level = level;
                    }
                }
            }
            CallReport::Notice(text) => self.notice(now, text),
            CallReport::Stats(_) | CallReport::Picture { .. } => {}
        }
    }

    fn notice(&mut self, now: Instant, text: String) {
        self.notices.push_back((now, text));
        while self.notices.len() > 3 {
            self.notices.pop_front();
        }
    }

    fn show_picture(&mut self, ctx: &egui::Context, id: &str, picture: Picture) {
        let image = &picture.image;
        // Decoded pictures are opaque, so the RGBA bytes are already premultiplied.
        if image.width == 0 || image.pixels.len() != image.width * image.height * 4 {
            return;
        }
        let Some(person) = self.person(id) else {
            return;
        };
        let colour =
            egui::ColorImage::from_rgba_premultiplied([image.width, image.height], &image.pixels);
        match &mut person.video {
            Some(texture) => texture.set(colour, TextureOptions::LINEAR),
            None => {
                person.video =
                    Some(ctx.load_texture(format!("video-{id}"), colour, TextureOptions::LINEAR));
            }
        }
    }

    fn set(&mut self, control: CallControl) {
        match control {
            CallControl::Mic(on) => self.mic_on = on,
            CallControl::Camera(on) => self.camera_on = on,
        }
        self.call.control(control);
    }

    /// Draws the meeting; Some when it is over.
    pub fn meeting_ui(&mut self, ui: &mut egui::Ui) -> Option<MeetingOutcome> {
        let now = Instant::now();
        for report in self.call.reports() {
            self.apply(report, now);
        }
        for (id, picture) in self.call.pictures() {
            self.show_picture(ui.ctx(), &id, picture);
        }
        if let Some(result) = self.call.ended() {
            return Some(MeetingOutcome::Ended(result));
        }
        if self.leaving {
            // The call's last word may come before its thread is done: look again shortly.
            ui.ctx().request_repaint_after(Duration::from_millis(50));
        }
        self.notices.retain(|(at, _)| now - *at < NOTICE_FOR);
        if let Some((at, _)) = self.notices.front() {
            // Wake up to take the notice down.
            ui.ctx()
                .request_repaint_after(NOTICE_FOR.saturating_sub(now - *at));
        }

        if ui.input_mut(|i| i.consume_shortcut(&MIC_SHORTCUT)) {
            self.set(CallControl::Mic(!self.mic_on));
        }
        if ui.input_mut(|i| i.consume_shortcut(&CAMERA_SHORTCUT)) {
            self.set(CallControl::Camera(!self.camera_on));
        }

        let mut leave = false;
        egui::Panel::bottom("controls").show(ui, |ui| {
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                let mic = if self.mic_on { "Mute" } else { "Unmute" };
                if ui
                    .button(mic)
                    .on_hover_text("Microphone (Ctrl+D)")
                    .clicked()
                {
                    self.set(CallControl::Mic(!self.mic_on));
                }
                let camera = if self.camera_on {
                    "Stop video"
                } else {
                    "Start video"
                };
                if ui.button(camera).on_hover_text("Camera (Ctrl+E)").clicked() {
                    self.set(CallControl::Camera(!self.camera_on));
                }
                ui.separator();
                ui.label(format!("{} · {} here", self.room, self.people.len() + 1));
                if ui
                    .add(
                        egui::Button::new(RichText::new("Leave").color(Color32::WHITE))
                            .fill(Color32::from_rgb(0xd1, 0x24, 0x2f)),
                    )
                    .clicked()
                {
                    leave = true;
                }
            });
            ui.add_space(6.0);
        });
        if leave && !self.leaving {
            self.leaving = true;
            self.call.leave();
            ui.ctx().request_repaint();
        }

        egui::CentralPanel::default().show(ui, |ui| {
            for (_, text) in &self.notices {
                ui.colored_label(ui.visuals().warn_fg_color, text);
            }
            if self.people.is_empty() {
                ui.centered_and_justified(|ui| {
                    ui.label("Waiting for others to join…");
                });
                return;
            }
            self.grid_ui(ui);
        });
        None
    }

    fn grid_ui(&self, ui: &mut egui::Ui) {
        let count = self.people.len();
        let columns = (count as f32).sqrt().ceil() as usize;
        let rows = count.div_ceil(columns);
        let gap = 8.0;
        let full = ui.available_size();
        let tile = egui::vec2(
            (full.x - gap * (columns - 1) as f32) / columns as f32,
            (full.y - gap * (rows - 1) as f32) / rows as f32,
        );
        let origin = ui.min_rect().min;
        for (i, person) in self.people.iter().enumerate() {
            let (row, column) = (i / columns, i % columns);
            let min =
                origin + egui::vec2(column as f32 * (tile.x + gap), row as f32 * (tile.y + gap));
            let rect = egui::Rect::from_min_size(min, tile);
            ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| {
                tile_ui(ui, person, rect);
            });
        }
    }
}

fn tile_ui(ui: &mut egui::Ui, person: &Person, rect: egui::Rect) {
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 8.0, Color32::from_gray(0x2a));
    match (&person.video, person.camera_on) {
        (Some(texture), true) => {
            let size = texture.size_vec2();
            let scale = (rect.width() / size.x).min(rect.height() / size.y);
            let shown = egui::Rect::from_center_size(rect.center(), size * scale);
            painter.image(
                texture.id(),
                shown,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        _ => {
            let initial = person.name.chars().next().unwrap_or('?').to_uppercase();
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                initial.to_string(),
                egui::FontId::proportional(48.0),
                Color32::from_gray(0xaa),
            );
        }
    }
    if person.level > SPEAKING && person.mic_on {
        painter.rect_stroke(
            rect,
            8.0,
            Stroke::new(3.0, Color32::from_rgb(0x3f, 0xb9, 0x50)),
            egui::StrokeKind::Inside,
        );
    }
    let mut label = person.name.clone();
    if !person.mic_on {
        label.push_str(" · muted");
    }
    match person.state {
        PeerState::Connecting => label.push_str(" · connecting…"),
        PeerState::Reconnecting => label.push_str(" · reconnecting…"),
        _ => {}
    }
    let strip = egui::Rect::from_min_size(
        rect.left_bottom() + egui::vec2(8.0, -28.0),
        egui::vec2(rect.width() - 16.0, 22.0),
    );
    let left = egui::Layout::left_to_right(egui::Align::Center);
    ui.scope_builder(egui::UiBuilder::new().max_rect(strip).layout(left), |ui| {
        ui.label(
            RichText::new(label)
                .color(Color32::WHITE)
                .background_color(Color32::from_black_alpha(160)),
        );
    });
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use egui::accesskit::Role;
    use egui_kittest::{Harness, kittest::Queryable};

    use super::*;
    use crate::media::video::frame::RgbaImage;

    /// A call that plays back what the test queues and records what it was asked.
    #[derive(Default, Clone)]
    struct Script {
        reports: Arc<Mutex<Vec<CallReport>>>,
        pictures: Arc<Mutex<Vec<(String, Picture)>>>,
        controls: Arc<Mutex<Vec<CallControl>>>,
        left: Arc<Mutex<bool>>,
        ended: Arc<Mutex<Option<Result<(), String>>>>,
    }

    impl CallLink for Script {
        fn control(&mut self, control: CallControl) {
            self.controls.lock().unwrap().push(control);
        }
        fn leave(&mut self) {
            *self.left.lock().unwrap() = true;
            *self.ended.lock().unwrap() = Some(Ok(()));
        }
        fn reports(&mut self) -> Vec<CallReport> {
            std::mem::take(&mut *self.reports.lock().unwrap())
        }
        fn pictures(&mut self) -> Vec<(String, Picture)> {
            std::mem::take(&mut *self.pictures.lock().unwrap())
        }
        fn ended(&mut self) -> Option<Result<(), String>> {
            self.ended.lock().unwrap().clone()
        }
    }

    impl Script {
        fn say(&self, report: CallReport) {
            self.reports.lock().unwrap().push(report);
        }
        fn person(&self, id: &str, name: &str, state: PeerState) {
            self.say(CallReport::Participant {
                id: id.into(),
                name: name.into(),
                state,
            });
        }
    }

    type State = (Meeting, Option<MeetingOutcome>);

    fn harness(script: &Script) -> Harness<'static, State> {
        Harness::builder()
            .with_size(egui::vec2(800.0, 500.0))
            .build_ui_state(
                |ui, (meeting, outcome): &mut State| {
                    if let Some(o) = meeting.meeting_ui(ui) {
                        *outcome = Some(o);
                    }
                },
                (
                    Meeting::new(Box::new(script.clone()), "standup".into()),
                    None,
                ),
            )
    }

    #[test]
    fn people_come_and_go_with_their_state() {
        let script = Script::default();
        let mut harness = harness(&script);
        harness.get_by_label("Waiting for others to join…");
        script.person("a", "Ana", PeerState::Connecting);
        script.person("b", "Lei", PeerState::Connected);
        harness.run();
        harness.get_by_label("Ana · connecting…");
        harness.get_by_label("Lei");
        harness.get_by_label_contains("3 here");
        script.person("a", "Ana", PeerState::Connected);
        script.person("b", "Lei", PeerState::Reconnecting);
        harness.run();
        harness.get_by_label("Ana");
        harness.get_by_label("Lei · reconnecting…");
        script.person("b", "Lei", PeerState::Unreachable);
        script.person("a", "Ana", PeerState::Left);
        harness.run();
        assert!(harness.query_by_label_contains("Ana").is_none());
        harness.get_by_label("Lei cannot be reached");
        harness.get_by_label("Waiting for others to join…");
    }

    #[test]
    fn muting_sends_controls_and_others_mute_is_shown() {
        let script = Script::default();
        let mut harness = harness(&script);
        script.person("a", "Ana", PeerState::Connected);
        harness.run();
        harness.get_by_role_and_label(Role::Button, "Mute").click();
        harness.run();
        harness.get_by_role_and_label(Role::Button, "Unmute");
        harness
            .get_by_role_and_label(Role::Button, "Stop video")
            .click();
        harness.run();
        harness.get_by_role_and_label(Role::Button, "Start video");
        // The shortcut turns the microphone back on.
        harness.key_press_modifiers(Modifiers::COMMAND, Key::D);
        harness.run();
        harness.get_by_role_and_label(Role::Button, "Mute");
        assert_eq!(
            *script.controls.lock().unwrap(),
            [
                CallControl::Mic(false),
                CallControl::Camera(false),
                CallControl::Mic(true)
            ]
        );
        script.say(CallReport::Media {
            id: "a".into(),
            mic_on: false,
            camera_on: true,
        });
        harness.run();
        harness.get_by_label("Ana · muted");
    }

    #[test]
    fn a_picture_becomes_the_tile_and_leave_ends_the_meeting() {
        let script = Script::default();
        let mut harness = harness(&script);
        script.person("a", "Ana", PeerState::Connected);
        harness.run();
        let picture = |w: usize, h: usize, pixels: Vec<u8>| Picture {
            image: RgbaImage {
                width: w,
                height: h,
                pixels,
            },
            stripe: None,
            shown_at: std::time::SystemTime::now(),
        };
        script
            .pictures
            .lock()
            .unwrap()
            .push(("a".into(), picture(4, 2, vec![200; 32])));
        harness.run();
        assert!(harness.state().0.people[0].video.is_some());
        // A picture whose bytes do not match its size is ignored, not a crash.
        script
            .pictures
            .lock()
            .unwrap()
            .push(("a".into(), picture(640, 360, vec![0; 10])));
        harness.run();
        harness.get_by_role_and_label(Role::Button, "Leave").click();
        harness.run();
        assert!(*script.left.lock().unwrap());
        assert_eq!(harness.state().1, Some(MeetingOutcome::Ended(Ok(()))));
    }
}
