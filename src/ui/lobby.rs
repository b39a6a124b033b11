//! The lobby: paste an invite link, say who you are, join; or start a new meeting on this
//! machine and pass its link on. It checks a link as it is typed and says where it leads before
//! anything connects. (Pre-join and recent meetings are still to come.)

use super::i18n::{tr, tr_fill};
use crate::config::Settings;
use crate::invite::{Invite, InviteError};

/// What the lobby asks of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LobbyAction {
    Join(Invite),
    /// Start a meeting on this machine's server ("New meeting").
    NewMeeting,
    Settings,
}

pub struct Lobby {
    link: String,
    /// The link as last checked: what it points to, or why it is wrong.
    checked: Option<Result<Invite, InviteError>>,
    /// Why the last meeting ended or could not start.
    problem: Option<String>,
    /// The link of a meeting this machine serves, to pass on.
    hosted: Option<String>,
}

impl Lobby {
    pub fn new(invite: Option<Invite>) -> Self {
        match invite {
            Some(invite) => Self {
                link: invite.app_link(),
                checked: Some(Ok(invite)),
                problem: None,
                hosted: None,
            },
            None => Self {
                link: String::new(),
                checked: None,
                problem: None,
                hosted: None,
            },
        }
    }

    /// A meeting this machine now serves: its link is shown to pass on, and is the one to join.
    pub fn hosting(&mut self, invite: &Invite) {
        self.hosted = Some(invite.web_link());
        self.link = invite.app_link();
        self.checked = Some(Ok(invite.clone()));
        self.problem = None;
    }

    /// Draws the lobby; Some when the person asks for something.
    pub fn lobby_ui(&mut self, ui: &mut egui::Ui, settings: &mut Settings) -> Option<LobbyAction> {
        let mut join = None;
        // At the window's smallest size (and in Chinese) the card can be taller than the window.
        egui::ScrollArea::vertical()
            .auto_shrink(false)
            .show(ui, |ui| {
                self.card_ui(ui, settings, &mut join);
            });
        join
    }

    fn card_ui(
        &mut self,
        ui: &mut egui::Ui,
        settings: &mut Settings,
        join: &mut Option<LobbyAction>,
    ) {
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.15);
            ui.heading(egui::RichText::new("Confer").size(40.0).strong());
            ui.label(tr("Meetings that run on your own machines."));
            ui.add_space(24.0);

