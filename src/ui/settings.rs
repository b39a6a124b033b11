//! Settings: language and theme, the devices to start with, the microphone's processing, and
//! how much video to send. The pre-join screen starts from these devices and remembers what is
//! chosen there.

use super::devices::{DeviceLists, camera_picker, mic_picker, speaker_picker};
use super::i18n::tr;
use crate::config::{Language, Settings, Theme, VideoQuality};
use crate::media::source::{CameraChoice, MicChoice, SpeakerChoice};

/// Draws the settings; true when "Done" was pressed.
pub fn settings_ui(ui: &mut egui::Ui, settings: &mut Settings, lists: &DeviceLists) -> bool {
    ui.heading(tr("Settings"));
    ui.add_space(8.0);

    ui.label(egui::RichText::new(tr("Appearance")).strong());
    ui.horizontal(|ui| {
        ui.label(tr("Language"));
        let language = &mut settings.appearance.language;
        // Each language is named in itself.
        ui.radio_value(language, Language::English, "English");
        ui.radio_value(language, Language::SimplifiedChinese, "简体中文");
    });
    ui.horizontal(|ui| {
        let theme = &mut settings.appearance.theme;
        ui.radio_value(theme, Theme::System, tr("Like the system"));
        ui.radio_value(theme, Theme::Dark, tr("Dark"));
        ui.radio_value(theme, Theme::Light, tr("Light"));
    });
    ui.add_space(8.0);

    ui.label(egui::RichText::new(tr("Devices")).strong());
    devices_ui(ui, settings, lists);
    ui.add_space(8.0);

    ui.label(egui::RichText::new(tr("Microphone")).strong());
    let audio = &mut settings.audio;
    ui.checkbox(&mut audio.echo_cancellation, tr("Echo cancellation"));
    ui.checkbox(&mut audio.noise_suppression, tr("Noise suppression"));
    ui.checkbox(&mut audio.auto_gain, tr("Automatic gain"));
    ui.weak(tr("Applies from the next meeting."));
    ui.add_space(8.0);

    ui.label(egui::RichText::new(tr("Video I send")).strong());
    ui.horizontal(|ui| {
        let quality = &mut settings.video.quality;
        ui.radio_value(quality, VideoQuality::Low, tr("Low (slow connections)"));
        ui.radio_value(quality, VideoQuality::Standard, tr("Standard"));
        ui.radio_value(quality, VideoQuality::High, tr("High"));
    });
    ui.add_space(8.0);

    ui.label(egui::RichText::new(tr("Notifications")).strong());
    let notifications = &mut settings.notifications;
    ui.checkbox(
        &mut notifications.sounds,
        tr("Sounds when someone joins or leaves"),
    );
    ui.checkbox(
        &mut notifications.notices,
        tr("Notices when someone joins or leaves"),
    );
    ui.add_space(12.0);
    ui.button(tr("Done")).clicked()
}

/// The devices to start with, kept as the ids `confer devices` prints (None: the default).
fn devices_ui(ui: &mut egui::Ui, settings: &mut Settings, lists: &DeviceLists) {
    let devices = &mut settings.devices;
    let mut camera = CameraChoice::from_setting(devices.camera.as_deref());
    if camera_picker(ui, &mut camera, &lists.cameras) {
        devices.camera = camera.setting();
    }
    let mut mic = MicChoice::from_setting(devices.microphone.as_deref());
    if mic_picker(ui, &mut mic, &lists.microphones) {
        devices.microphone = mic.setting();
    }
    let mut speaker = SpeakerChoice::from_setting(devices.speaker.as_deref());
    if speaker_picker(ui, &mut speaker, &lists.speakers) {
        devices.speaker = speaker.setting();
    }
}

#[cfg(test)]
mod tests {
    use egui::accesskit::Role;
    use egui_kittest::{Harness, kittest::Queryable};

    use super::*;

    /// The screen names a language in itself, so Chinese is drawn even in English: fonts go
    /// in during the first pass, before any text.
    fn with_system_fonts(ui: &egui::Ui) {
        crate::ui::install_system_fonts(ui.ctx());
    }

    #[test]
    fn choices_go_into_the_settings() {
        let mut harness = Harness::new_ui_state(
            |ui, (settings, done): &mut (Settings, bool)| {
                with_system_fonts(ui);
                *done |= settings_ui(ui, settings, &DeviceLists::default());
            },
            (Settings::default(), false),
        );
        harness.get_by_label("Dark").click();
        harness
            .get_by_role_and_label(Role::CheckBox, "Echo cancellation")
            .click();
        harness.get_by_label("Low (slow connections)").click();
        harness.run();
        let (settings, done) = harness.state();
        assert_eq!(settings.appearance.theme, Theme::Dark);
        assert!(!settings.audio.echo_cancellation && settings.audio.noise_suppression);
        assert_eq!(settings.video.quality, VideoQuality::Low);
        assert!(!done);
        harness.get_by_label("Done").click();
        harness.run();
        assert!(harness.state().1);
    }

    #[test]
    fn choosing_chinese_turns_the_window_chinese() {
        let mut harness = Harness::new_ui_state(
            |ui, settings: &mut Settings| {
                with_system_fonts(ui);
                crate::ui::i18n::set_language(settings.appearance.language);
                settings_ui(ui, settings, &DeviceLists::default());
            },
            Settings::default(),
        );
        harness.get_by_label("简体中文").click();
        harness.run();
        harness.run();
        let chinese = harness.query_by_label("回声消除").is_some()
            && harness.query_by_label("完成").is_some();
        harness.get_by_label("English").click();
        harness.run();
        harness.run();
        crate::ui::i18n::set_language(Language::English);
        assert!(chinese, "the settings did not turn Chinese");
        harness.get_by_label("Echo cancellation");
        assert_eq!(harness.state().appearance.language, Language::English);
    }

    #[test]
    fn a_device_chosen_is_kept_by_the_id_it_is_read_back_from() {
        let lists = DeviceLists {
            cameras: vec![crate::media::devices::Device {
                id: "2".into(),
                name: "Desk Camera".into(),
                is_default: true,
            }],
            ..DeviceLists::default()
        };
        let mut harness = Harness::new_ui_state(
            move |ui, settings: &mut Settings| {
                with_system_fonts(ui);
                settings_ui(ui, settings, &lists);
            },
            Settings::default(),
        );
        harness
            .get_by_role_and_label(Role::ComboBox, "Camera")
            .click();
        harness.run();
        harness.get_by_label("Desk Camera").click();
        harness.run();
        let kept = harness.state().devices.camera.clone();
        assert_eq!(kept.as_deref(), Some("2"));
        assert_eq!(CameraChoice::parse("2").unwrap(), CameraChoice::Index(2));
    }
}
