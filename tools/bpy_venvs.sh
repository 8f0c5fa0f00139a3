#!/usr/bin/env bash
# Make the virtual environments that tests/blender runs in besides .venv, one per line of
# tests/blender/bpy_versions.txt ("folder python-version package..."); `make install` runs
# it. A folder whose .installed holds the same line is left as it is.
# The bpy wheels need one exact Python (4.2 to 5.0: 3.11, 5.1 and newer: 3.13). It is
# looked for on PATH and in pyenv's versions, else installed from Debian's packages (as
# root, where the Debian release has it). Without it the folder gets a file UNAVAILABLE
# with the reason, this script still succeeds, and that version's Blender tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."
LIST=tests/blender/bpy_versions.txt

works() { "$1" -c 'import ensurepip, venv' >/dev/null 2>&1; }

find_python() {  # $1: version, e.g. 3.13
    local c
    for c in "python$1" "/usr/bin/python$1" "/usr/local/bin/python$1" \
        "${PYENV_ROOT:-$HOME/.pyenv}/versions/$1"*/bin/"python$1"; do
        if works "$c"; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

debian_candidate() {
    apt-cache policy "python$1-venv" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" {print $2}'
}

python_for() {  # $1: version; prints the interpreter or nothing
    local found
    found=$(find_python "$1" || true)
    if [ -z "$found" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        [ -n "$(debian_candidate "$1")" ] || apt-get update -qq >&2 || true
        if [ -n "$(debian_candidate "$1")" ]; then
            echo "installing Python $1 from Debian's packages" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$1" "python$1-venv" </dev/null >&2
            found=$(find_python "$1" || true)
        fi
    fi
    echo "$found"
}

while read -r -u 3 venv pyver packages; do
    line="$pyver $packages"
    if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$line" ]; then
        continue
    fi
    # A version found unavailable for this same line is not retried on every make.
    if [ -f "$venv/UNAVAILABLE.line" ] && [ "$(cat "$venv/UNAVAILABLE.line")" = "$line" ]; then
        continue
    fi
    rm -rf "$venv"
    unavailable() {  # $1: why; the folder keeps the reason and its tests skip
        mkdir -p "$venv"
        echo "$1" >"$venv/UNAVAILABLE"
        echo "$line" >"$venv/UNAVAILABLE.line"
        echo "$venv: $1: the Blender tests on it will skip"
    }
    python=$(python_for "$pyver")
    if [ -z "$python" ]; then
        unavailable "no Python $pyver here (not on PATH, in pyenv or in this Debian release)"
        continue
    fi
    echo "$venv: Python $pyver ($python), $packages"
    # shellcheck disable=SC2086
    if ! "$python" -m venv "$venv" || ! "$venv/bin/python" -m pip install -q $packages; then
        rm -rf "$venv"
        unavailable "installing $packages with Python $pyver failed"
        continue
    fi
    echo "$line" >"$venv/.installed"
done 3< <(grep -v '^\s*\(#\|$\)' "$LIST")
