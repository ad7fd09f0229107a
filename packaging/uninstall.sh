#!/bin/sh
# Undo install.sh for the current user: the menu entry, the icons, the file type, the `gradsim`
# command in ~/.local/bin. The unpacked folder itself stays; delete it afterwards if you like.
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
app="$here/gradsim"
res="$here/_internal/gradsim/resources"
mime_type="application/x-gradsim-scenario+json"
sizes="16 24 32 48 64 128 256 512"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
config="${XDG_CONFIG_HOME:-$HOME/.config}"
bin="$HOME/.local/bin"

if command -v xdg-desktop-menu >/dev/null 2>&1 && command -v xdg-icon-resource >/dev/null 2>&1 \
        && command -v xdg-mime >/dev/null 2>&1 && [ -f "$res/gradsim-mime.xml" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp "$res/gradsim-mime.xml" "$work/gradsim-mime.xml"  # xdg-utils splits file names at spaces
    xdg-desktop-menu uninstall --mode user gradsim.desktop || true
    for size in $sizes; do
        xdg-icon-resource uninstall --noupdate --mode user --context apps --size "$size" gradsim || true
    done
    xdg-icon-resource forceupdate --mode user || true
    xdg-mime uninstall --mode user "$work/gradsim-mime.xml" || true
fi
# whatever xdg-utils left (or did not run for), by hand
rm -f "$data/applications/gradsim.desktop" "$data/mime/packages/gradsim-mime.xml"
for size in $sizes; do
    rm -f "$data/icons/hicolor/${size}x${size}/apps/gradsim.png"
done
if command -v update-mime-database >/dev/null 2>&1 && [ -d "$data/mime/packages" ]; then update-mime-database "$data/mime" || true; fi
if command -v update-desktop-database >/dev/null 2>&1 && [ -d "$data/applications" ]; then update-desktop-database "$data/applications" || true; fi

# the default-application line that install.sh added for the file type
if [ -f "$config/mimeapps.list" ]; then
    sed -i "\\|^$mime_type=gradsim.desktop;*\$|d" "$config/mimeapps.list" || true
fi

# the command, only if it is ours
if [ -L "$bin/gradsim" ] && [ "$(readlink "$bin/gradsim")" = "$app" ]; then
    rm -f "$bin/gradsim"
fi

echo "gradsim is no longer registered for $(id -un); this folder ($here) can be deleted."
