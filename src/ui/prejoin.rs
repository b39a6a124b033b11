//! Pre-join: before anything connects, the meeting's room and host (a link is untrusted input:
//! the person sees where it leads), our camera's picture, our microphone's level, a choice of
//! camera, microphone and speaker, and whether to join with each on.

use super::i18n::{tr, tr_fill};
use std::collections::BTreeMap;

use egui::{Color32, RichText};

pub use super::devices::DeviceLists;
use super::devices::{camera_picker, mic_picker, speaker_picker};
use super::texture::show_image;

use crate::call::check::DeviceLink;
use crate::call::events::{Device, DeviceProblem};
use crate::invite::Invite;
use crate::media::source::{CameraChoice, MicChoice, SpeakerChoice};

/// What the person chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    pub camera: CameraChoice,
    pub mic: MicChoice,
    pub speaker: SpeakerChoice,
    pub mic_on: bool,
    pub camera_on: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreJoinAction {
    Join(Invite, Choices),
    Back,
}

/// Starts a device check for the chosen camera and microphone.
pub type StartCheck =
    Box<dyn FnMut(&CameraChoice, &MicChoice, &SpeakerChoice) -> Box<dyn DeviceLink>>;

pub struct PreJoin {
    invite: Invite,
    lists: DeviceLists,
    choices: Choices,
    start_check: StartCheck,
    check: Option<Box<dyn DeviceLink>>,
    preview: Option<egui::TextureHandle>,
    problems: BTreeMap<Device, DeviceProblem>,
}

impl PreJoin {
    pub fn invite(&self) -> &Invite {
        &self.invite
    }

    pub fn new(
        invite: Invite,
        lists: DeviceLists,
        choices: Choices,
        start_check: StartCheck,
    ) -> Self {
        let mut prejoin = Self {
            invite,
            lists,
            choices,
            start_check,
            check: None,
            preview: None,
            problems: BTreeMap::new(),
        };
        prejoin.restart_check();
        prejoin
    }

    /// The devices found (they are looked for while pre-join shows).
    pub fn set_lists(&mut self, lists: DeviceLists) {
        self.lists = lists;
    }

    fn restart_check(&mut self) {
        // The devices are let go before they are opened again.
        self.check = None;
        self.preview = None;
        self.check = Some((self.start_check)(
            &self.choices.camera,
            &self.choices.mic,
            &self.choices.speaker,
        ));
    }

    /// Draws the screen; Some when the person joins or goes back.
    pub fn prejoin_ui(&mut self, ui: &mut egui::Ui) -> Option<PreJoinAction> {
        if let Some(check) = self.check.as_mut() {
            if let Some(image) = check.preview() {
                show_image(ui.ctx(), &mut self.preview, "preview", image);
            }
            self.problems = check.problems();
        }
        // The meter moves with the voice: look again soon.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(100));
        let mut action = None;
        let mut changed = false;
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading(format!("{} \"{}\"", tr("Join"), self.invite.room));
            let mut host = tr_fill("on {}", &[&self.invite.authority()]);
            if !self.invite.secure {
                host.push_str(tr(" (local network, unencrypted signaling)"));
            }
            ui.label(host);
            ui.weak(tr(
                "Joining connects to this server. Join only if you expected this meeting.",
            ));
            ui.add_space(12.0);
            ui.horizontal_top(|ui| {
                self.preview_ui(ui);
                ui.add_space(16.0);
                ui.vertical(|ui| {
                    changed = self.devices_ui(ui);
                    ui.add_space(12.0);
                    ui.horizontal(|ui| {
                        if ui.button(tr("Join now")).clicked() {
                            action = Some(PreJoinAction::Join(
                                self.invite.clone(),
                                self.choices.clone(),
                            ));
                        }
                        if ui.button(tr("Back")).clicked() {
                            action = Some(PreJoinAction::Back);
                        }
                    });
                });
            });
        });
        if changed {
            self.restart_check();
        }
        if action.is_some() {
            // The call opens the devices itself.
            self.check = None;
        }
        action
    }

    fn preview_ui(&self, ui: &mut egui::Ui) {
        let size = egui::vec2(400.0, 225.0);
        let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 8.0, Color32::from_gray(0x2a));
        let text = match (&self.preview, self.problems.get(&Device::Camera)) {
            (_, Some(why)) => Some(problem_words(Device::Camera, why)),
            (_, None) if !self.choices.camera_on || self.choices.camera == CameraChoice::Off => {
                Some(tr("Camera off").to_string())
            }
            (Some(texture), None) => {
                let scale = (rect.width() / texture.size_vec2().x)
                    .min(rect.height() / texture.size_vec2().y);
                let shown =
                    egui::Rect::from_center_size(rect.center(), texture.size_vec2() * scale);
                painter.image(
                    texture.id(),
                    shown,
                    egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                    Color32::WHITE,
                );
                None
            }
            (None, None) => Some(tr("Starting the camera…").to_string()),
        };
        if let Some(text) = text {
            ui.put(
                rect,
                egui::Label::new(RichText::new(text).color(Color32::LIGHT_GRAY)),
            );
        }
    }

    /// The pickers, the meter and the switches; true when a device changed.
    fn devices_ui(&mut self, ui: &mut egui::Ui) -> bool {
        let mut changed = camera_picker(ui, &mut self.choices.camera, &self.lists.cameras);
        ui.checkbox(&mut self.choices.camera_on, tr("Camera on when I join"));
        ui.add_space(8.0);

        changed |= mic_picker(ui, &mut self.choices.mic, &self.lists.microphones);
        let level = self.check.as_ref().map_or(0.0, |c| c.mic_level());
        // RMS of speech sits around 0.01 to 0.3: a square root spreads that over the bar.
        ui.add(
            egui::ProgressBar::new(level.clamp(0.0, 1.0).sqrt())
                .desired_width(220.0)
                .text(tr("Microphone level")),
        );
        if let Some(why) = self.problems.get(&Device::Microphone) {
            ui.colored_label(
                ui.visuals().error_fg_color,
                problem_words(Device::Microphone, why),
            );
        }
        ui.checkbox(&mut self.choices.mic_on, tr("Microphone on when I join"));
        ui.add_space(8.0);

        changed |= speaker_picker(ui, &mut self.choices.speaker, &self.lists.speakers);
        if ui.button(tr("Test speaker")).clicked()
            && let Some(check) = self.check.as_mut()
        {
            check.play_test_sound();
        }
        if let Some(why) = self.problems.get(&Device::Speaker) {
            ui.colored_label(
                ui.visuals().error_fg_color,
                problem_words(Device::Speaker, why),
            );
        }
        changed
    }
}

