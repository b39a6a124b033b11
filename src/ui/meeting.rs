//! The meeting: a grid of the others' video with their names, muted and camera-off marks,
//! connection state and a network quality mark, the active speaker outlined; a shared screen
//! on the stage with the sharer's camera small below it; the control bar (microphone, camera,
//! hand, share, invite, participants, chat, stats, leave; Ctrl/Cmd+D, Ctrl/Cmd+E, Ctrl/Cmd+
//! Shift+S, and Space held to talk while muted). It draws what the call reports and sends it
//! controls; it never waits on the call.

use super::i18n::{tr, tr_fill};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui::{Color32, Key, KeyboardShortcut, Modifiers, RichText, Stroke};

use super::sharing::{Picked, Picker, SessionScreens, ShareSource, StageView, stage_ui};
use super::texture::show_image;
use crate::call::events::{
    CallControl, CallError, CallReport, Device, DeviceProblem, Notice, PeerState,
};
use crate::call::ids::ParticipantId;
use crate::call::machine::Feed;
use crate::call::running::CallLink;
use crate::call::stats::ParticipantStats;
use crate::invite::Invite;
use crate::media::video::decode_thread::Picture;

// The shortcuts people know from Google Meet (Ctrl on Windows and Linux, Cmd on macOS); the
// tooltips name them as the platform writes them.
const MIC_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::D);
const CAMERA_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::E);
const COMMAND_ALT: Modifiers = Modifiers::COMMAND.plus(Modifiers::ALT);
const HAND_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(COMMAND_ALT, Key::H);
const CHAT_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(COMMAND_ALT, Key::C);
const PEOPLE_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(COMMAND_ALT, Key::P);
/// Zoom's share shortcut is Alt+S; Ctrl/Cmd+Shift+S is free in Meet and in the browser page.
const SHARE_SHORTCUT: KeyboardShortcut =
    KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::S);
/// A participant this loud (RMS) is speaking.
const SPEAKING: f32 = 0.02;
/// How long a notice stays on screen.
const NOTICE_FOR: Duration = Duration::from_secs(6);
/// Chat lines kept on screen.
const CHAT_KEPT: usize = 500;

/// How well a participant's path carries their media, from their stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quality {
    Good,
    Weak,
    Poor,
}

impl Quality {
    /// Loss and round trip as people feel them: a little loss is hidden by resends and
    /// concealment, a long round trip makes talking over each other likely.
    fn of(stats: &ParticipantStats) -> Option<Quality> {
        let loss = f64::from(stats.loss_in?);
        let rtt = stats.rtt_ms.unwrap_or(0.0);
        Some(if loss > 0.08 || rtt > 400.0 {
            Quality::Poor
        } else if loss > 0.02 || rtt > 150.0 {
            Quality::Weak
        } else {
            Quality::Good
        })
    }

    fn colour(self) -> Color32 {
        match self {
            Quality::Good => Color32::from_rgb(0x3f, 0xb9, 0x50),
            Quality::Weak => Color32::from_rgb(0xd2, 0x99, 0x22),
            Quality::Poor => Color32::from_rgb(0xf8, 0x51, 0x49),
        }
    }
}

struct Person {
    id: ParticipantId,
    name: String,
    state: PeerState,
    mic_on: bool,
    camera_on: bool,
    hand_up: bool,
    level: f32,
    video: Option<egui::TextureHandle>,
    /// The screen they share, while they do.
    screen: Option<egui::TextureHandle>,
    /// Their latest stats.
    stats: Option<ParticipantStats>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    People,
    Chat,
}

pub struct Meeting {
    call: Box<dyn CallLink>,
    invite: Invite,
    /// Our own tile: our name, our camera, our level.
    me: Person,
    people: Vec<Person>,
    mic_on: bool,
    camera_on: bool,
    /// Our hand is raised.
    hand_up: bool,
    /// Space is held while muted: the microphone is on until it is let go.
    talking: bool,
    notices: VecDeque<(Instant, String)>,
    /// (who, text); "You" (in the window's language) for ours.
    chat: VecDeque<(String, String)>,
    draft: String,
    unread: usize,
    side: Option<Side>,
    show_stats: bool,
    /// The one speaking large, the others in a row below.
    speaker_view: bool,
    /// Who spoke last (the speaker view keeps them up through a pause).
    last_speaker: Option<ParticipantId>,
    /// Out of touch with the signaling server (it is being reached again).
    reconnecting: bool,
    /// Our devices that are not working, and why.
    device_problems: BTreeMap<Device, DeviceProblem>,
    /// Leave was pressed; the call is saying goodbye.
    leaving: bool,
    /// The tile size each participant's pictures were last fitted to, in pixels.
    fitted: HashMap<ParticipantId, (u32, u32)>,
    /// People joining and leaving are noticed on screen.
    arrival_notices: bool,
    /// What can be shared (the session's display; a test's list).
    share_source: Box<dyn ShareSource>,
    /// The picker, while open.
    picker: Option<Picker>,
    /// Our screen is being shared (the call said so).
    sharing: bool,
    /// Who shares, in the order they began: the newest share is on the stage, and an earlier
    /// one comes back to it when the newest ends.
    shares: Vec<ParticipantId>,
    stage_view: StageView,
}

/// What the meeting screen asks of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingOutcome {
    /// The call is over: Ok when we left, Err with why it could not go on.
    Ended(Result<(), CallError>),
}

impl Meeting {
    pub fn new(call: Box<dyn CallLink>, invite: Invite, name: &str) -> Self {
        Self {
            call,
            invite,
            me: Person {
                id: ParticipantId::from(""),
                name: tr_fill("{} (you)", &[&name]),
                state: PeerState::Connected,
                mic_on: true,
                camera_on: true,
                hand_up: false,
                level: 0.0,
                video: None,
                screen: None,
                stats: None,
            },
            people: Vec::new(),
            mic_on: true,
            camera_on: true,
            hand_up: false,
            talking: false,
            notices: VecDeque::new(),
            chat: VecDeque::new(),
            draft: String::new(),
            unread: 0,
            side: None,
            show_stats: false,
            speaker_view: false,
            last_speaker: None,
            device_problems: BTreeMap::new(),
            reconnecting: false,
            leaving: false,
            fitted: HashMap::new(),
            arrival_notices: true,
            share_source: Box::new(SessionScreens),
            picker: None,
            sharing: false,
            shares: Vec::new(),
            stage_view: StageView::default(),
        }
    }

    /// Shares come from `source` instead of the session's display.
    pub fn with_share_source(mut self, source: Box<dyn ShareSource>) -> Self {
        self.share_source = source;
        self
    }

    fn person(&mut self, id: &ParticipantId) -> Option<&mut Person> {
        self.people.iter_mut().find(|p| p.id == *id)
    }

