//! The app: which screen is up (the lobby, pre-join or a meeting), and the window's life cycle.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::call::driver::CallConfig;
use crate::call::running::RunningCall;
use crate::config::{Settings, Theme};
use crate::invite::Invite;
use crate::media::audio::processing::ProcessingSettings;
use crate::media::source::{CameraChoice, MicChoice, SpeakerChoice};
use crate::server::embedded::LanMeeting;
use crate::token::random_id;

use super::Options;
use super::devices::DeviceSearch;
use super::i18n::{tr, tr_fill};
use super::inbox::Inbox;
use super::lobby::{Lobby, LobbyAction};
use super::meeting::{Meeting, MeetingOutcome, call_error_words};
use super::prejoin::{Choices, DeviceLists, PreJoin, PreJoinAction};
use super::settings::settings_ui;
use crate::call::check::DeviceCheck;
use crate::config::Recent;
use crate::single_instance::Arrival;

pub struct ConferApp {
    settings: Settings,
    settings_path: PathBuf,
    lobby: Lobby,
    meeting: Option<Meeting>,
    prejoin: Option<PreJoin>,
    /// The settings screen is up, with the devices it offers.
    in_settings: Option<DeviceLists>,
    /// Devices being looked for, for pre-join or the settings.
    device_search: Option<DeviceSearch>,
    /// The meeting this machine serves ("New meeting"), for as long as the app runs.
    hosting: Option<LanMeeting>,
    camera: CameraChoice,
    mic: MicChoice,
    /// Join this at the first frame (`--auto-join`).
    join_at_start: Option<Invite>,
    /// When to close by itself (`--quit-after`).
    close_at: Option<Instant>,
    /// Set from outside the UI thread (a signal) to close the window.
    close_request: Arc<AtomicBool>,
    closing: bool,
    /// Links from outside the window (later starts, the system).
    inbox: Inbox,
    /// A link that arrived during a meeting, waiting for the person to say whether to leave.
    arrived_in_meeting: Option<Invite>,
    /// Pre-join for this once the meeting has ended.
    after_meeting: Option<Invite>,
    /// The window's title as last set.
    title: String,
}

impl ConferApp {
    pub fn new(ctx: &egui::Context, options: Options, inbox: Inbox) -> Self {
        apply_theme(ctx, options.settings.appearance.theme);
        super::i18n::set_language(options.settings.appearance.language);
        let join_at_start = options.invite.clone().filter(|_| options.auto_join);
        // A link the app was started with (a click on it, mostly) goes to pre-join, where the
        // person sees the host before anything connects.
        let confirm_at_start = options.invite.clone().filter(|_| !options.auto_join);
        let lobby = Lobby::new(options.invite);
        let mut app = Self {
            settings: options.settings,
            settings_path: options.settings_path,
            lobby,
            meeting: None,
            prejoin: None,
            in_settings: None,
            device_search: None,
            hosting: None,
            camera: options.camera,
            mic: options.mic,
            join_at_start,
            close_at: options.quit_after.map(|d| Instant::now() + d),
            close_request: Arc::new(AtomicBool::new(false)),
            closing: false,
            inbox,
            arrived_in_meeting: None,
            after_meeting: None,
            title: "Confer".into(),
        };
        if let Some(invite) = confirm_at_start {
            app.open_prejoin(ctx, invite);
        }
        app
    }

    /// A link or a nudge from outside: the window comes forward, and a link goes to pre-join
    /// (after asking, when a meeting is on).
    fn arrive(&mut self, ctx: &egui::Context, arrival: Arrival) {
        ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
        ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
        match arrival {
            Arrival::Forward => {}
            Arrival::Refused(why) if self.meeting.is_none() => {
                self.prejoin = None;
                self.in_settings = None;
                let why = tr_fill("This link cannot be used: {}", &[&why]);
                self.lobby.set_problem(Some(why));
            }
            Arrival::Refused(why) => tracing::warn!("a link from the system refused: {why}"),
            Arrival::Link(invite) if self.meeting.is_some() => {
                self.arrived_in_meeting = Some(invite);
            }
            Arrival::Link(invite) => {
                self.in_settings = None;
                self.open_prejoin(ctx, invite);
            }
        }
    }

