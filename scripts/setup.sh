#!/usr/bin/env bash
# Sets up everything the studio needs, idempotently: a Python virtual environment with the
# pinned requirements, and (for `test`) the test-only tools: Debian's Chromium and the npm
# glTF validator. Usage: scripts/setup.sh [run|test]
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-run}"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

find_python() {
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    return 1
}

apt_updated=""
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "cannot install $*: no apt-get here; install them by hand"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    if [ -z "$apt_updated" ]; then
        $sudo apt-get update -qq >&2
        apt_updated=1
    fi
    log "installing Debian packages: $*"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

# --- Python environment -------------------------------------------------------------
python_bin="$(find_python)" || die "Python 3.11 or newer is needed; install python3.11 and rerun"
if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $python_bin"
    "$python_bin" -m venv .venv || { apt_install python3-venv; "$python_bin" -m venv .venv; }
fi

requirements=requirements.txt
[ "$purpose" = test ] && requirements=requirements-test.txt
# Reinstall only when the requirement files change: reruns start in a second.
wanted="$(cat requirements.txt "$requirements" pyproject.toml | sha256sum | cut -d' ' -f1)"
stamp=".venv/.installed-$purpose"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    log "installing Python packages from $requirements (first run takes a few minutes)"
    .venv/bin/python -m pip install -q --upgrade pip >&2
    .venv/bin/python -m pip install -q -r "$requirements" >&2
    # The project's own metadata: its generators (inflate, shap-e) are found through the same
    # entry-point group as any plugin package's
    .venv/bin/python -m pip install -q --no-deps -e . >&2
    echo "$wanted" > "$stamp"
fi

# --- System libraries ---------------------------------------------------------------
# VTK's rendering module (loaded to build the preview scene; nothing renders on the server, the
# browser draws the exported vtk.js scene) links against GL: Mesa provides it on CPU-only hosts.
if ! ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1'; then
    apt_install libegl1 libegl-mesa0 libgl1-mesa-dri libglx-mesa0
fi

[ "$purpose" = test ] || exit 0

# --- Test-only tools ----------------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
    apt_install chromium fonts-dejavu-core fonts-noto-color-emoji
fi
if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
if [ -f tests/js/package-lock.json ]; then
    lock_hash="$(sha256sum tests/js/package-lock.json | cut -d' ' -f1)"
    if [ "$(cat tests/js/node_modules/.installed 2>/dev/null)" != "$lock_hash" ]; then
        log "installing the glTF validator (npm ci in tests/js)"
        (cd tests/js && npm ci --no-audit --no-fund --loglevel=error >&2)
        echo "$lock_hash" > tests/js/node_modules/.installed
    fi
fi

# Under CI a missing tool is an error, never a silent skip.
[ -x /usr/bin/chromium ] || die "Chromium is missing at /usr/bin/chromium (apt-get install chromium)"
if [ -f tests/js/package-lock.json ]; then
    [ -d tests/js/node_modules/gltf-validator ] || die "npm gltf-validator is missing (cd tests/js && npm ci)"
fi