    fn apply(&mut self, report: CallReport, now: Instant) {
        match report {
            CallReport::Participant { id, name, state } => match state {
                PeerState::Left | PeerState::Unreachable => {
                    if state == PeerState::Unreachable {
                        self.notice(now, tr_fill("{} cannot be reached", &[&name]));
                    }
                    self.people.retain(|p| p.id != id);
                    self.shares.retain(|s| *s != id);
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
                        hand_up: false,
                        level: 0.0,
                        video: None,
                        screen: None,
                        stats: None,
                    }),
                },
            },
            CallReport::Media { id, state } => {
                let mut raised = None;
                if let Some(person) = self.person(&id) {
                    person.mic_on = state.mic_on;
                    person.camera_on = state.camera_on;
                    if state.hand_up && !person.hand_up {
                        raised = Some(person.name.clone());
                    }
                    person.hand_up = state.hand_up;
                }
                if let Some(name) = raised {
                    self.notice(now, tr_fill("{} raised their hand", &[&name]));
                }
            }
            CallReport::Levels { local, remotes } => {
                self.me.level = local;
                let loudest = remotes
                    .iter()
                    .filter(|(_, level)| *level > SPEAKING)
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((id, _)) = loudest {
                    self.last_speaker = Some(id.clone());
                }
                for (id, level) in remotes {
                    if let Some(person) = self.person(&id) {
                        person.level = level;
                    }
                }
            }
            CallReport::Stats { id, stats } => {
                if let Some(person) = self.person(&id) {
                    person.stats = Some(*stats);
                }
            }
            CallReport::Chat { name, text, .. } => {
                if self.side != Some(Side::Chat) {
                    self.unread += 1;
                }
                self.push_chat(name, text);
            }
            CallReport::Notice(Notice::Arrived { .. } | Notice::Left { .. })
                if !self.arrival_notices => {}
            CallReport::Notice(notice) => self.notice(now, notice_words(&notice)),
            CallReport::Signaling { connected } => self.reconnecting = !connected,
            CallReport::Device { device, problem } => match problem {
                Some(why) => {
                    self.device_problems.insert(device, why);
                }
                None => {
                    self.device_problems.remove(&device);
                }
            },
            CallReport::ScreenEnded { id } => {
                self.shares.retain(|s| *s != id);
                if let Some(person) = self.person(&id) {
                    person.screen = None;
                }
            }
            CallReport::Sharing(on) => self.sharing = on,
            // Pictures come through `CallLink::pictures`.
            CallReport::Picture { .. }
            | CallReport::ScreenPicture { .. }
            | CallReport::Preview(_) => {}
        }
    }

    fn push_chat(&mut self, who: String, text: String) {
        self.chat.push_back((who, text));
        while self.chat.len() > CHAT_KEPT {
            self.chat.pop_front();
        }
    }

    fn notice(&mut self, now: Instant, text: String) {
        self.notices.push_back((now, text));
        while self.notices.len() > 3 {
            self.notices.pop_front();
        }
    }

    fn show_picture(
        &mut self,
        ctx: &egui::Context,
        id: &ParticipantId,
        feed: Feed,
        picture: Picture,
    ) {
        let Some(person) = self.person(id) else {
            return;
        };
        match feed {
            Feed::Camera => show_image(
                ctx,
                &mut person.video,
                &format!("video-{id}"),
                picture.image,
            ),
            Feed::Screen => {
                show_image(
                    ctx,
                    &mut person.screen,
                    &format!("screen-{id}"),
                    picture.image,
                );
                if !self.shares.contains(id) {
                    self.shares.push(id.clone());
                }
            }
        }
    }

    /// The share on the stage: the newest whose picture came.
    fn on_stage(&self) -> Option<&Person> {
        self.shares.iter().rev().find_map(|id| {
            self.people
                .iter()
                .find(|p| p.id == *id && p.screen.is_some())
        })
    }

    /// Opens the picker, or stops our share when we share.
    fn share_or_stop(&mut self, ctx: &egui::Context) {
        if self.sharing {
            self.set(CallControl::Share(None));
        } else {
            self.picker = Some(Picker::open(ctx, self.share_source.as_ref()));
        }
    }

    /// Turns our microphone or camera on or off (the buttons, the shortcuts, pre-join's choice).
    pub fn invite(&self) -> &Invite {
        &self.invite
    }

    /// Leaves the call; `meeting_ui` says when it has ended.
    pub fn leave(&mut self, ctx: &egui::Context) {
        if !self.leaving {
            self.leaving = true;
            self.call.leave();
            ctx.request_repaint();
        }
    }

    /// How the microphone and camera start (the call was told the same in its config).
    pub fn switched(mut self, mic_on: bool, camera_on: bool) -> Self {
        self.mic_on = mic_on;
        self.camera_on = camera_on;
        self
    }

    /// Whether people joining and leaving are noticed on screen (the settings' switch).
    pub fn with_arrival_notices(mut self, shown: bool) -> Self {
        self.arrival_notices = shown;
        self
    }

    pub fn set(&mut self, control: CallControl) {
        match &control {
            CallControl::Mic(on) => {
                self.mic_on = *on;
                self.talking = false;
            }
            CallControl::Camera(on) => self.camera_on = *on,
            CallControl::Hand(up) => self.hand_up = *up,
            CallControl::Chat(_) | CallControl::Fit { .. } | CallControl::Share(_) => {}
        }
        self.call.control(control);
    }

    /// Space held while muted talks; letting go mutes again. Not while typing.
    fn push_to_talk(&mut self, ui: &egui::Ui) {
        let held = ui.input(|i| i.key_down(Key::Space)) && !ui.ctx().egui_wants_keyboard_input();
        if !self.mic_on && held && !self.talking {
            self.talking = true;
            self.call.control(CallControl::Mic(true));
        } else if self.talking && !held {
            self.talking = false;
            self.call.control(CallControl::Mic(false));
        }
    }

    /// Draws the meeting; Some when it is over.
    pub fn meeting_ui(&mut self, ui: &mut egui::Ui) -> Option<MeetingOutcome> {
        let now = Instant::now();
        for report in self.call.reports() {
            self.apply(report, now);
        }
        for (id, feed, picture) in self.call.pictures() {
            self.show_picture(ui.ctx(), &id, feed, picture);
        }
        if let Some(image) = self.call.preview() {
            show_image(ui.ctx(), &mut self.me.video, "video-self", image);
        }
        self.me.mic_on = self.mic_on || self.talking;
        self.me.camera_on = self.camera_on && !self.device_problems.contains_key(&Device::Camera);
        self.me.hand_up = self.hand_up;
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
        if ui.input_mut(|i| i.consume_shortcut(&HAND_SHORTCUT)) {
            self.set(CallControl::Hand(!self.hand_up));
        }
        if ui.input_mut(|i| i.consume_shortcut(&CHAT_SHORTCUT)) {
            self.toggle_side(Side::Chat);
        }
        if ui.input_mut(|i| i.consume_shortcut(&PEOPLE_SHORTCUT)) {
            self.toggle_side(Side::People);
        }
        if ui.input_mut(|i| i.consume_shortcut(&SHARE_SHORTCUT)) {
            self.share_or_stop(ui.ctx());
        }
        if let Some(picked) = self.picker.as_ref().and_then(|p| p.ui(ui.ctx())) {
            self.picker = None;
            if let Picked::Share(target) = picked {
                self.set(CallControl::Share(Some(target)));
            }
        }
        self.push_to_talk(ui);

        let mut leave = false;
        egui::Panel::bottom("controls").show(ui, |ui| {
            ui.add_space(6.0);
            // In a narrow window the buttons go on a second row rather than past the edge.
            ui.horizontal_wrapped(|ui| leave = self.controls_ui(ui, now));
            ui.add_space(6.0);
        });
        if self.sharing {
            let mut stop = false;
            egui::Panel::top("sharing").show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label(
                        RichText::new(tr("You are sharing your screen with everyone"))
                            .color(Color32::from_rgb(0x3f, 0xb9, 0x50))
                            .strong(),
                    );
                    stop = ui.button(tr("Stop sharing")).clicked();
                });
            });
            if stop {
                self.set(CallControl::Share(None));
            }
        }
        if leave {
            self.leave(ui.ctx());
        }
        if let Some(side) = self.side {
            egui::Panel::right("side")
                .default_size(280.0)
                .show(ui, |ui| match side {
                    Side::People => self.people_ui(ui),
                    Side::Chat => self.chat_ui(ui),
                });
        }

        egui::CentralPanel::default().show(ui, |ui| {
            if self.reconnecting {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    "Reconnecting to the meeting server… Those already here can still see and \
                     hear you.",
                );
            }
            for (device, why) in &self.device_problems {
                ui.colored_label(ui.visuals().error_fg_color, device_problem(*device, why));
            }
            for (_, text) in &self.notices {
                ui.colored_label(ui.visuals().warn_fg_color, text);
            }
            if self.people.is_empty() {
                ui.label(tr("Waiting for others to join…"));
            }
            let tiles = if self.on_stage().is_some() {
                self.share_stage_ui(ui)
            } else {
                self.grid_ui(ui)
            };
            self.fit_pictures(ui.ctx(), tiles);
        });
        None
    }

    /// Tells the call each tile's size in pixels when it has changed by more than a tenth, so
    /// that pictures are converted (and uploaded) no larger than their tile needs.
    fn fit_pictures(&mut self, ctx: &egui::Context, tiles: Vec<(ParticipantId, egui::Vec2)>) {
        let scale = ctx.pixels_per_point();
        for (id, size) in tiles {
            let pixels = (
                (size.x * scale).round() as u32,
                (size.y * scale).round() as u32,
            );
            let changed = self.fitted.get(&id).is_none_or(|&(w, h)| {
                pixels.0.abs_diff(w) * 10 > w.max(1) || pixels.1.abs_diff(h) * 10 > h.max(1)
            });
            if changed {
                self.fitted.insert(id.clone(), pixels);
                self.call.control(CallControl::Fit {
                    id,
                    width: pixels.0,
                    height: pixels.1,
                });
            }
        }
        self.fitted
            .retain(|id, _| self.people.iter().any(|p| &p.id == id));
    }

    /// The control bar; true when Leave was pressed.
    fn controls_ui(&mut self, ui: &mut egui::Ui, now: Instant) -> bool {
        let (icon, label) = if self.mic_on {
            ("🎤", tr("Mute"))
        } else {
            ("🔇", tr("Unmute"))
        };
        let tip = tr("Turn the microphone on or off; hold Space to talk while muted");
        if tool(ui, icon, label, tip, Some(&MIC_SHORTCUT), None).clicked() {
            self.set(CallControl::Mic(!self.mic_on));
        }
        let (icon, label) = if self.camera_on {
            ("📹", tr("Stop video"))
        } else {
            ("📷", tr("Start video"))
        };
        let tip = tr("Turn the camera on or off");
        if tool(ui, icon, label, tip, Some(&CAMERA_SHORTCUT), None).clicked() {
            self.set(CallControl::Camera(!self.camera_on));
        }
        let label = if self.hand_up {
            tr("Lower hand")
        } else {
            tr("Raise hand")
        };
        let tip = tr("Let the others see that you want to speak");
        let hand = Some(self.hand_up);
        if tool(ui, "✋", label, tip, Some(&HAND_SHORTCUT), hand).clicked() {
            self.set(CallControl::Hand(!self.hand_up));
        }
        let label = if self.sharing {
            tr("Stop sharing")
        } else {
            tr("Share screen")
        };
        let tip = tr("Show your screen or a window to everyone");
        let shared = Some(self.sharing);
        if tool(ui, "🖥", label, tip, Some(&SHARE_SHORTCUT), shared).clicked() {
            self.share_or_stop(ui.ctx());
        }
        ui.separator();
        let tip = tr("Copy the invite link");
        if tool(ui, "🔗", tr("Invite"), tip, None, None).clicked() {
            ui.ctx().copy_text(self.invite.web_link());
            self.notice(now, tr("Invite link copied").into());
        }
        let people = format!("{} ({})", tr("People"), self.people.len() + 1);
        let shown = Some(self.side == Some(Side::People));
        let tip = tr("Show who is here");
        if tool(ui, "👥", &people, tip, Some(&PEOPLE_SHORTCUT), shown).clicked() {
            self.toggle_side(Side::People);
        }
        let chat = match self.unread {
            0 => tr("Chat").to_string(),
            n => format!("{} ({n} {})", tr("Chat"), tr("new")),
        };
        let shown = Some(self.side == Some(Side::Chat));
        let tip = tr("Show the chat");
        if tool(ui, "💬", &chat, tip, Some(&CHAT_SHORTCUT), shown).clicked() {
            self.toggle_side(Side::Chat);
        }
        let tip = tr("The one speaking large, the others in a row below");
        let view = Some(self.speaker_view);
        if tool(ui, "👤", tr("Speaker view"), tip, None, view).clicked() {
            self.speaker_view = !self.speaker_view;
        }
        let tip = tr("Each connection's figures: rates, loss, delay, layers");
        if tool(ui, "📊", tr("Stats"), tip, None, Some(self.show_stats)).clicked() {
            self.show_stats = !self.show_stats;
        }
        ui.separator();
        ui.label(tr_fill("Room {}", &[&self.invite.room]));
        let leave = ui
            .add(
                egui::Button::new(
                    RichText::new(format!("📞 {}", tr("Leave"))).color(Color32::WHITE),
                )
                .fill(Color32::from_rgb(0xd1, 0x24, 0x2f)),
            )
            .on_hover_text(tr("Leave the meeting"));
        leave.widget_info(|| egui::WidgetInfo::labeled(Role::Button, true, tr("Leave")));
        leave.clicked()
    }

    /// Opens `side` in the side panel, or closes it when it is open; the chat is read then.
    fn toggle_side(&mut self, side: Side) {
        self.side = (self.side != Some(side)).then_some(side);
        if side == Side::Chat {
            self.unread = 0;
        }
    }

    fn people_ui(&self, ui: &mut egui::Ui) {
        ui.heading(tr("People"));
        let you = if self.mic_on {
            tr("You").to_string()
        } else {
            format!("{}{}", tr("You"), tr(" · muted"))
        };
        ui.label(you);
        for person in &self.people {
            ui.label(person_label(person));
        }
    }

    fn chat_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading(tr("Chat"));
        let send = egui::Panel::bottom("chat-input").show(ui, |ui| {
            let label = ui.label(tr("Message"));
            let edit = ui
                .add(
                    egui::TextEdit::singleline(&mut self.draft)
                        .hint_text(tr("Say something to everyone"))
                        .desired_width(f32::INFINITY),
                )
                .labelled_by(label.id);
            let entered = edit.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            let clicked = ui.button(tr("Send")).clicked();
            if entered {
                edit.request_focus();
            }
            entered || clicked
        });
        if send.inner {
            let text = self.draft.trim().to_string();
            if !text.is_empty() {
                self.draft.clear();
                self.call.control(CallControl::Chat(text.clone()));
                self.push_chat(tr("You").into(), text);
            }
        }
        egui::ScrollArea::vertical()
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if self.chat.is_empty() {
                    ui.weak(tr("No messages yet."));
                }
                for (who, text) in &self.chat {
                    // Text from other people is shown as text, never interpreted.
                    ui.label(RichText::new(who).strong());
                    ui.label(text);
                    ui.add_space(4.0);
                }
            });
    }

    /// Everyone's tiles, ours last; in the speaker view, the one speaking large. Returns each
    /// other participant's tile size.
    fn grid_ui(&self, ui: &mut egui::Ui) -> Vec<(ParticipantId, egui::Vec2)> {
        if self.speaker_view && !self.people.is_empty() {
            return self.speaker_ui(ui);
        }
        let count = self.people.len() + 1;
        let columns = (count as f32).sqrt().ceil() as usize;
        let rows = count.div_ceil(columns);
        let gap = 8.0;
        let full = ui.available_size();
        let tile = egui::vec2(
            (full.x - gap * (columns - 1) as f32) / columns as f32,
            (full.y - gap * (rows - 1) as f32) / rows as f32,
        );
        // Below what the panel already shows (notices, device problems): where its cursor is.
        let origin = ui.cursor().min;
        for (i, person) in self.people.iter().chain([&self.me]).enumerate() {
            let (row, column) = (i / columns, i % columns);
            let min =
                origin + egui::vec2(column as f32 * (tile.x + gap), row as f32 * (tile.y + gap));
            let rect = egui::Rect::from_min_size(min, tile);
            ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| {
                tile_ui(ui, person, rect, self.show_stats);
            });
        }
        self.people.iter().map(|p| (p.id.clone(), tile)).collect()
    }

    fn speaker_ui(&self, ui: &mut egui::Ui) -> Vec<(ParticipantId, egui::Vec2)> {
        let speaker = self
            .last_speaker
            .as_ref()
            .and_then(|id| self.people.iter().position(|p| p.id == *id))
            .unwrap_or(0);
        let (big, strip) = stage_and_strip(ui);
        ui.scope_builder(egui::UiBuilder::new().max_rect(big), |ui| {
            tile_ui(ui, &self.people[speaker], big, self.show_stats);
        });
        let mut tiles = vec![(self.people[speaker].id.clone(), big.size())];
        let others: Vec<&Person> = self
            .people
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != speaker)
            .map(|(_, p)| p)
            .chain([&self.me])
            .collect();
        tiles.extend(self.strip_ui(ui, strip, others));
        tiles
    }

    /// A shared screen on the stage; below it the sharer's camera, then everyone else.
    fn share_stage_ui(&mut self, ui: &mut egui::Ui) -> Vec<(ParticipantId, egui::Vec2)> {
        let (big, strip) = stage_and_strip(ui);
        let Some(sharer) = self.on_stage() else {
            return Vec::new();
        };
        let sharer_id = sharer.id.clone();
        let title = tr_fill("{} is sharing their screen", &[&sharer.name]);
        let view = match &sharer.screen {
            Some(texture) => stage_ui(ui, big, texture, &title, self.stage_view),
            None => self.stage_view,
        };
        let others: Vec<&Person> = self
            .people
            .iter()
            .filter(|p| p.id == sharer_id)
            .chain(self.people.iter().filter(|p| p.id != sharer_id))
            .chain([&self.me])
            .collect();
        let tiles = self.strip_ui(ui, strip, others);
        self.stage_view = view;
        tiles
    }

    /// `people` in a row of small tiles in `strip`; their tile sizes (ours left out).
    fn strip_ui(
        &self,
        ui: &mut egui::Ui,
        strip: egui::Rect,
        others: Vec<&Person>,
    ) -> Vec<(ParticipantId, egui::Vec2)> {
        let gap = 8.0;
        let full = strip;
        let strip_height = strip.height();
        let mut tiles = Vec::new();
        let width = (strip_height * 16.0 / 9.0)
            .min((full.width() - gap * (others.len() - 1) as f32) / others.len() as f32);
        for (i, person) in others.into_iter().enumerate() {
            let min = egui::pos2(full.min.x + i as f32 * (width + gap), full.min.y);
            let rect = egui::Rect::from_min_size(min, egui::vec2(width, strip_height));
            ui.scope_builder(egui::UiBuilder::new().max_rect(rect), |ui| {
                tile_ui(ui, person, rect, false);
            });
            if !person.id.as_str().is_empty() {
                tiles.push((person.id.clone(), rect.size()));
            }
        }
        tiles
    }
}

