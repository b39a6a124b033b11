//! Pictures into textures: the one step between a decoded (or previewed) picture and the GPU.
//! The picture's bytes become the texture's pixels as they are, without a copy on the UI
//! thread: RGBA bytes and egui's `Color32` have the same layout, and pictures are opaque, so
//! they are already premultiplied.

use egui::{Color32, ColorImage, TextureOptions};

use crate::media::video::RgbaImage;

/// Puts `image` into `texture`, made on first use; a picture whose bytes do not match its
/// size is skipped.
pub fn show_image(
    ctx: &egui::Context,
    texture: &mut Option<egui::TextureHandle>,
    name: &str,
    image: RgbaImage,
) {
    let Some(colour) = colour_image(image) else {
        return;
    };
    match texture {
        Some(texture) => texture.set(colour, TextureOptions::LINEAR),
        None => *texture = Some(ctx.load_texture(name, colour, TextureOptions::LINEAR)),
    }
}

fn colour_image(image: RgbaImage) -> Option<ColorImage> {
    let size = [image.width, image.height];
    if image.width == 0 || image.pixels.len() != image.width * image.height * 4 {
        return None;
    }
    let pixels = match bytemuck::allocation::try_cast_vec::<u8, Color32>(image.pixels) {
        Ok(pixels) => pixels,
        // A buffer whose capacity is not a whole number of pixels: copy it after all.
        Err((_, bytes)) => bytes
            .chunks_exact(4)
            .map(|p| Color32::from_rgba_premultiplied(p[0], p[1], p[2], p[3]))
            .collect(),
    };
    Some(ColorImage::new(size, pixels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_keep_their_order_and_mismatched_sizes_are_refused() {
        let image = RgbaImage {
            width: 2,
            height: 1,
            pixels: vec![1, 2, 3, 255, 4, 5, 6, 255],
        };
        let colour = colour_image(image).unwrap();
        assert_eq!(colour.size, [2, 1]);
        assert_eq!(colour.pixels[1], Color32::from_rgb(4, 5, 6));
        // A capacity that is not a whole number of pixels still converts.
        let mut odd = Vec::with_capacity(9);
        odd.extend_from_slice(&[9, 8, 7, 255]);
        let colour = colour_image(RgbaImage {
            width: 1,
            height: 1,
            pixels: odd,
        })
        .unwrap();
        assert_eq!(colour.pixels[0], Color32::from_rgb(9, 8, 7));
        let short = RgbaImage {
            width: 640,
            height: 360,
            pixels: vec![0; 10],
        };
        assert!(colour_image(short).is_none());
    }
}
