#!/bin/sh
# Register this unpacked gradsim folder for the current user: a menu entry (Education), the icons,
# the *.gradsim.json file type opened by gradsim, and a `gradsim` command in ~/.local/bin.
# Nothing outside your home folder is touched and no administrator rights are needed; run
# ./uninstall.sh from this folder to undo it. Moving the folder afterwards breaks the menu entry:
# run ./install.sh again from the new place.
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
app="$here/gradsim"
res="$here/_internal/gradsim/resources"
mime_type="application/x-gradsim-scenario+json"
sizes="16 24 32 48 64 128 256 512"

fail() { echo "install.sh: $*" >&2; exit 1; }

[ -x "$app" ] || fail "$app is missing: run install.sh from the unpacked gradsim folder"
[ -f "$res/gradsim.desktop" ] || fail "$res is incomplete: unpack the archive again"
case "$here" in
    *[\"\`\$\\%]*) fail "the folder's path ($here) holds a character a menu entry cannot use (\" \` \$ \\ %); move the folder and run install.sh again" ;;
esac

data="${XDG_DATA_HOME:-$HOME/.local/share}"
bin="$HOME/.local/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The menu entry runs this folder's app by its absolute path (a menu does not search PATH reliably).
quoted=$(printf '%s' "$app" | sed 's/[&|]/\\&/g')
sed -e "s|^Exec=.*|Exec=\"$quoted\" %f|" -e "s|^TryExec=.*|TryExec=$quoted|" \
    "$res/gradsim.desktop" > "$work/gradsim.desktop"

# xdg-utils splits file names at spaces: hand it copies from the temporary folder.
cp "$res/gradsim-mime.xml" "$work/gradsim-mime.xml"

copy_files() {
    # What xdg-utils does in --mode user, by hand: for systems without it, or where it did not work.
    mkdir -p "$data/applications" "$data/mime/packages"
    cp "$work/gradsim.desktop" "$data/applications/gradsim.desktop"
    cp "$work/gradsim-mime.xml" "$data/mime/packages/gradsim-mime.xml"
    for size in $sizes; do
        mkdir -p "$data/icons/hicolor/${size}x${size}/apps"
        cp "$res/icons/gradsim-$size.png" "$data/icons/hicolor/${size}x${size}/apps/gradsim.png"
    done
    if command -v update-mime-database >/dev/null 2>&1; then update-mime-database "$data/mime" || true; fi
    if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database "$data/applications" || true; fi
}

if command -v xdg-desktop-menu >/dev/null 2>&1 && command -v xdg-icon-resource >/dev/null 2>&1 \
        && command -v xdg-mime >/dev/null 2>&1; then
    xdg-mime install --mode user "$work/gradsim-mime.xml"
    for size in $sizes; do
        # --novendor: the icon is named plainly "gradsim", without a "vendor-" prefix
        xdg-icon-resource install --noupdate --novendor --mode user --context apps --size "$size" \
            "$res/icons/gradsim-$size.png" gradsim
    done
    xdg-icon-resource forceupdate --mode user
    xdg-desktop-menu install --novendor --mode user "$work/gradsim.desktop"
    xdg-mime default gradsim.desktop "$mime_type"
    # some versions report success without copying (a home folder with spaces): check, and copy if so
    if [ ! -f "$data/applications/gradsim.desktop" ] || [ ! -f "$data/mime/packages/gradsim-mime.xml" ]; then
        copy_files
    fi
else
    echo "install.sh: xdg-utils not found; copying the files into $data directly"
    copy_files
fi

mkdir -p "$bin"
ln -sfn "$app" "$bin/gradsim"

echo "gradsim is installed for $(id -un): look for it in the applications menu (Education),"
echo "double-click a *.gradsim.json file, or run: $bin/gradsim"
case ":${PATH:-}:" in
    *":$bin:"*) ;;
    *) echo "($bin is not on your PATH yet: log out and in again, or type the full path above)" ;;
esac
