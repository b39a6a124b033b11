//! `confer-icons SVG OUT_DIR`: renders the app's icon into what each installer takes:
//! `hicolor/SIZExSIZE/apps/app.confer.Confer.png` for the Linux icon theme, `confer.ico`
//! (Windows: PNG entries, 16 to 256) and `confer.icns` (macOS: PNG entries, 16 to 1024).
//! One renderer on every platform, so the three installers draw the same pixels.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use resvg::{tiny_skia, usvg};

const THEME_SIZES: [u32; 9] = [16, 24, 32, 48, 64, 128, 256, 512, 1024];
const ICO_SIZES: [u32; 6] = [16, 24, 32, 48, 64, 256];
/// The ICNS types that hold PNG data, by size.
const ICNS_TYPES: [(&[u8; 4], u32); 7] = [
    (b"icp4", 16),
    (b"icp5", 32),
    (b"icp6", 64),
    (b"ic07", 128),
    (b"ic08", 256),
    (b"ic09", 512),
    (b"ic10", 1024),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [svg, out] = args.as_slice() else {
        eprintln!("usage: confer-icons SVG OUT_DIR");
        return ExitCode::from(2);
    };
    match render_all(Path::new(svg), Path::new(out)) {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render_all(svg: &Path, out: &Path) -> Result<Vec<PathBuf>, String> {
    let data = std::fs::read(svg).map_err(|e| format!("{}: {e}", svg.display()))?;
    let tree = usvg::Tree::from_data(&data, &usvg::Options::default())
        .map_err(|e| format!("{}: {e}", svg.display()))?;
    let png = |size: u32| render(&tree, size);
    let mut written = Vec::new();
    for size in THEME_SIZES {
        let dir = out.join(format!("hicolor/{size}x{size}/apps"));
        written.push(write(&dir, "app.confer.Confer.png", &png(size)?)?);
    }
    let ico: Vec<(u32, Vec<u8>)> = ICO_SIZES
        .iter()
        .map(|&size| Ok((size, png(size)?)))
        .collect::<Result<_, String>>()?;
    written.push(write(out, "confer.ico", &ico_file(&ico))?);
    let icns: Vec<(&[u8; 4], Vec<u8>)> = ICNS_TYPES
        .iter()
        .map(|&(kind, size)| Ok((kind, png(size)?)))
        .collect::<Result<_, String>>()?;
    written.push(write(out, "confer.icns", &icns_file(&icns))?);
    Ok(written)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The icon drawn to fill a `size` square, as PNG.
fn render(tree: &usvg::Tree, size: u32) -> Result<Vec<u8>, String> {
    let mut pixmap = tiny_skia::Pixmap::new(size, size).ok_or("an empty icon size")?;
    let drawn = tree.size();
    let scale = size as f32 / drawn.width().max(drawn.height());
    resvg::render(
        tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| e.to_string())
}

/// An ICO file whose images are PNGs (Windows Vista and later read them): a 6-byte header,
/// a 16-byte entry per image, then the images. A width or height of 256 is written as 0.
fn ico_file(images: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(&0u16.to_le_bytes());
    file.extend_from_slice(&1u16.to_le_bytes());
    file.extend_from_slice(&(images.len() as u16).to_le_bytes());
    let mut offset = 6 + 16 * images.len() as u32;
    for (size, png) in images {
        let side = if *size >= 256 { 0 } else { *size as u8 };
        file.extend_from_slice(&[side, side, 0, 0]);
        file.extend_from_slice(&1u16.to_le_bytes()); // colour planes
        file.extend_from_slice(&32u16.to_le_bytes()); // bits a pixel
        file.extend_from_slice(&(png.len() as u32).to_le_bytes());
        file.extend_from_slice(&offset.to_le_bytes());
        offset += png.len() as u32;
    }
    for (_, png) in images {
        file.extend_from_slice(png);
    }
    file
}

/// An ICNS file: 'icns' and the file's length, then per image its type, its length with the
/// 8-byte header, and the PNG; lengths are big-endian.
fn icns_file(images: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    let length: usize = 8 + images.iter().map(|(_, png)| 8 + png.len()).sum::<usize>();
    let mut file = Vec::with_capacity(length);
    file.extend_from_slice(b"icns");
    file.extend_from_slice(&(length as u32).to_be_bytes());
    for (kind, png) in images {
        file.extend_from_slice(*kind);
        file.extend_from_slice(&((8 + png.len()) as u32).to_be_bytes());
        file.extend_from_slice(png);
    }
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

    fn u32_le(bytes: &[u8]) -> usize {
        u32::from_le_bytes(bytes.try_into().unwrap()) as usize
    }

    #[test]
    fn the_icon_renders_at_every_size_into_the_three_forms() {
        let svg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/confer.svg");
        let out = std::env::temp_dir().join(format!("confer-icons-{}", std::process::id()));
        render_all(&svg, &out).unwrap();

        // PNGs of the right size, and not blank: the blue square fills the middle.
        for size in THEME_SIZES {
            let path = out.join(format!("hicolor/{size}x{size}/apps/app.confer.Confer.png"));
            let pixmap = tiny_skia::Pixmap::load_png(&path).unwrap();
            assert_eq!((pixmap.width(), pixmap.height()), (size, size));
            let edge = pixmap.pixel(size / 2, size / 10).unwrap();
            assert!(edge.blue() > 200 && edge.red() < 80, "{size}: {edge:?}");
            assert_eq!(pixmap.pixel(0, 0).unwrap().alpha(), 0, "{size}: corner");
        }

        // ICO: the directory points at each PNG, 256 written as 0.
        let ico = std::fs::read(out.join("confer.ico")).unwrap();
        assert_eq!(&ico[..6], &[0, 0, 1, 0, ICO_SIZES.len() as u8, 0]);
        for (i, size) in ICO_SIZES.iter().enumerate() {
            let entry = &ico[6 + 16 * i..6 + 16 * (i + 1)];
            assert_eq!(entry[0], if *size == 256 { 0 } else { *size as u8 });
            let (length, offset) = (u32_le(&entry[8..12]), u32_le(&entry[12..16]));
            assert!(ico[offset..offset + length].starts_with(PNG_MAGIC));
        }

        // ICNS: the length is the file's, and the entries walk to its end.
        let icns = std::fs::read(out.join("confer.icns")).unwrap();
        assert_eq!(&icns[..4], b"icns");
        let total = u32::from_be_bytes(icns[4..8].try_into().unwrap()) as usize;
        assert_eq!(total, icns.len());
        let (mut at, mut kinds) = (8, Vec::new());
        while at < total {
            kinds.push(icns[at..at + 4].to_vec());
            let length = u32::from_be_bytes(icns[at + 4..at + 8].try_into().unwrap()) as usize;
            assert!(icns[at + 8..at + length].starts_with(PNG_MAGIC));
            at += length;
        }
        assert_eq!(at, total);
        assert_eq!(kinds.len(), ICNS_TYPES.len());
        std::fs::remove_dir_all(&out).unwrap();
    }
}