/// What the pre-join screen says of a device that gives nothing.
fn problem_words(device: Device, problem: &DeviceProblem) -> String {
    match (problem, device) {
        (DeviceProblem::Missing, Device::Camera) => tr("No camera was found.").into(),
        (DeviceProblem::Missing, Device::Microphone) => tr("No microphone was found.").into(),
        (DeviceProblem::Missing, Device::Speaker) => tr("No speaker was found.").into(),
        (DeviceProblem::Failed(why), Device::Camera) => {
            tr_fill("Your camera is not working ({})", &[why])
        }
        (DeviceProblem::Failed(why), Device::Microphone) => {
            tr_fill("Your microphone is not working ({})", &[why])
        }
        (DeviceProblem::Failed(why), Device::Speaker) => {
            tr_fill("Your speaker is not working ({})", &[why])
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use egui::accesskit::Role;
    use egui_kittest::{Harness, kittest::Queryable};

    use super::*;
    use crate::config::Language;
    use crate::media::devices::Device as DeviceInfo;
    use crate::media::video::RgbaImage;

    /// A device check that shows what the test says, and records what was opened.
    struct FakeCheck {
        chimes: Arc<Mutex<u32>>,
        level: f32,
        problems: BTreeMap<Device, DeviceProblem>,
        preview: Option<RgbaImage>,
    }

    impl DeviceLink for FakeCheck {
        fn preview(&mut self) -> Option<RgbaImage> {
            self.preview.take()
        }
        fn mic_level(&self) -> f32 {
            self.level
        }
        fn problems(&mut self) -> BTreeMap<Device, DeviceProblem> {
            self.problems.clone()
        }
        fn play_test_sound(&mut self) {
            *self.chimes.lock().unwrap() += 1;
        }
    }

    type Opened = Arc<Mutex<Vec<(CameraChoice, MicChoice)>>>;

    static CHIMES: std::sync::LazyLock<Arc<Mutex<u32>>> = std::sync::LazyLock::new(Arc::default);

    fn harness(
        opened: &Opened,
        problems: &[(Device, DeviceProblem)],
    ) -> Harness<'static, (PreJoin, Vec<PreJoinAction>)> {
        let invite = Invite::parse("https://meet.example.org/j/standup#t=tok").unwrap();
        let lists = DeviceLists {
            cameras: vec![DeviceInfo {
                id: "0".into(),
                name: "Front Camera".into(),
                is_default: true,
            }],
            microphones: vec![DeviceInfo {
                id: "pulseaudio:desk".into(),
                name: "Desk Mic".into(),
                is_default: true,
            }],
            speakers: Vec::new(),
        };
        let choices = Choices {
            camera: CameraChoice::Default,
            mic: MicChoice::Default,
            speaker: SpeakerChoice::Default,
            mic_on: true,
            camera_on: true,
        };
        let record = Arc::clone(opened);
        let problems: BTreeMap<Device, DeviceProblem> = problems.iter().cloned().collect();
        let start: StartCheck = Box::new(move |camera, mic, _speaker| {
            record.lock().unwrap().push((camera.clone(), mic.clone()));
            Box::new(FakeCheck {
                chimes: Arc::clone(&CHIMES),
                level: 0.25,
                problems: problems.clone(),
                preview: Some(RgbaImage {
                    width: 2,
                    height: 2,
                    pixels: vec![200; 16],
                }),
            })
        });
        Harness::builder()
            .with_size(egui::vec2(900.0, 600.0))
            .build_ui_state(
                |ui, (prejoin, actions): &mut (PreJoin, Vec<PreJoinAction>)| {
                    if let Some(action) = prejoin.prejoin_ui(ui) {
                        actions.push(action);
                    }
                },
                (PreJoin::new(invite, lists, choices, start), Vec::new()),
            )
    }

    #[test]
    fn the_host_and_room_are_shown_and_join_carries_the_choices() {
        let opened = Opened::default();
        let mut harness = harness(&opened, &[]);
        harness.get_by_label("Join \"standup\"");
        harness.get_by_label("on meet.example.org");
        assert!(
            harness.state().0.preview.is_some(),
            "the camera is previewed"
        );
        harness.get_by_label("Microphone level");
        let chimes = *CHIMES.lock().unwrap();
        harness.get_by_label("Test speaker").click();
        harness.run();
        assert!(
            *CHIMES.lock().unwrap() > chimes,
            "the test sound was not asked for"
        );
        harness
            .get_by_role_and_label(Role::CheckBox, "Microphone on when I join")
            .click();
        harness.run();
        harness.get_by_label("Join now").click();
        harness.run();
        let invite = Invite::parse("https://meet.example.org/j/standup#t=tok").unwrap();
        assert_eq!(
            harness.state().1,
            [PreJoinAction::Join(
                invite,
                Choices {
                    camera: CameraChoice::Default,
                    mic: MicChoice::Default,
                    speaker: SpeakerChoice::Default,
                    mic_on: false,
                    camera_on: true,
                }
            )]
        );
        // The devices were opened once, for the check, and let go for the call.
        assert_eq!(opened.lock().unwrap().len(), 1);
        assert!(harness.state().0.check.is_none());
    }

    #[test]
    fn choosing_another_camera_opens_it_and_a_broken_one_is_explained() {
        let opened = Opened::default();
        let denied = [(
            Device::Camera,
            DeviceProblem::Failed("access denied".into()),
        )];
        let mut harness = harness(&opened, &denied);
        harness.get_by_label_contains("Your camera is not working (access denied)");
        harness
            .get_by_role_and_label(Role::ComboBox, "Camera")
            .click();
        harness.run();
        harness.get_by_label("Test pattern").click();
        harness.run();
        assert_eq!(
            opened.lock().unwrap().last().unwrap().0,
            CameraChoice::TestPattern
        );
        harness.get_by_label("Back").click();
        harness.run();
        assert_eq!(harness.state().1, [PreJoinAction::Back]);
    }

    /// A machine with no camera, microphone or speaker at all: pre-join says none was found
    /// (it said "the camera was disconnected"), in English and in Chinese.
    #[test]
    fn no_devices_at_all_are_said_to_be_missing_in_either_language() {
        let missing = [
            (Device::Camera, DeviceProblem::Missing),
            (Device::Microphone, DeviceProblem::Missing),
            (Device::Speaker, DeviceProblem::Missing),
        ];
        for (language, words) in [
            (
                Language::English,
                [
                    "No camera was found.",
                    "No microphone was found.",
                    "No speaker was found.",
                ],
            ),
            (
                Language::SimplifiedChinese,
                ["未找到摄像头。", "未找到麦克风。", "未找到扬声器。"],
            ),
        ] {
            let opened = Opened::default();
            let mut harness = harness(&opened, &missing);
            crate::ui::install_system_fonts(&harness.ctx);
            crate::ui::i18n::set_language(language);
            harness.run();
            crate::ui::i18n::set_language(Language::English);
            for said in words {
                harness.get_by_label(said);
            }
            assert!(harness.query_by_label_contains("disconnected").is_none());
        }
    }
}