    /// Asks whether to leave the meeting for a link that arrived; Some(true) to leave.
    fn ask_to_leave_for(ui: &egui::Ui, invite: &Invite) -> Option<bool> {
        let mut answer = None;
        egui::Modal::new(egui::Id::NULL.with("arrived-in-meeting")).show(ui.ctx(), |ui| {
            ui.set_max_width(420.0);
            ui.label(tr_fill(
                "Open the meeting \"{}\" on {}? You will leave this one.",
                &[&invite.room, &invite.authority()],
            ));
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button(tr("Leave and open")).clicked() {
                    answer = Some(true);
                }
                if ui.button(tr("Stay here")).clicked() {
                    answer = Some(false);
                }
            });
        });
        answer
    }

    /// The title names the meeting on screen (and, before joining, its host).
    fn retitle(&mut self, ctx: &egui::Context) {
        let title = if let Some(meeting) = &self.meeting {
            format!("Confer · {}", meeting.invite().room)
        } else if let Some(prejoin) = &self.prejoin {
            let invite = prejoin.invite();
            format!("Confer · {} on {}", invite.room, invite.authority())
        } else {
            "Confer".to_string()
        };
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }

    /// Setting the returned flag (and repainting) closes the window.
    pub fn close_request(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.close_request)
    }

    fn should_close(&self, now: Instant) -> bool {
        self.close_request.load(Ordering::SeqCst) || self.close_at.is_some_and(|at| now >= at)
    }

    /// The devices given on the command line, else those in the settings; on.
    fn default_choices(&self) -> Choices {
        let saved = &self.settings.devices;
        let camera = match &self.camera {
            CameraChoice::Default => CameraChoice::from_setting(saved.camera.as_deref()),
            given => given.clone(),
        };
        let mic = match &self.mic {
            MicChoice::Default => MicChoice::from_setting(saved.microphone.as_deref()),
            given => given.clone(),
        };
        Choices {
            camera,
            mic,
            speaker: SpeakerChoice::from_setting(saved.speaker.as_deref()),
            mic_on: true,
            camera_on: true,
        }
    }

    fn open_prejoin(&mut self, ctx: &egui::Context, invite: Invite) {
        self.look_for_devices(ctx);
        let lists = DeviceLists::default();
        let repaint = ctx.clone();
        let start_check: super::prejoin::StartCheck = Box::new(move |camera, mic, speaker| {
            let repaint = repaint.clone();
            Box::new(DeviceCheck::start(camera, mic, speaker, move || {
                repaint.request_repaint()
            }))
        });
        let choices = self.default_choices();
        self.prejoin = Some(PreJoin::new(invite, lists, choices, start_check));
    }

    /// Starts looking for devices; pre-join and the settings get them when they are found.
    fn look_for_devices(&mut self, ctx: &egui::Context) {
        let repaint = ctx.clone();
        self.device_search = Some(DeviceSearch::start(move || repaint.request_repaint()));
    }

    /// Hands the devices found to the screen that shows them.
    fn devices_found(&mut self) {
        let Some(lists) = self.device_search.as_ref().and_then(DeviceSearch::take) else {
            return;
        };
        self.device_search = None;
        if let Some(prejoin) = self.prejoin.as_mut() {
            prejoin.set_lists(lists.clone());
        }
        if let Some(shown) = self.in_settings.as_mut() {
            *shown = lists;
        }
    }

    fn join(&mut self, ctx: &egui::Context, invite: Invite, choices: Choices) {
        let name = match self.settings.profile.name.trim() {
            "" => super::i18n::tr("Guest").to_string(),
            name => name.to_string(),
        };
        let shown = invite.clone();
        self.settings.remember(Recent {
            link: invite.app_link(),
            room: invite.room.clone(),
            host: invite.authority(),
        });
        let own_name = name.clone();
        let config = CallConfig {
            invite,
            name,
            camera: choices.camera,
            mic: choices.mic,
            speaker: choices.speaker,
            mic_on: choices.mic_on,
            camera_on: choices.camera_on,
            processing: ProcessingSettings {
                echo_cancellation: self.settings.audio.echo_cancellation,
                noise_suppression: self.settings.audio.noise_suppression,
                auto_gain: self.settings.audio.auto_gain,
                ..ProcessingSettings::default()
            },
            max_video_bps: self.settings.video.quality.max_bitrate_bps(),
            render_video: true,
            render_shares: false,
            relay_only: false,
            chimes: self.settings.notifications.sounds,
        };
        let repaint = ctx.clone();
        match RunningCall::start(config, move || repaint.request_repaint()) {
            Ok(call) => {
                self.meeting = Some(
                    Meeting::new(Box::new(call), shown, &own_name)
                        .switched(choices.mic_on, choices.camera_on)
                        .with_arrival_notices(self.settings.notifications.notices),
                );
            }
            Err(e) => self.lobby.set_problem(Some(call_error_words(&e))),
        }
    }
}