/// The central area split into a stage and a strip of small tiles below it.
fn stage_and_strip(ui: &egui::Ui) -> (egui::Rect, egui::Rect) {
    let gap = 8.0;
    let full = egui::Rect::from_min_size(ui.cursor().min, ui.available_size());
    let strip_height = (full.height() * 0.22).max(60.0);
    let big = egui::Rect::from_min_max(
        full.min,
        egui::pos2(full.max.x, full.max.y - strip_height - gap),
    );
    let strip =
        egui::Rect::from_min_max(egui::pos2(full.min.x, full.max.y - strip_height), full.max);
    (big, strip)
}

/// A control bar button: an icon and a label, and a tooltip that names its shortcut. Screen
/// readers (and the tests) know it by its label alone. `selected`: a switch, and whether it is
/// on.
fn tool(
    ui: &mut egui::Ui,
    icon: &str,
    label: &str,
    tip: &str,
    shortcut: Option<&KeyboardShortcut>,
    selected: Option<bool>,
) -> egui::Response {
    let mut button = egui::Button::new(format!("{icon} {label}"));
    if let Some(on) = selected {
        button = button.selected(on);
    }
    let tip = match shortcut {
        Some(keys) => format!("{tip} ({})", ui.ctx().format_shortcut(keys)),
        None => tip.to_string(),
    };
    let response = ui.add(button).on_hover_text(tip);
    response.widget_info(|| match selected {
        Some(on) => egui::WidgetInfo::selected(Role::Button, true, on, label),
        None => egui::WidgetInfo::labeled(Role::Button, true, label),
    });
    response
}

