//! Screen sharing in the window: the picker of screens and windows (with thumbnails), and a
//! shared screen drawn on the stage, fitted or at its own pixels (1:1). What can be shared
//! comes from a [`ShareSource`]: the session's display, or a test's list.

use egui::{Color32, RichText};

use super::i18n::{tr, tr_fill};
use super::texture::show_image;
use crate::media::video::RgbaImage;
use crate::media::video::screen::{self, ShareTarget, Shareable};

/// Thumbnails in the picker: at most this size, in pixels.
const THUMBNAIL: (usize, usize) = (240, 135);

/// What can be shared, and small pictures of it.
pub trait ShareSource {
    /// The screens and windows that can be shared now, or a sentence saying why none can.
    fn list(&self) -> Result<Vec<Shareable>, String>;
    /// A small picture of `target` for the picker; None when it cannot be taken.
    fn thumbnail(&self, target: ShareTarget) -> Option<RgbaImage>;
}

/// The session's own display (X11's `DISPLAY`; a Wayland session says why not).
pub struct SessionScreens;

impl ShareSource for SessionScreens {
    fn list(&self) -> Result<Vec<Shareable>, String> {
        screen::shareables(None).map_err(|e| e.to_string())
    }

    fn thumbnail(&self, target: ShareTarget) -> Option<RgbaImage> {
        screen::thumbnail(None, target, THUMBNAIL).ok()
    }
}

struct Choice {
    shareable: Shareable,
    thumbnail: Option<egui::TextureHandle>,
}

/// The picker, open: what it found when it opened.
pub struct Picker {
    choices: Result<Vec<Choice>, String>,
}

/// What the picker was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picked {
    Share(ShareTarget),
    Cancel,
}

impl Picker {
    /// Lists what `source` can share, with thumbnails, now.
    pub fn open(ctx: &egui::Context, source: &dyn ShareSource) -> Picker {
        let choices = source.list().map(|found| {
            found
                .into_iter()
                .enumerate()
                .map(|(i, shareable)| {
                    let mut thumbnail = None;
                    if let Some(image) = source.thumbnail(shareable.target) {
                        show_image(ctx, &mut thumbnail, &format!("share-thumbnail-{i}"), image);
                    }
                    Choice {
                        shareable,
                        thumbnail,
                    }
                })
                .collect()
        });
        Picker { choices }
    }

    /// Draws the picker over the meeting; what was picked, once it was.
    pub fn ui(&self, ctx: &egui::Context) -> Option<Picked> {
        let mut picked = None;
        egui::Window::new(tr("Share your screen"))
            .collapsible(false)
            .resizable(true)
            .default_width(560.0)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                match &self.choices {
                    Err(why) => {
                        ui.colored_label(ui.visuals().error_fg_color, why);
                    }
                    Ok(choices) if choices.is_empty() => {
                        ui.label(tr("There is nothing to share on this display."));
                    }
                    Ok(choices) => {
                        ui.label(tr("Choose what everyone will see:"));
                        egui::ScrollArea::vertical()
                            .max_height(ctx.content_rect().height() * 0.6)
                            .show(ui, |ui| {
                                ui.horizontal_wrapped(|ui| {
                                    for choice in choices {
                                        if choice_ui(ui, choice) {
                                            picked = Some(Picked::Share(choice.shareable.target));
                                        }
                                    }
                                });
                            });
                    }
                }
                ui.separator();
                if ui.button(tr("Cancel")).clicked() {
                    picked = Some(Picked::Cancel);
                }
            });
        if ctx.input(|i| i.key_pressed(egui::Key::Escape)) {
            picked = Some(Picked::Cancel);
        }
        picked
    }
}

/// One screen or window: a button with its thumbnail and its name (which screen readers,
/// and the tests, know it by). True when it was clicked.
fn choice_ui(ui: &mut egui::Ui, choice: &Choice) -> bool {
    let name = match choice.shareable.target {
        ShareTarget::Screen { .. } => tr_fill("Screen: {}", &[&choice.shareable.name]),
        ShareTarget::Window(_) => choice.shareable.name.clone(),
    };
    let size = egui::vec2(THUMBNAIL.0 as f32, THUMBNAIL.1 as f32);
    let button = match &choice.thumbnail {
        Some(texture) => {
            let image = egui::Image::new(texture).fit_to_exact_size(size * 0.5);
            egui::Button::image_and_text(image, RichText::new(name))
        }
        None => egui::Button::new(RichText::new(name)),
    };
    ui.add_sized(egui::vec2(size.x, size.y * 0.5 + 12.0), button)
        .clicked()
}

/// How a shared screen is drawn on the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StageView {
    /// All of it, as large as the stage allows.
    #[default]
    Fit,
    /// One screen pixel to one window pixel, scrolled (small text read as it is).
    Actual,
}

/// `texture` (someone's shared screen, `title` naming it) in `rect`, with the Fit / 1:1
/// switch above it; the view, as switched.
pub fn stage_ui(
    ui: &mut egui::Ui,
    rect: egui::Rect,
    texture: &egui::TextureHandle,
    title: &str,
    view: StageView,
) -> StageView {
    let mut view = view;
    let bar = egui::Rect::from_min_size(rect.min, egui::vec2(rect.width(), 28.0));
    ui.scope_builder(
        egui::UiBuilder::new()
            .max_rect(bar)
            .layout(egui::Layout::left_to_right(egui::Align::Center)),
        |ui| {
            ui.label(RichText::new(title).strong());
            ui.separator();
            ui.selectable_value(&mut view, StageView::Fit, tr("Fit"))
                .on_hover_text(tr("Show all of the shared screen"));
            ui.selectable_value(&mut view, StageView::Actual, "1:1")
                .on_hover_text(tr("Show the shared screen at its own size"));
        },
    );
    let area = egui::Rect::from_min_max(egui::pos2(rect.min.x, bar.max.y + 4.0), rect.max);
    ui.painter_at(area)
        .rect_filled(area, 6.0, Color32::from_gray(0x10));
    let size = texture.size_vec2();
    match view {
        StageView::Fit => {
            let scale = (area.width() / size.x).min(area.height() / size.y);
            let shown = egui::Rect::from_center_size(area.center(), size * scale);
            ui.painter_at(area).image(
                texture.id(),
                shown,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        StageView::Actual => {
            // A texture pixel to a physical pixel.
            let points = size / ui.ctx().pixels_per_point();
            ui.scope_builder(egui::UiBuilder::new().max_rect(area), |ui| {
                egui::ScrollArea::both()
                    .id_salt("shared-screen")
                    .show(ui, |ui| {
                        ui.add(egui::Image::new(texture).fit_to_exact_size(points));
                    });
            });
        }
    }
    view
}
