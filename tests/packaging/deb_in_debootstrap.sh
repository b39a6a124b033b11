#!/usr/bin/env bash
# The .deb on a fresh Debian. Builds it (packaging/linux/build-deb.sh), makes a new minimal
# Debian root file system with debootstrap, installs the package there with apt (so its
# dependencies come as they would for a user), and checks inside it that
#   - the binary runs: `confer --help`;
#   - the desktop file validates: `desktop-file-validate`;
#   - the system names Confer as the confer:// handler: `xdg-mime query default`;
#   - the icons and the AppStream metainfo are where desktops look for them.
# Needs root (chroot; sudo is used when not root) and Debian's mirror. Downloaded packages are
# kept in target/debootstrap-cache for the next run; the root file system is made anew each time
# and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
    printf 'deb_in_debootstrap: FAILED: %s\n' "$*" >&2
    exit 1
}
say() { printf 'deb_in_debootstrap: %s\n' "$*" >&2; }

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

deb=$(packaging/linux/build-deb.sh | tail -n 1)
[ -f "$deb" ] || fail "build-deb.sh did not name a package: '$deb'"
say "built $deb"

# The Debian release of this machine, which built the package against its glibc; elsewhere
# Debian 12.
# shellcheck disable=SC1091
suite=$(. /etc/os-release && [ "${ID:-}" = debian ] && printf '%s' "${VERSION_CODENAME:-}")
suite=${suite:-bookworm}
mirror=http://deb.debian.org/debian
cache="$PWD/target/debootstrap-cache"
mkdir -p "$cache"
root=$(mktemp -d "$PWD/target/debootstrap-root.XXXXXX")
cleanup() {
    "${sudo[@]}" umount "$root/proc" 2>/dev/null || true
    "${sudo[@]}" rm -rf --one-file-system "$root"
}
trap cleanup EXIT

say "debootstrap $suite into $root"
"${sudo[@]}" debootstrap --variant=minbase --cache-dir="$cache" "$suite" "$root" "$mirror" \
    >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; fail "debootstrap"; }
rm -f "$root.log"
"${sudo[@]}" cp /etc/resolv.conf "$root/etc/resolv.conf"
"${sudo[@]}" mount -t proc proc "$root/proc"
"${sudo[@]}" cp "$deb" "$root/tmp/confer.deb"
in_root() { "${sudo[@]}" chroot "$root" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

say "apt-get install ./confer.deb (with the tools the checks use)"
# As root without a _apt user of its own, apt may not drop privileges for downloads.
apt=(apt-get -q -o APT::Sandbox::User=root)
in_root "${apt[@]}" update >/dev/null || fail "apt-get update in the new root"
in_root "${apt[@]}" install -y --no-install-recommends /tmp/confer.deb desktop-file-utils \
    xdg-utils >/dev/null || fail "apt-get install of the package"

help=$(in_root confer --help) || fail "confer --help exited $?"
grep -q "serve" <<<"$help" || fail "confer --help does not describe the commands: $help"
say "confer --help runs"

desktop=/usr/share/applications/app.confer.Confer.desktop
report=$(in_root desktop-file-validate "$desktop" 2>&1) || fail "desktop-file-validate: $report"
[ -z "$report" ] || fail "desktop-file-validate has remarks: $report"
say "desktop-file-validate: clean"

handler=$(in_root xdg-mime query default x-scheme-handler/confer) || fail "xdg-mime query"
[ "$handler" = app.confer.Confer.desktop ] ||
    fail "xdg-mime names '$handler' for confer://, not app.confer.Confer.desktop"
say "xdg-mime: confer:// opens with $handler"

for file in /usr/share/icons/hicolor/48x48/apps/app.confer.Confer.png \
    /usr/share/icons/hicolor/256x256/apps/app.confer.Confer.png \
    /usr/share/icons/hicolor/scalable/apps/app.confer.Confer.svg \
    /usr/share/metainfo/app.confer.Confer.metainfo.xml; do
    [ -s "$root$file" ] || fail "$file is not installed"
done
say "passed"
