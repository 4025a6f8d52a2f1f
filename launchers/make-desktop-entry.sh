#!/usr/bin/env bash
# Linux: make a double-clickable "Self-compassion session" entry for this copy of the project.
# A .desktop file needs absolute paths, so it is written here rather than shipped:
#   launchers/make-desktop-entry.sh      -> the applications menu and the Desktop folder
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENTRY="$HERE/self-compassion-session.desktop"
cat > "$ENTRY" <<DESKTOP
[Desktop Entry]
Type=Application
Version=1.0
Name=Self-compassion session
Comment=Run one session of the self-compassion paradigm
Exec="$HERE/run-session.sh"
Path=$(dirname "$HERE")
Terminal=true
Categories=Science;
DESKTOP
chmod +x "$ENTRY"
mkdir -p "$HOME/.local/share/applications"
cp "$ENTRY" "$HOME/.local/share/applications/"
if [ -d "$HOME/Desktop" ]; then
    cp "$ENTRY" "$HOME/Desktop/"
    command -v gio >/dev/null && gio set "$HOME/Desktop/$(basename "$ENTRY")" metadata::trusted true 2>/dev/null || true
fi
echo "Launcher written: $ENTRY (also in the applications menu$([ -d "$HOME/Desktop" ] && echo " and on the Desktop"))."
