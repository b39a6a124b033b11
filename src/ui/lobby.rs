//! The lobby: paste an invite link, say who you are. Pre-join, the meeting and "New meeting"
//! arrive with the app issue; until then the lobby checks the link and says what it points to.

use crate::config::Settings;
use crate::invite::{Invite, InviteError};

pub struct Lobby {
    link: String,
    /// The link as last checked: what it points to, or why it is wrong.
    checked: Option<Result<Invite, InviteError>>,
}

impl Lobby {
    pub fn new(invite: Option<Invite>) -> Self {
        match invite {
            Some(invite) => Self {
                link: invite.app_link(),
                checked: Some(Ok(invite)),
            },
            None => Self {
                link: String::new(),
                checked: None,
            },
        }
    }

    pub fn lobby_ui(&mut self, ui: &mut egui::Ui, settings: &mut Settings) {
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.15);
            ui.heading(egui::RichText::new("Confer").size(40.0).strong());
            ui.label("Meetings that run on your own machines.");
            ui.add_space(24.0);

            egui::Frame::group(ui.style())
                .inner_margin(16.0)
                .show(ui, |ui| {
                    ui.set_max_width(520.0);
                    ui.with_layout(egui::Layout::top_down(egui::Align::LEFT), |ui| {
                        self.form_ui(ui, settings);
                    });
                });
        });
    }

    fn form_ui(&mut self, ui: &mut egui::Ui, settings: &mut Settings) {
        ui.label("Your name");
        ui.add(
            egui::TextEdit::singleline(&mut settings.profile.name)
                .hint_text("How others see you")
                .desired_width(f32::INFINITY),
        );
        ui.add_space(12.0);

        ui.label("Invite link");
        let edit = ui.add(
            egui::TextEdit::singleline(&mut self.link)
                .hint_text("confer://host/room#t=... or https://host/j/room#t=...")
                .desired_width(f32::INFINITY),
        );
        if edit.changed() {
            self.checked = (!self.link.trim().is_empty()).then(|| Invite::parse(&self.link));
        }
        ui.add_space(8.0);

        match &self.checked {
            Some(Ok(invite)) => {
                ui.label(format!(
                    "Room \"{}\" on {}{}",
                    invite.room,
                    invite.authority(),
                    if invite.secure {
                        ""
                    } else {
                        " (local network, unencrypted signaling)"
                    }
                ));
                ui.weak("Joining from the app arrives in the next release.");
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e.to_string());
            }
            None => {
                ui.weak("Paste the link someone sent you.");
            }
        }
    }
}