/// What a person is told of a device that stopped, or that is not there at all.
fn device_problem(device: Device, problem: &DeviceProblem) -> String {
    let why = match problem {
        DeviceProblem::Missing => {
            return tr(match device {
                Device::Camera => "No camera was found. The others cannot see you.",
                Device::Microphone => {
                    "No microphone was found. The others cannot hear you; Confer keeps looking for one."
                }
                Device::Speaker => {
                    "No speaker was found: you cannot hear the others. Confer keeps looking for one."
                }
            })
            .into();
        }
        DeviceProblem::Failed(why) => why,
    };
    let sentence = match device {
        Device::Camera => "Your camera is not working ({}). The others cannot see you.",
        Device::Microphone => {
            "Your microphone is not working ({}). The others cannot hear you; Confer keeps trying to reopen it."
        }
        Device::Speaker => "Your speaker is not working ({}). Confer keeps trying to reopen it.",
    };
    tr_fill(sentence, &[&why])
}

/// What a person is told of the call's news, in their language.
fn notice_words(notice: &Notice) -> String {
    match notice {
        Notice::Joined { already } => tr_fill("You joined; {} already here", &[already]),
        Notice::ThroughServer { server } => tr_fill(
            "Sound and video go through the server {}, which decrypts them (not end to end)",
            &[server],
        ),
        Notice::BackInRoom => tr("Back in the room").to_string(),
        Notice::Rejoined { here } => tr_fill("Rejoined; {} here", &[here]),
        Notice::Left { name } => tr_fill("{} left", &[name]),
        Notice::Arrived { name } => tr_fill("{} joined", &[name]),
        Notice::LookingForPath { name } => {
            tr_fill("{} went quiet; looking for a new path", &[name])
        }
        Notice::TheyLookForPath { name } => tr_fill("{} is looking for a new path", &[name]),
        Notice::CarriedOn { name } => tr_fill("{} is back; the connection carried on", &[name]),
        Notice::Dropped { name } => tr_fill("{} cannot be reached; dropped", &[name]),
        Notice::SignalingLost { attempt, after } => tr_fill(
            "Lost the server; trying again in {} s (attempt {})",
            &[&format!("{:.1}", after.as_secs_f32()), attempt],
        ),
        Notice::Problem(text) => text.clone(),
    }
}

/// Why a call ended, in the person's language.
pub fn call_error_words(error: &CallError) -> String {
    match error {
        CallError::BadInvite => {
            tr("this invite link is not valid or has expired: ask for a new one").into()
        }
        CallError::RoomFull => tr("this meeting is full: try again when someone leaves").into(),
        CallError::OtherVersion => {
            tr("the server speaks another version of Confer: update the app").into()
        }
        CallError::Refused { code, message } => tr_fill(
            "The meeting's server refused to let you in ({})",
            &[&format!("{code}: {message}")],
        ),
        CallError::Unreachable { attempts: 1 } => {
            tr("The meeting's server did not answer. Check the link and your network.").into()
        }
        CallError::Unreachable { attempts } => tr_fill(
            "Could not reach the meeting's server ({} attempts). Check the link and your network.",
            &[attempts],
        ),
        CallError::NoSuchRoom => tr("the server has no such room: check the link").into(),
        CallError::WrongPin => tr("the room's PIN is wrong or missing: check the link").into(),
        CallError::JanusRefused { code, reason } => tr_fill(
            "The meeting's server refused to let you in ({})",
            &[&format!("{code}: {reason}")],
        ),
        CallError::SignalingEnded => tr("The connection to the meeting's server ended.").into(),
        CallError::NetworkGone => tr("The network stopped working for the call.").into(),
        CallError::Setup { what, reason } => {
            tr_fill("Could not start {} ({})", &[&tr(what.noun()), reason])
        }
    }
}

