//! Settings: theme, the microphone's processing, and how much video to send. Devices are chosen
//! on the pre-join screen, which remembers them here.

use crate::config::{Settings, Theme, VideoQuality};

/// Draws the settings; true when "Done" was pressed.
pub fn settings_ui(ui: &mut egui::Ui, settings: &mut Settings) -> bool {
    ui.heading("Settings");
    ui.add_space(8.0);

    ui.label(egui::RichText::new("Appearance").strong());
    ui.horizontal(|ui| {
        let theme = &mut settings.appearance.theme;
        ui.radio_value(theme, Theme::System, "Like the system");
        ui.radio_value(theme, Theme::Dark, "Dark");
        ui.radio_value(theme, Theme::Light, "Light");
    });
    ui.add_space(8.0);

    ui.label(egui::RichText::new("Microphone").strong());
    let audio = &mut settings.audio;
    ui.checkbox(&mut audio.echo_cancellation, "Echo cancellation");
    ui.checkbox(&mut audio.noise_suppression, "Noise suppression");
    ui.checkbox(&mut audio.auto_gain, "Automatic gain");
    ui.weak("Applies from the next meeting.");
    ui.add_space(8.0);

    ui.label(egui::RichText::new("Video I send").strong());
    ui.horizontal(|ui| {
        let quality = &mut settings.video.quality;
        ui.radio_value(quality, VideoQuality::Low, "Low (slow connections)");
        ui.radio_value(quality, VideoQuality::Standard, "Standard");
        ui.radio_value(quality, VideoQuality::High, "High");
    });
    ui.add_space(12.0);
    ui.button("Done").clicked()
}

#[cfg(test)]
mod tests {
    use egui::accesskit::Role;
    use egui_kittest::{Harness, kittest::Queryable};

    use super::*;

    #[test]
    fn choices_go_into_the_settings() {
        let mut harness = Harness::new_ui_state(
            |ui, (settings, done): &mut (Settings, bool)| {
                *done |= settings_ui(ui, settings);
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
}
