#!/usr/bin/env bash
# Builds Confer.app and Confer-VERSION.dmg on macOS, into target/macos/.
#   packaging/macos/build-app.sh [--target TRIPLE]
# The app is signed ad hoc, or with the identity in CODESIGN_IDENTITY (a "Developer ID
# Application" one for distribution) under the hardened runtime with confer.entitlements.
# Notarizing (xcrun notarytool) is left to the release job, which holds the credentials.
set -euo pipefail
cd "$(dirname "$0")/../.."
target_args=()
bin_dir=target/release
if [ "${1:-}" = --target ]; then
    target_args=(--target "$2")
    bin_dir="target/$2/release"
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
out=target/macos
app="$out/Confer.app"
rm -rf "$app" "$out/dmg"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources" "$out/dmg"

cargo build --release --locked "${target_args[@]}"
CARGO_TARGET_DIR="$PWD/target" cargo run --quiet --release --locked \
    --manifest-path packaging/icons/Cargo.toml -- assets/confer.svg target/icons >/dev/null

cp "$bin_dir/confer" "$app/Contents/MacOS/confer"
cp target/icons/confer.icns "$app/Contents/Resources/confer.icns"
sed "s/@VERSION@/$version/g" packaging/macos/Info.plist >"$app/Contents/Info.plist"
plutil -lint "$app/Contents/Info.plist"

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
    codesign --force --options runtime --timestamp \
        --entitlements packaging/macos/confer.entitlements \
        --sign "$CODESIGN_IDENTITY" "$app"
else
    codesign --force --entitlements packaging/macos/confer.entitlements --sign - "$app"
fi
codesign --verify --strict "$app"

# The disk image: the app and a link to /Applications to drag it onto.
cp -R "$app" "$out/dmg/"
ln -s /Applications "$out/dmg/Applications"
dmg="$out/Confer-$version.dmg"
rm -f "$dmg"
hdiutil create -volname Confer -srcfolder "$out/dmg" -fs HFS+ -format UDZO "$dmg"
echo "$dmg"
