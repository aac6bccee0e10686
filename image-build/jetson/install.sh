#!/bin/sh
# Werkvloer on an NVIDIA Jetson with JetPack (Ubuntu): the same venv, units
# and kiosk as the Raspberry Pi image, installed onto the running system.
#
#   sudo image-build/jetson/install.sh WHEELHOUSE UPDATE_KEY.pub
#
# WHEELHOUSE: the folder `make -C image-build wheel PYVERS=3.x` made for this
# system's Python (3.11 or newer; JetPack 6 / Ubuntu 22.04 gets python3.11
# from Ubuntu's archive). UPDATE_KEY.pub: the hub's update public key.
# Differences from the Pi image: the root stays writable (no A/B layout), so
# a power cut is covered by SQLite's WAL only; Chromium comes from the distro
# (on Ubuntu a snap, set WERKVLOER_BROWSER if it is elsewhere).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
overlay="$here/layer/rootfs-overlay"
units="$here/systemd"

die() {
    echo "install.sh: $*" >&2
    exit 1
}

[ "$#" -eq 2 ] || die "usage: sudo $0 WHEELHOUSE UPDATE_KEY.pub"
wheelhouse=$1
update_key=$2
[ "$(id -u)" -eq 0 ] || die "run as root (sudo)"
[ "$(uname -m)" = aarch64 ] || die "this is for an arm64 Jetson; uname -m says $(uname -m)"
[ -f /etc/nv_tegra_release ] || [ "${WERKVLOER_NOT_JETSON:-}" = yes ] ||
    die "no /etc/nv_tegra_release: not a JetPack system (set WERKVLOER_NOT_JETSON=yes to install anyway)"
[ -d "$wheelhouse" ] || die "no wheelhouse folder $wheelhouse: run make -C image-build wheel on the hub's laptop"
[ -f "$update_key" ] || die "no update key $update_key: run make -C image-build keys on the hub's laptop"

python=
for candidate in python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1; then
        python=$(command -v "$candidate")
        break
    fi
done

export DEBIAN_FRONTEND=noninteractive
packages="cage fonts-dejavu-core socat systemd-timesyncd python3-systemd"
if [ -z "$python" ]; then
    packages="$packages python3.11 python3.11-venv"
    python=/usr/bin/python3.11
else
    packages="$packages $(basename "$python")-venv"
fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    packages="$packages chromium-browser"
fi
if dpkg-query -W -f='${Status}' chrony 2>/dev/null | grep -q 'install ok installed'; then
    die "chrony is installed; Werkvloer's clock check reads systemd-timesyncd: apt-get purge chrony first"
fi
# shellcheck disable=SC2086  # a list of package names
apt-get install -y --no-install-recommends $packages

browser=${WERKVLOER_BROWSER:-$(command -v chromium || command -v chromium-browser)}
[ -x "$browser" ] || die "no Chromium found; set WERKVLOER_BROWSER=/path/to/chromium"

# Users, groups, folders: the same declarations as the image.
install -D -m 0644 "$overlay/usr/lib/sysusers.d/werkvloer.conf" /usr/lib/sysusers.d/werkvloer.conf
install -D -m 0644 "$overlay/usr/lib/tmpfiles.d/werkvloer.conf" /usr/lib/tmpfiles.d/werkvloer.conf
install -D -m 0755 "$overlay/usr/lib/werkvloer/kiosk" /usr/lib/werkvloer/kiosk
install -D -m 0644 "$update_key" /usr/lib/werkvloer/update-signing.pub
systemd-sysusers werkvloer.conf

# The factory release, installed offline from the wheelhouse.
install -d -m 0755 /opt/werkvloer
rm -rf /opt/werkvloer/venv
"$python" -m venv --system-site-packages /opt/werkvloer/venv
/opt/werkvloer/venv/bin/pip install --no-index --find-links "$wheelhouse" werkvloer
systemd-tmpfiles --create werkvloer.conf

for unit in "$units"/werkvloer-*.service "$units"/werkvloer-*.timer; do
    if [ -e "$unit" ]; then
        install -m 0644 "$unit" /etc/systemd/system/
    fi
done
if [ "$browser" != /usr/bin/chromium ]; then
    install -d -m 0755 /etc/systemd/system/werkvloer-kiosk.service.d
    printf '[Service]\nEnvironment=WERKVLOER_BROWSER=%s\n' "$browser" \
        > /etc/systemd/system/werkvloer-kiosk.service.d/browser.conf
fi
systemctl daemon-reload
systemctl enable systemd-timesyncd.service werkvloer-firstboot.service werkvloer-core.service \
    werkvloer-ui.service werkvloer-kiosk.service
for timer in "$units"/werkvloer-*.timer; do
    if [ -e "$timer" ]; then
        systemctl enable "$(basename "$timer")"
    fi
done
echo "Werkvloer installed. Put werkvloer-provision.toml in /boot/firmware/ (or /boot/) and reboot."