/// What a tile's label says: the name, then what is worth knowing (muted, connecting, a weak
/// path).
fn person_label(person: &Person) -> String {
    let mut label = person.name.clone();
    if person.hand_up {
        label.push_str(tr(" · ✋ hand raised"));
    }
    if !person.mic_on {
        label.push_str(tr(" · muted"));
    }
    if !person.camera_on {
        label.push_str(tr(" · camera off"));
    }
    match person.state {
        PeerState::Connecting => label.push_str(tr(" · connecting…")),
        PeerState::Reconnecting => label.push_str(tr(" · reconnecting…")),
        _ => {}
    }
    match person.stats.as_ref().and_then(Quality::of) {
        Some(Quality::Weak) => label.push_str(tr(" · weak connection")),
        Some(Quality::Poor) => label.push_str(tr(" · poor connection")),
        _ => {}
    }
    label
}

/// The stats overlay's text for one participant: what comes in from them and what goes out.
fn stats_text(stats: &ParticipantStats) -> String {
    let kbps = |bps: u64| format!("{:.0}", bps as f64 / 1000.0);
    let number =
        |value: Option<f64>, unit: &str| value.map_or("-".into(), |v| format!("{v:.1}{unit}"));
    format!(
        "in {} kbit/s · out {} kbit/s\n{}x{}{} at {} fps · {}/{}\nrtt {} · loss {} · jitter {}\npath {}",
        kbps(stats.bitrate_in_bps),
        kbps(stats.bitrate_out_bps),
        stats.width_in,
        stats.height_in,
        stats
            .layer_in
            .map_or(String::new(), |layer| format!(" ({} {layer})", tr("layer"))),
        number(Some(stats.fps_in), ""),
        stats.codec_video.as_deref().unwrap_or("-"),
        stats.codec_audio.as_deref().unwrap_or("-"),
        number(stats.rtt_ms, " ms"),
        stats
            .loss_in
            .map_or("-".into(), |l| format!("{:.1} %", l * 100.0)),
        number(stats.jitter_ms, " ms"),
        stats.candidate.unwrap_or("-"),
    )
}

