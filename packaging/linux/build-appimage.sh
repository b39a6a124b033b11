#!/usr/bin/env bash
# Builds Confer-VERSION-ARCH.AppImage into target/appimage/: an AppDir holding the release
# binary, the desktop file, the icons and the metainfo, packed by appimagetool (give its path
# in APPIMAGETOOL, or have it on PATH; it is not in Debian, so CI downloads its release).
# Confer links only glibc and ALSA; the window's X11/Wayland and GL libraries are the desktop's
# own, opened at run time, so nothing else is bundled.
set -euo pipefail
cd "$(dirname "$0")/../.."
appimagetool=${APPIMAGETOOL:-appimagetool}
command -v "$appimagetool" >/dev/null 2>&1 || {
    echo "appimagetool not found: set APPIMAGETOOL or put it on PATH" >&2
    exit 1
}

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
arch=$(uname -m)
export CARGO_TARGET_DIR="$PWD/target"
cargo build --release --locked
cargo run --quiet --release --locked --manifest-path packaging/icons/Cargo.toml -- \
    assets/confer.svg target/icons >/dev/null

appdir=target/appimage/Confer.AppDir
rm -rf "$appdir"
mkdir -p "$appdir/usr/bin" "$appdir/usr/share/applications" "$appdir/usr/share/metainfo"
install -m 755 target/release/confer "$appdir/usr/bin/confer"
install -m 644 packaging/linux/app.confer.Confer.desktop "$appdir/usr/share/applications/"
install -m 644 packaging/linux/app.confer.Confer.metainfo.xml \
    "$appdir/usr/share/metainfo/app.confer.Confer.appdata.xml"
mkdir -p "$appdir/usr/share/icons"
cp -R target/icons/hicolor "$appdir/usr/share/icons/"
# What appimagetool looks for at the top: the desktop file, its icon, and AppRun.
cp packaging/linux/app.confer.Confer.desktop "$appdir/"
cp target/icons/hicolor/256x256/apps/app.confer.Confer.png "$appdir/app.confer.Confer.png"
ln -sf usr/bin/confer "$appdir/AppRun"

out="target/appimage/Confer-$version-$arch.AppImage"
ARCH=$arch "$appimagetool" --no-appstream "$appdir" "$out"
echo "$out"