            egui::Frame::group(ui.style())
                .inner_margin(16.0)
                .show(ui, |ui| {
                    // At most 520 wide, and never wider than the window (a larger maximum
                    // would widen the card past both edges).
                    ui.set_max_width(520.0_f32.min(ui.available_width()));
                    ui.with_layout(egui::Layout::top_down(egui::Align::LEFT), |ui| {
                        *join = self.form_ui(ui, settings);
                    });
                });
        });
    }

    /// Shows why joining failed (a refused token, a full room, an unreachable server), in
    /// the window's language already.
    pub fn set_problem(&mut self, problem: Option<String>) {
        self.problem = problem;
    }

    fn form_ui(&mut self, ui: &mut egui::Ui, settings: &mut Settings) -> Option<LobbyAction> {
        let label = ui.label(tr("Your name"));
        ui.add(
            egui::TextEdit::singleline(&mut settings.profile.name)
                .hint_text(tr("How others see you"))
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
        ui.add_space(12.0);

        let label = ui.label(tr("Invite link"));
        let edit = ui
            .add(
                egui::TextEdit::singleline(&mut self.link)
                    .hint_text("confer://host/room#t=... or https://host/j/room#t=...")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        if edit.changed() {
            self.checked = (!self.link.trim().is_empty()).then(|| Invite::parse(&self.link));
        }
        ui.add_space(8.0);

        match &self.checked {
            Some(Ok(invite)) => {
                let mut text = tr_fill("Room \"{}\" on {}", &[&invite.room, &invite.authority()]);
                if !invite.secure {
                    text.push_str(tr(" (local network, unencrypted signaling)"));
                }
                ui.label(text);
            }
            Some(Err(e)) => {
                let text = tr_fill("This link cannot be used: {}", &[e]);
                ui.colored_label(ui.visuals().error_fg_color, text);
            }
            None => {
                ui.weak(tr("Paste the link someone sent you."));
            }
        }
        if let Some(problem) = &self.problem {
            ui.colored_label(ui.visuals().error_fg_color, problem);
        }
        if let Some(link) = &self.hosted {
            ui.add_space(8.0);
            ui.label(tr(
                "Your meeting is ready. Send this link to the people you invite:",
            ));
            // A link has no spaces to wrap at: it breaks anywhere, inside the card, and the
            // button goes under it (beside it, a long link pushed it out of the window).
            ui.add(
                egui::Label::new(egui::RichText::new(link).monospace())
                    .selectable(true)
                    .wrap(),
            );
            if ui.button(tr("Copy link")).clicked() {
                ui.ctx().copy_text(link.clone());
            }
        }
        ui.add_space(8.0);
        let invite = self.checked.as_ref().and_then(|c| c.as_ref().ok()).cloned();
        let named = !settings.profile.name.trim().is_empty();
        let mut action = None;
        ui.horizontal(|ui| {
            let join = ui.add_enabled(invite.is_some() && named, egui::Button::new(tr("Join")));
            if join.clicked() {
                action = invite.clone().map(LobbyAction::Join);
            }
            if self.hosted.is_none()
                && ui
                    .button(tr("New meeting"))
                    .on_hover_text(tr("Start a meeting on this machine, for the local network"))
                    .clicked()
            {
                action = Some(LobbyAction::NewMeeting);
            }
            if ui.button(tr("Settings")).clicked() {
                action = Some(LobbyAction::Settings);
            }
        });
        let mut picked = None;
        if !settings.recent.is_empty() {
            ui.add_space(12.0);
            ui.label(egui::RichText::new(tr("Recent meetings")).strong());
            for recent in &settings.recent {
                let text = tr_fill("{} on {}", &[&recent.room, &recent.host]);
                if ui.link(text).clicked() {
                    picked = Some(recent.link.clone());
                }
            }
        }
        if let Some(link) = picked {
            self.checked = Some(Invite::parse(&link));
            self.link = link;
            self.hosted = None;
        }
        if invite.is_some() && !named {
            ui.weak(tr("Type your name to join."));
        }
        if action.is_some() {
            self.problem = None;
        }
        action
    }
}

#[cfg(test)]
mod tests {
    use egui::accesskit::Role;
    use egui_kittest::{Harness, kittest::Queryable};

    use super::*;
    use crate::config::Language;

    fn lobby_harness(invite: Option<Invite>) -> Harness<'static, (Lobby, Settings)> {
        Harness::new_ui_state(
            |ui, (lobby, settings): &mut (Lobby, Settings)| {
                lobby.lobby_ui(ui, settings);
            },
            (Lobby::new(invite), Settings::default()),
        )
    }

    /// Focuses the text field labelled `label` and types into it, as a person would.
    fn type_into(harness: &mut Harness<'static, (Lobby, Settings)>, label: &str, text: &str) {
        harness
            .get_by_role_and_label(Role::TextInput, label)
            .focus();
        harness.run();
        harness
            .get_by_role_and_label(Role::TextInput, label)
            .type_text(text);
        harness.run();
    }

    #[test]
    fn a_pasted_link_is_checked_as_it_is_typed() {
        let mut harness = lobby_harness(None);
        harness.get_by_label("Paste the link someone sent you.");

        type_into(&mut harness, "Invite link", "ftp://example.org/j/standup");
        harness.get_by_label_contains("unknown scheme \"ftp\"");
        assert!(
            harness
                .query_by_label("Paste the link someone sent you.")
                .is_none()
        );
    }

    #[test]
    fn a_good_link_shows_where_it_leads() {
        let mut harness = lobby_harness(None);
        type_into(
            &mut harness,
            "Invite link",
            "https://meet.example.org/j/standup#t=x",
        );
        harness.get_by_label_contains("Room \"standup\" on meet.example.org");
        assert!(harness.query_by_label_contains("unencrypted").is_none());
    }

    #[test]
    fn a_link_from_the_command_line_is_shown_checked() {
        let invite = Invite::parse("http://10.0.0.7:7878/j/lan-room").unwrap();
        let harness = lobby_harness(Some(invite));
        harness.get_by_label_contains("Room \"lan-room\" on 10.0.0.7:7878");
        harness.get_by_label_contains("local network, unencrypted signaling");
    }

    #[test]
    fn join_and_new_meeting_are_asked_for() {
        let mut harness = Harness::new_ui_state(
            |ui, state: &mut (Lobby, Settings, Vec<LobbyAction>)| {
                if let Some(action) = state.0.lobby_ui(ui, &mut state.1) {
                    state.2.push(action);
                }
            },
            (Lobby::new(None), Settings::default(), Vec::new()),
        );
        harness.get_by_label("New meeting").click();
        harness.run();
        assert_eq!(harness.state().2, [LobbyAction::NewMeeting]);
        // Once the app serves it, its link is shown to pass on, and Join joins it.
        let invite = Invite::parse("confer://192.168.1.20:7878/lan-7?insecure=1#t=tok").unwrap();
        harness.state_mut().0.hosting(&invite);
        harness.state_mut().1.profile.name = "Ana".into();
        harness.run();
        harness.get_by_label("http://192.168.1.20:7878/j/lan-7#t=tok");
        harness.get_by_label("Copy link");
        assert!(harness.query_by_label("New meeting").is_none());
        harness.get_by_label("Join").click();
        harness.run();
        assert_eq!(harness.state().2[1], LobbyAction::Join(invite));
    }

    #[test]
    fn why_the_last_meeting_ended_is_shown_until_the_next_try() {
        let invite = Invite::parse("confer://10.0.0.7:7878/room?insecure=1").unwrap();
        let mut harness = Harness::new_ui_state(
            |ui, state: &mut (Lobby, Settings)| {
                state.0.lobby_ui(ui, &mut state.1);
            },
            (Lobby::new(Some(invite)), Settings::default()),
        );
        harness.state_mut().0.set_problem(Some(
            "this meeting is full: try again when someone leaves".into(),
        ));
        harness.state_mut().1.profile.name = "Ana".into();
        harness.run();
        harness.get_by_label("this meeting is full: try again when someone leaves");
        harness.get_by_label("Join").click();
        harness.run();
        assert!(harness.query_by_label_contains("meeting is full").is_none());
    }

    #[test]
    fn a_recent_meeting_fills_the_link() {
        let mut settings = Settings::default();
        settings.remember(crate::config::Recent {
            link: "confer://10.0.0.7:7878/weekly?insecure=1#t=abc".into(),
            room: "weekly".into(),
            host: "10.0.0.7:7878".into(),
        });
        let mut harness = Harness::new_ui_state(
            |ui, (lobby, settings): &mut (Lobby, Settings)| {
                lobby.lobby_ui(ui, settings);
            },
            (Lobby::new(None), settings),
        );
        harness.get_by_label("weekly on 10.0.0.7:7878").click();
        harness.run();
        harness.get_by_label_contains("Room \"weekly\" on 10.0.0.7:7878");
    }

    #[test]
    fn join_waits_for_a_name() {
        let invite = Invite::parse("confer://10.0.0.7:7878/room?insecure=1").unwrap();
        let harness = lobby_harness(Some(invite));
        harness.get_by_label("Type your name to join.");
    }

    #[test]
    fn the_name_typed_goes_into_the_settings() {
        let mut harness = lobby_harness(None);
        type_into(&mut harness, "Your name", "Zoë Åberg");
        assert_eq!(harness.state().1.profile.name, "Zoë Åberg");
    }

    /// At the window's smallest size (main.rs), in English and in Chinese, a long link to a new
    /// meeting wraps inside the window, and "Copy link" is in the window too (it ran past the
    /// edge beside the link); the card scrolls to it.
    #[test]
    fn a_long_new_meeting_link_wraps_and_copy_link_stays_in_the_window() {
        let smallest = egui::vec2(480.0, 360.0);
        let link = format!(
            "confer://192.168.100.200:45678/a-rather-long-room-name?insecure=1#t={}",
            "k".repeat(120)
        );
        let invite = Invite::parse(&link).unwrap();
        for language in [Language::English, Language::SimplifiedChinese] {
            let mut harness = Harness::builder().with_size(smallest).build_ui_state(
                |ui, (lobby, settings): &mut (Lobby, Settings)| {
                    crate::ui::install_system_fonts(ui.ctx());
                    lobby.lobby_ui(ui, settings);
                },
                (Lobby::new(None), Settings::default()),
            );
            crate::ui::i18n::set_language(language);
            harness.state_mut().0.hosting(&invite);
            harness.run();
            let copy = harness.get_by_label(tr("Copy link"));
            copy.scroll_to_me();
            harness.run();
            let window = egui::Rect::from_min_size(egui::Pos2::ZERO, smallest);
            let copy = harness.get_by_label(tr("Copy link")).rect();
            // The label, and the rows of its text.
            let shown = harness
                .query_all_by_label(&invite.web_link())
                .map(|node| node.rect())
                .reduce(|a, b| a.union(b))
                .expect("the link is shown");
            crate::ui::i18n::set_language(Language::English);
            assert!(
                window.contains_rect(copy),
                "{language:?}: Copy link at {copy:?}"
            );
            assert!(
                shown.right() <= window.right() && shown.height() > 20.0,
                "{language:?}: the link at {shown:?} (one line past the edge)"
            );
        }
    }
}
