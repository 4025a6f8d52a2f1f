#!/usr/bin/env bash
# Install what the project needs, and nothing twice: Debian packages (as root), the
# virtual environment .venv/ and its pinned packages. Safe to run again.
# Usage: tools/setup.sh [runtime|dev]   (dev adds the test tools; default dev)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHAT="${1:-dev}"
# libxcb-* and libxkbcommon-x11-0: what the Qt session dialog needs to open on X11.
DEB_PACKAGES=(xvfb pulseaudio pulseaudio-utils libportaudio2 socat xdotool python3-venv desktop-file-utils x11-utils
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxkbcommon-x11-0
    libxcb-xinerama0 libxcb-shape0 libxcb-randr0 libxcb-xkb1)
# The tests also run the multi-station allocation ledger against a real PostgreSQL server.
[ "$WHAT" = dev ] && DEB_PACKAGES+=(postgresql)

say() { printf '[setup] %s\n' "$*"; }

install_debian_packages() {
    command -v dpkg-query >/dev/null || { say "not a Debian/Ubuntu system: install ${DEB_PACKAGES[*]} with your package manager"; return 0; }
    local missing=()
    for pkg in "${DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        say "these Debian packages are missing: ${missing[*]}"
        say "install them once with:  sudo apt-get install ${missing[*]}   then run this command again."
        exit 1
    fi
}

find_python() {
    for candidate in python3.12 python3.11 python3.10 python3; do
        if command -v "$candidate" >/dev/null &&
           "$candidate" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] < (3, 13)))'; then
            echo "$candidate"; return 0
        fi
    done
    say "PsychoPy needs Python 3.10, 3.11 or 3.12; none was found. Install one (python.org) and run this again."
    exit 1
}

make_venv() {
    local python requirements stamp want
    if [ ! -x "$ROOT/.venv/bin/python" ]; then
        python="$(find_python)"
        say "creating $ROOT/.venv with $python"
        "$python" -m venv "$ROOT/.venv"
    fi
    requirements="$ROOT/requirements.txt"
    [ "$WHAT" = dev ] && requirements="$ROOT/requirements-dev.txt"
    stamp="$ROOT/.venv/.installed-$WHAT"
    want="$(cat "$ROOT"/requirements*.txt | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    say "installing pinned Python packages (a few minutes the first time)"
    "$ROOT/.venv/bin/python" -m pip install -q --upgrade pip
    "$ROOT/.venv/bin/python" -m pip install -q -r "$requirements"
    echo "$want" > "$stamp"
}

install_debian_packages
make_venv