fn apply_theme(ctx: &egui::Context, theme: Theme) {
    ctx.set_theme(match theme {
        Theme::System => egui::ThemePreference::System,
        Theme::Dark => egui::ThemePreference::Dark,
        Theme::Light => egui::ThemePreference::Light,
    });
}

impl eframe::App for ConferApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        for arrival in self.inbox.take() {
            self.arrive(ui.ctx(), arrival);
        }
        self.devices_found();
        self.screens(ui);
        self.retitle(ui.ctx());
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        if let Err(e) = self.settings.save(&self.settings_path) {
            tracing::warn!("{e}");
        }
    }
}

impl ConferApp {
    fn screens(&mut self, ui: &mut egui::Ui) {
        let now = Instant::now();
        if self.should_close(now) {
            if !self.closing {
                self.closing = true;
                tracing::info!("closing the window on request");
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        } else if let Some(at) = self.close_at {
            // egui sleeps until input arrives; make sure it wakes up in time to close.
            ui.ctx().request_repaint_after(
                at.saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            );
        }

        if let Some(invite) = self.join_at_start.take() {
            let choices = self.default_choices();
            self.join(ui.ctx(), invite, choices);
        }
        if let Some(meeting) = self.meeting.as_mut() {
            if let Some(invite) = &self.arrived_in_meeting {
                match Self::ask_to_leave_for(ui, invite) {
                    Some(true) => {
                        self.after_meeting = self.arrived_in_meeting.take();
                        meeting.leave(ui.ctx());
                    }
                    Some(false) => self.arrived_in_meeting = None,
                    None => {}
                }
            }
            if let Some(MeetingOutcome::Ended(result)) = meeting.meeting_ui(ui) {
                tracing::info!("the meeting ended: {result:?}");
                self.lobby
                    .set_problem(result.err().map(|e| call_error_words(&e)));
                self.meeting = None;
                if let Some(invite) = self.after_meeting.take() {
                    self.open_prejoin(ui.ctx(), invite);
                }
            }
            return;
        }
        if let Some(lists) = &self.in_settings {
            let done = egui::CentralPanel::default()
                .show(ui, |ui| settings_ui(ui, &mut self.settings, lists))
                .inner;
            apply_theme(ui.ctx(), self.settings.appearance.theme);
            super::i18n::set_language(self.settings.appearance.language);
            if done {
                self.in_settings = None;
                if let Err(e) = self.settings.save(&self.settings_path) {
                    self.lobby.set_problem(Some(e.to_string()));
                }
            }
            return;
        }
        if let Some(prejoin) = self.prejoin.as_mut() {
            match prejoin.prejoin_ui(ui) {
                Some(PreJoinAction::Join(invite, choices)) => {
                    self.prejoin = None;
                    // What was chosen is where the next meeting starts.
                    self.settings.devices.camera = choices.camera.setting();
                    self.settings.devices.microphone = choices.mic.setting();
                    self.settings.devices.speaker = choices.speaker.setting();
                    self.join(ui.ctx(), invite, choices);
                }
                Some(PreJoinAction::Back) => self.prejoin = None,
                None => {}
            }
            return;
        }
        let action = egui::CentralPanel::default()
            .show(ui, |ui| self.lobby.lobby_ui(ui, &mut self.settings))
            .inner;
        match action {
            Some(LobbyAction::Join(invite)) => self.open_prejoin(ui.ctx(), invite),
            Some(LobbyAction::NewMeeting) => {
                match LanMeeting::start(&format!("meeting-{}", random_id(6))) {
                    Ok(hosted) => {
                        self.lobby.hosting(hosted.invite());
                        self.hosting = Some(hosted);
                    }
                    Err(e) => self.lobby.set_problem(Some(e)),
                }
            }
            Some(LobbyAction::Settings) => {
                self.in_settings = Some(DeviceLists::default());
                self.look_for_devices(ui.ctx());
            }
            None => {}
        }
    }
}