fn tile_ui(ui: &mut egui::Ui, person: &Person, rect: egui::Rect, show_stats: bool) {
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
    if let Some(quality) = person.stats.as_ref().and_then(Quality::of) {
        painter.circle_filled(
            rect.right_top() + egui::vec2(-16.0, 16.0),
            6.0,
            quality.colour(),
        );
    }
    if show_stats && let Some(stats) = &person.stats {
        let corner = rect.left_top() + egui::vec2(8.0, 8.0);
        let area = egui::Rect::from_min_size(corner, egui::vec2(rect.width() - 40.0, 80.0));
        ui.scope_builder(egui::UiBuilder::new().max_rect(area), |ui| {
            ui.label(
                RichText::new(stats_text(stats))
                    .monospace()
                    .color(Color32::WHITE)
                    .background_color(Color32::from_black_alpha(180)),
            );
        });
    }
    let label = person_label(person);
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

    use egui_kittest::{Harness, kittest::Queryable};

    use super::*;
    use crate::call::events::MediaState;
    use crate::media::video::frame::RgbaImage;
    use crate::media::video::screen::{ShareTarget, Shareable};

    /// A call that plays back what the test queues and records what it was asked.
    #[derive(Default, Clone)]
    struct Script {
        reports: Arc<Mutex<Vec<CallReport>>>,
        pictures: Arc<Mutex<Vec<(ParticipantId, Feed, Picture)>>>,
        controls: Arc<Mutex<Vec<CallControl>>>,
        /// Tile sizes, kept apart from the controls a person sends.
        fits: Arc<Mutex<Vec<CallControl>>>,
        preview: Arc<Mutex<Option<RgbaImage>>>,
        left: Arc<Mutex<bool>>,
        ended: Arc<Mutex<Option<Result<(), CallError>>>>,
    }

    impl CallLink for Script {
        fn control(&mut self, control: CallControl) {
            match control {
                CallControl::Fit { .. } => self.fits.lock().unwrap().push(control),
                _ => self.controls.lock().unwrap().push(control),
            }
        }
        fn leave(&mut self) {
            *self.left.lock().unwrap() = true;
            *self.ended.lock().unwrap() = Some(Ok(()));
        }
        fn reports(&mut self) -> Vec<CallReport> {
            std::mem::take(&mut *self.reports.lock().unwrap())
        }
        fn pictures(&mut self) -> Vec<(ParticipantId, Feed, Picture)> {
            std::mem::take(&mut *self.pictures.lock().unwrap())
        }
        fn preview(&mut self) -> Option<RgbaImage> {
            self.preview.lock().unwrap().take()
        }
        fn ended(&mut self) -> Option<Result<(), CallError>> {
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
        harness_of_size(script, egui::vec2(800.0, 500.0))
    }

    /// A meeting in a window of `size`.
    fn harness_of_size(script: &Script, size: egui::Vec2) -> Harness<'static, State> {
        harness_sharing(script, size, Box::new(SessionScreens))
    }

    /// A meeting in a window of `size` whose shares come from `source`.
    fn harness_sharing(
        script: &Script,
        size: egui::Vec2,
        source: Box<dyn ShareSource>,
    ) -> Harness<'static, State> {
        Harness::builder().with_size(size).build_ui_state(
            |ui, (meeting, outcome): &mut State| {
                if let Some(o) = meeting.meeting_ui(ui) {
                    *outcome = Some(o);
                }
            },
            (
                Meeting::new(
                    Box::new(script.clone()),
                    Invite::parse("https://meet.example.org/j/standup#t=tok").unwrap(),
                    "Tess",
                )
                .with_share_source(source),
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
        harness.get_by_label("People (3)");
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
            state: MediaState {
                mic_on: false,
                ..MediaState::default()
            },
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
            stream_size: (w, h),
            stripe: None,
            shown_at: std::time::SystemTime::now(),
        };
        script.pictures.lock().unwrap().push((
            "a".into(),
            Feed::Camera,
            picture(4, 2, vec![200; 32]),
        ));
        harness.run();
        assert!(harness.state().0.people[0].video.is_some());
        // A picture whose bytes do not match its size is ignored, not a crash.
        script.pictures.lock().unwrap().push((
            "a".into(),
            Feed::Camera,
            picture(640, 360, vec![0; 10]),
        ));
        harness.run();
        harness.get_by_role_and_label(Role::Button, "Leave").click();
        harness.run();
        assert!(*script.left.lock().unwrap());
        assert_eq!(harness.state().1, Some(MeetingOutcome::Ended(Ok(()))));
    }

    /// The meeting with Ana in it, connected.
    fn with_ana(script: &Script) -> Harness<'static, State> {
        let mut harness = harness(script);
        script.person("a", "Ana", PeerState::Connected);
        harness.run();
        harness
    }

    #[test]
    fn chat_goes_out_as_typed_and_comes_in_with_names() {
        let script = Script::default();
        let mut harness = with_ana(&script);
        script.say(CallReport::Chat {
            id: "a".into(),
            name: "Ana".into(),
            text: "<b>hello</b>".into(),
        });
        harness.run();
        // Unread while the chat is closed; shown as sent, never as markup.
        harness
            .get_by_role_and_label(Role::Button, "Chat (1 new)")
            .click();
        harness.run();
        harness.get_by_label("<b>hello</b>");
        harness
            .get_by_role_and_label(Role::TextInput, "Message")
            .focus();
        harness.run();
        harness
            .get_by_role_and_label(Role::TextInput, "Message")
            .type_text("hi Ana");
        harness.run();
        harness.get_by_role_and_label(Role::Button, "Send").click();
        harness.run();
        assert_eq!(
            *script.controls.lock().unwrap(),
            [CallControl::Chat("hi Ana".into())]
        );
        harness.get_by_label("hi Ana");
        harness.get_by_label("You");
    }

    #[test]
    fn stats_show_on_request_and_a_weak_path_is_marked() {
        let script = Script::default();
        let mut harness = with_ana(&script);
        let stats = ParticipantStats {
            bitrate_in_bps: 1_500_000,
            bitrate_out_bps: 900_000,
            width_in: 1280,
            height_in: 720,
            fps_in: 29.7,
            codec_video: Some("H264".into()),
            codec_audio: Some("opus".into()),
            rtt_ms: Some(42.0),
            loss_in: Some(0.05),
            jitter_ms: Some(3.1),
            candidate: Some("relay"),
            ..ParticipantStats::default()
        };
        script.say(CallReport::Stats {
            id: "a".into(),
            stats: Box::new(stats),
        });
        harness.run();
        harness.get_by_label("Ana · weak connection");
        assert!(harness.query_by_label_contains("1280x720").is_none());
        harness.get_by_role_and_label(Role::Button, "Stats").click();
        harness.run();
        harness.get_by_label_contains("1280x720 at 29.7 fps · H264/opus");
        harness.get_by_label_contains("rtt 42.0 ms · loss 5.0 % · jitter 3.1 ms");
        harness.get_by_label_contains("path relay");
        // Through an SFU the layer received is named.
        let stats = ParticipantStats {
            width_in: 320,
            height_in: 180,
            layer_in: Some("quarter"),
            ..ParticipantStats::default()
        };
        script.say(CallReport::Stats {
            id: "a".into(),
            stats: Box::new(stats),
        });
        harness.run();
        harness.get_by_label_contains("320x180 (layer quarter) at");
    }

    #[test]
    fn space_held_talks_while_muted() {
        let script = Script::default();
        let mut harness = with_ana(&script);
        harness.get_by_role_and_label(Role::Button, "Mute").click();
        harness.run();
        harness.key_down(Key::Space);
        harness.run();
        harness.key_up(Key::Space);
        harness.run();
        assert_eq!(
            *script.controls.lock().unwrap(),
            [
                CallControl::Mic(false),
                CallControl::Mic(true),
                CallControl::Mic(false)
            ]
        );
        // Still muted afterwards.
        harness.get_by_role_and_label(Role::Button, "Unmute");
    }

    #[test]
    fn the_people_list_includes_us() {
        let script = Script::default();
        let mut harness = with_ana(&script);
        harness
            .get_by_role_and_label(Role::Button, "People (2)")
            .click();
        harness.run();
        harness.get_by_label("You");
        assert_eq!(
            harness.query_all_by_label("Ana").count(),
            2,
            "the tile and the list"
        );
    }

    #[test]
    fn chinese_names_and_chat_render() {
        let script = Script::default();
        let mut harness = harness(&script);
        // The harness panics on any character no font can draw.
        crate::ui::install_system_fonts(&harness.ctx);
        script.person("b", "李雷", PeerState::Connected);
        script.say(CallReport::Chat {
            id: "b".into(),
            name: "李雷".into(),
            text: "大家好，我到了".into(),
        });
        harness.run();
        harness
            .get_by_role_and_label(Role::Button, "Chat (1 new)")
            .click();
        harness.run();
        harness.get_by_label("大家好，我到了");
        assert_eq!(
            harness.query_all_by_label("李雷").count(),
            2,
            "the tile and the chat"
        );
    }

    #[test]
    fn in_chinese_marks_news_and_device_problems_are_chinese_too() {
        let script = Script::default();
        let mut harness = harness(&script);
        crate::ui::install_system_fonts(&harness.ctx);
        crate::ui::i18n::set_language(crate::config::Language::SimplifiedChinese);
        script.person("b", "李雷", PeerState::Connected);
        script.say(CallReport::Media {
            id: "b".into(),
            state: MediaState {
                mic_on: false,
                ..MediaState::default()
            },
        });
        script.say(CallReport::Notice(Notice::Left {
            name: "韩梅梅".into(),
        }));
        script.say(CallReport::Device {
            device: Device::Camera,
            problem: Some(DeviceProblem::Failed("busy".into())),
        });
        harness.run();
        crate::ui::i18n::set_language(crate::config::Language::English);
        harness.get_by_label("李雷 · 已静音");
        harness.get_by_label("韩梅梅已离开");
        harness.get_by_label("你的摄像头无法工作（busy）。其他人看不到你。");
    }

    #[test]
    fn why_a_call_ended_is_said_in_the_windows_language() {
        use crate::call::events::Setup;
        use crate::config::Language;
        crate::ui::i18n::set_language(Language::SimplifiedChinese);
        let full = call_error_words(&CallError::RoomFull);
        let unreachable = call_error_words(&CallError::Unreachable { attempts: 6 });
        let setup = call_error_words(&CallError::Setup {
            what: Setup::Audio,
            reason: "busy".into(),
        });
        crate::ui::i18n::set_language(Language::English);
        assert_eq!(full, "这个会议已满：请在有人离开后再试");
        assert_eq!(
            unreachable,
            "无法连接到会议服务器（尝试了 6 次）。请检查链接和网络。"
        );
        assert_eq!(setup, "无法启动音频（busy）");
        assert_eq!(
            call_error_words(&CallError::BadInvite),
            "this invite link is not valid or has expired: ask for a new one"
        );
        assert_eq!(
            call_error_words(&CallError::Setup {
                what: Setup::VideoEncoder,
                reason: "no memory".into()
            }),
            "Could not start the video encoder (no memory)"
        );
    }

    #[test]
    fn each_tile_tells_the_call_its_size_once_and_again_when_it_changes() {
        let script = Script::default();
        let mut harness = harness(&script);
        script.person("a", "Ana", PeerState::Connected);
        harness.run();
        harness.run();
        let fits = |script: &Script| -> Vec<(ParticipantId, u32, u32)> {
            script
                .fits
                .lock()
                .unwrap()
                .iter()
                .filter_map(|c| match c {
                    CallControl::Fit { id, width, height } => Some((id.clone(), *width, *height)),
                    _ => None,
                })
                .collect()
        };
        // Two tiles side by side in an 800-point window: Ana's is under half of it, once.
        let first = fits(&script);
        assert_eq!(first.len(), 1, "{first:?}");
        let (id, width, height) = first[0].clone();
        assert_eq!(id.as_str(), "a");
        assert!((300..400).contains(&width) && height > 100, "{first:?}");
        // The speaker view makes hers the big tile: a new size.
        harness
            .get_by_role_and_label(Role::Button, "Speaker view")
            .click();
        harness.run();
        harness.run();
        let now = fits(&script);
        assert_eq!(now.len(), 2, "{now:?}");
        assert!(now[1].1 > 700, "{now:?}");
    }

    #[test]
    fn our_own_tile_shows_our_camera_and_mute() {
        let script = Script::default();
        let mut harness = harness(&script);
        harness.get_by_label("Tess (you)");
        assert!(harness.state().0.me.video.is_none());
        *script.preview.lock().unwrap() = Some(RgbaImage {
            width: 2,
            height: 2,
            pixels: vec![90; 16],
        });
        harness.run();
        assert!(harness.state().0.me.video.is_some());
        harness.get_by_role_and_label(Role::Button, "Mute").click();
        harness.run();
        harness.get_by_label("Tess (you) · muted");
        harness
            .get_by_role_and_label(Role::Button, "Stop video")
            .click();
        harness.run();
        harness.get_by_label("Tess (you) · muted · camera off");
    }

    #[test]
    fn a_device_that_stops_is_explained_until_it_works_again() {
        let script = Script::default();
        let mut harness = harness(&script);
        script.say(CallReport::Device {
            device: Device::Microphone,
            problem: Some(DeviceProblem::Failed("the device was unplugged".into())),
        });
        script.say(CallReport::Device {
            device: Device::Camera,
            problem: Some(DeviceProblem::Failed("access denied".into())),
        });
        harness.run();
        harness.get_by_label_contains("Your microphone is not working (the device was unplugged)");
        harness.get_by_label_contains("Your camera is not working (access denied)");
        harness.get_by_label("Tess (you) · camera off");
        script.say(CallReport::Device {
            device: Device::Microphone,
            problem: None,
        });
        harness.run();
        assert!(
            harness
                .query_by_label_contains("microphone is not working")
                .is_none()
        );
        harness.get_by_label_contains("Your camera is not working");
        // No speaker on the machine at all: said as such, not as a speaker that failed.
        script.say(CallReport::Device {
            device: Device::Speaker,
            problem: Some(DeviceProblem::Missing),
        });
        harness.run();
        harness.get_by_label_contains("No speaker was found: you cannot hear the others.");
    }

    #[test]
    fn losing_the_server_is_shown_until_it_is_back() {
        let script = Script::default();
        let mut harness = with_ana(&script);
        script.say(CallReport::Signaling { connected: false });
        script.person("a", "Ana", PeerState::Reconnecting);
        harness.run();
        harness.get_by_label_contains("Reconnecting to the meeting server");
        harness.get_by_label("Ana · reconnecting…");
        script.say(CallReport::Signaling { connected: true });
        script.person("a", "Ana", PeerState::Connected);
        harness.run();
        assert!(harness.query_by_label_contains("Reconnecting").is_none());
        harness.get_by_label("Ana");
    }

    #[test]
    fn the_speaker_view_shows_who_speaks_large() {
        let script = Script::default();
        let mut harness = with_ana(&script);
        script.person("b", "Bo", PeerState::Connected);
        script.say(CallReport::Levels {
            local: 0.0,
            remotes: vec![("a".into(), 0.001), ("b".into(), 0.2)],
        });
        harness.run();
        harness
            .get_by_role_and_label(Role::Button, "Speaker view")
            .click();
        harness.run();
        // Bo speaks: his label sits under the large tile, far below Ana's in the row.
        let bo = harness.get_by_label("Bo").rect();
        let ana = harness.get_by_label("Ana").rect();
        assert!(bo.min.y < ana.min.y, "Bo {bo:?}, Ana {ana:?}");
        // Then Ana speaks, and Bo goes quiet: she takes the large tile, and keeps it in a pause.
        script.say(CallReport::Levels {
            local: 0.0,
            remotes: vec![("a".into(), 0.3), ("b".into(), 0.0)],
        });
        harness.run();
        script.say(CallReport::Levels {
            local: 0.0,
            remotes: vec![("a".into(), 0.0), ("b".into(), 0.0)],
        });
        harness.run();
        let bo = harness.get_by_label("Bo").rect();
        let ana = harness.get_by_label("Ana").rect();
        assert!(ana.min.y < bo.min.y, "Bo {bo:?}, Ana {ana:?}");
    }

    /// Raising a hand: the button and Ctrl/Cmd+Alt+H tell the call, and someone else's raised
    /// hand marks their tile and is noticed once.
    #[test]
    fn a_hand_goes_up_and_down_and_others_hands_are_shown() {
        let script = Script::default();
        let mut harness = harness(&script);
        script.person("a", "Ana", PeerState::Connected);
        harness.run();
        harness
            .get_by_role_and_label(Role::Button, "Raise hand")
            .click();
        harness.run();
        harness.get_by_role_and_label(Role::Button, "Lower hand");
        harness.get_by_label("Tess (you) · ✋ hand raised");
        harness.key_press_modifiers(Modifiers::COMMAND.plus(Modifiers::ALT), Key::H);
        harness.run();
        harness.get_by_role_and_label(Role::Button, "Raise hand");
        assert_eq!(
            *script.controls.lock().unwrap(),
            [CallControl::Hand(true), CallControl::Hand(false)]
        );
        let ana = |hand_up| CallReport::Media {
            id: "a".into(),
            state: MediaState {
                hand_up,
                ..MediaState::default()
            },
        };
        script.say(ana(true));
        script.say(ana(true));
        harness.run();
        harness.get_by_label("Ana · ✋ hand raised");
        assert_eq!(
            harness.query_all_by_label("Ana raised their hand").count(),
            1
        );
        script.say(ana(false));
        harness.run();
        harness.get_by_label("Ana");
    }

    /// At the window's smallest size, in English and in Chinese, every control is inside the
    /// window (the bar wraps), and a control's tooltip names its shortcut.
    #[test]
    fn the_control_bar_fits_the_smallest_window_and_names_its_shortcuts() {
        use crate::config::Language;
        let smallest = egui::vec2(480.0, 360.0);
        let window = egui::Rect::from_min_size(egui::Pos2::ZERO, smallest);
        for language in [Language::English, Language::SimplifiedChinese] {
            let script = Script::default();
            let mut harness = harness_of_size(&script, smallest);
            crate::ui::install_system_fonts(&harness.ctx);
            crate::ui::i18n::set_language(language);
            harness.run();
            let labels = [
                tr("Mute"),
                tr("Stop video"),
                tr("Raise hand"),
                tr("Share screen"),
                tr("Invite"),
                tr("Speaker view"),
                tr("Stats"),
                tr("Leave"),
            ];
            let rects: Vec<(&str, egui::Rect)> = labels
                .iter()
                .map(|label| {
                    let node = harness.get_by_role_and_label(Role::Button, label);
                    (*label, node.rect())
                })
                .collect();
            // Each tooltip names its shortcut (the pointer moves onto one control, then onto
            // another, as a person's does).
            // In this harness the very first tooltip in Chinese never shows (in English it
            // does; the cause was not found, perhaps the system fonts loading at that frame).
            // From the second hover on, tooltips show in both: one on another control first.
            harness
                .get_by_role_and_label(Role::Button, tr("Stats"))
                .hover();
            harness.run_steps(60);
            let mut tips = Vec::new();
            let shortcuts = [
                (tr("Raise hand"), "(Ctrl+Alt+H)"),
                (tr("Mute"), "(Ctrl+D)"),
                (tr("Share screen"), "(Ctrl+Shift+S)"),
            ];
            for (label, keys) in shortcuts {
                harness.get_by_role_and_label(Role::Button, label).hover();
                // Past the tooltip's delay.
                harness.run_steps(60);
                tips.push((keys, harness.query_by_label_contains(keys).is_some()));
            }
            crate::ui::i18n::set_language(Language::English);
            for (label, rect) in rects {
                assert!(
                    window.contains_rect(rect),
                    "{language:?}: {label} at {rect:?}, outside the window"
                );
            }
            for (keys, shown) in tips {
                assert!(shown, "{language:?}: no tooltip naming {keys}");
            }
        }
    }

    /// Someone joining is noticed; with the settings' switch off, joining and leaving are not.
    #[test]
    fn arrivals_are_noticed_unless_turned_off() {
        let script = Script::default();
        let mut shown = harness(&script);
        script.say(CallReport::Notice(Notice::Arrived { name: "Ana".into() }));
        shown.run();
        shown.get_by_label("Ana joined");
        let script = Script::default();
        let mut harness = harness(&script);
        harness.state_mut().0.arrival_notices = false;
        script.say(CallReport::Notice(Notice::Arrived { name: "Ana".into() }));
        script.say(CallReport::Notice(Notice::Left { name: "Lei".into() }));
        script.say(CallReport::Notice(Notice::BackInRoom));
        harness.run();
        assert!(harness.query_by_label("Ana joined").is_none());
        assert!(harness.query_by_label("Lei left").is_none());
        harness.get_by_label("Back in the room");
    }

    /// A test's screens and windows, or why there are none.
    struct Shareables(Result<Vec<Shareable>, String>);

    impl ShareSource for Shareables {
        fn list(&self) -> Result<Vec<Shareable>, String> {
            self.0.clone()
        }
        fn thumbnail(&self, _: ShareTarget) -> Option<RgbaImage> {
            Some(RgbaImage {
                width: 16,
                height: 9,
                pixels: vec![128; 16 * 9 * 4],
            })
        }
    }

    const A_WINDOW: ShareTarget = ShareTarget::Window(0x40_0001);

    fn a_screen_and_a_window() -> Box<dyn ShareSource> {
        Box::new(Shareables(Ok(vec![
            Shareable {
                target: ShareTarget::Screen {
                    x: 0,
                    y: 0,
                    width: 1920,
                    height: 1080,
                },
                name: "HDMI-1".into(),
                width: 1920,
                height: 1080,
            },
            Shareable {
                target: A_WINDOW,
                name: "Shared document — 共享".into(),
                width: 640,
                height: 360,
            },
        ])))
    }

    fn last_control(script: &Script) -> Option<CallControl> {
        script.controls.lock().unwrap().last().cloned()
    }

    /// Ctrl+Shift+S opens the picker of screens and windows; the one chosen is shared; while
    /// the call says we share, the window says so and Stop ends it. In both languages.
    #[test]
    fn the_picker_shares_what_is_chosen_and_sharing_is_shown_with_a_stop() {
        use crate::config::Language;
        for language in [Language::English, Language::SimplifiedChinese] {
            let script = Script::default();
            let mut harness =
                harness_sharing(&script, egui::vec2(900.0, 600.0), a_screen_and_a_window());
            crate::ui::install_system_fonts(&harness.ctx);
            crate::ui::i18n::set_language(language);
            harness.run();
            harness.key_press_modifiers(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::S);
            harness.run();
            let opened = harness
                .query_by_label(tr("Choose what everyone will see:"))
                .is_some();
            let screen_named = harness
                .query_by_label(&tr_fill("Screen: {}", &[&"HDMI-1"]))
                .is_some();
            harness
                .get_by_role_and_label(Role::Button, "Shared document — 共享")
                .click();
            harness.run();
            let chosen = last_control(&script);
            let closed = harness
                .query_by_label(tr("Choose what everyone will see:"))
                .is_none();
            script.say(CallReport::Sharing(true));
            harness.run();
            let said = harness
                .query_by_label(tr("You are sharing your screen with everyone"))
                .is_some();
            // The bar's Stop and the control bar's (its label switched).
            let stops = harness
                .query_all_by_role_and_label(Role::Button, tr("Stop sharing"))
                .count();
            harness
                .query_all_by_role_and_label(Role::Button, tr("Stop sharing"))
                .next()
                .unwrap()
                .click();
            harness.run();
            let stopped = last_control(&script);
            script.say(CallReport::Sharing(false));
            harness.run();
            let unsaid = harness
                .query_by_label(tr("You are sharing your screen with everyone"))
                .is_none();
            crate::ui::i18n::set_language(Language::English);
            assert!(opened && screen_named, "{language:?}: the picker");
            assert_eq!(
                chosen,
                Some(CallControl::Share(Some(A_WINDOW))),
                "{language:?}"
            );
            assert!(closed, "{language:?}: the picker stayed open");
            assert!(said, "{language:?}: sharing not shown");
            assert_eq!(stops, 2, "{language:?}");
            assert_eq!(stopped, Some(CallControl::Share(None)), "{language:?}");
            assert!(unsaid, "{language:?}");
        }
    }

    /// Where nothing can be shared (a Wayland session), the picker says why; Cancel closes it
    /// and nothing is shared.
    #[test]
    fn a_picker_with_nothing_to_share_says_why() {
        let why = "cannot share the screen: this is a Wayland session";
        let script = Script::default();
        let source = Box::new(Shareables(Err(why.into())));
        let mut harness = harness_sharing(&script, egui::vec2(800.0, 500.0), source);
        harness.run();
        harness
            .get_by_role_and_label(Role::Button, "Share screen")
            .click();
        harness.run();
        assert!(harness.query_by_label(why).is_some());
        harness
            .get_by_role_and_label(Role::Button, "Cancel")
            .click();
        harness.run();
        assert!(harness.query_by_label(why).is_none());
        assert_eq!(last_control(&script), None);
    }

    fn screen_picture(script: &Script, id: &str, (w, h): (usize, usize)) {
        let picture = Picture {
            image: RgbaImage {
                width: w,
                height: h,
                pixels: vec![90; w * h * 4],
            },
            stream_size: (w, h),
            stripe: None,
            shown_at: std::time::SystemTime::now(),
        };
        script
            .pictures
            .lock()
            .unwrap()
            .push((id.into(), Feed::Screen, picture));
    }

    /// A shared screen takes the stage (its sharer named above it, the cameras in a row
    /// below), fitted or 1:1; a newer share replaces it, and when that ends the earlier one
    /// comes back; when none is left the grid does.
    #[test]
    fn a_shared_screen_takes_the_stage_and_the_newest_share_wins() {
        let script = Script::default();
        let mut harness = harness(&script);
        script.person("a", "Ana", PeerState::Connected);
        script.person("b", "Bo", PeerState::Connected);
        harness.run();
        screen_picture(&script, "a", (320, 180));
        harness.run();
        assert!(
            harness
                .query_by_label("Ana is sharing their screen")
                .is_some()
        );
        // The sharer's camera and the others' go small below the stage.
        let fits: Vec<(u32, u32)> = script
            .fits
            .lock()
            .unwrap()
            .iter()
            .filter_map(|f| match f {
                CallControl::Fit { width, height, .. } => Some((*width, *height)),
                _ => None,
            })
            .collect();
        let (_, small) = *fits.last().unwrap();
        assert!(small < 200, "tiles below the stage: {fits:?}");
        harness.get_by_role_and_label(Role::Button, "1:1").click();
        harness.run();
        assert_eq!(harness.state().0.stage_view, StageView::Actual);
        harness.get_by_role_and_label(Role::Button, "Fit").click();
        harness.run();
        assert_eq!(harness.state().0.stage_view, StageView::Fit);

        screen_picture(&script, "b", (320, 180));
        harness.run();
        assert!(
            harness
                .query_by_label("Bo is sharing their screen")
                .is_some()
        );
        assert!(
            harness
                .query_by_label("Ana is sharing their screen")
                .is_none()
        );
        script.say(CallReport::ScreenEnded { id: "b".into() });
        harness.run();
        assert!(
            harness
                .query_by_label("Ana is sharing their screen")
                .is_some()
        );
        script.say(CallReport::ScreenEnded { id: "a".into() });
        harness.run();
        assert!(
            harness
                .query_by_label("Ana is sharing their screen")
                .is_none()
        );
        assert!(harness.state().0.on_stage().is_none());
    }

    #[test]
    fn the_stage_names_the_sharer_in_chinese() {
        use crate::config::Language;
        let script = Script::default();
        let mut harness = harness(&script);
        crate::ui::install_system_fonts(&harness.ctx);
        crate::ui::i18n::set_language(Language::SimplifiedChinese);
        script.person("a", "小明", PeerState::Connected);
        harness.run();
        screen_picture(&script, "a", (320, 180));
        harness.run();
        let title = harness.query_by_label("小明正在共享屏幕").is_some();
        let fit = harness.query_by_label("适应窗口").is_some();
        crate::ui::i18n::set_language(Language::English);
        assert!(title && fit);
    }
}
