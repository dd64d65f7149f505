#!/usr/bin/env bash
# Sets up the studio, then starts the dashboard on a local Ray and the local asset store.
# Set USE_S3_STORAGE / RAY_ADDRESS (see README) to use S3 or a Ray cluster instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
# Memory settings for the dashboard's process (why: see the file); values already set win.
while IFS='=' read -r name value; do
    if [[ "$name" =~ ^[A-Z_]+$ ]]; then export "$name=${!name:-$value}"; fi
done < scripts/dashboard-memory.env
port="${STUDIO_PORT:-8501}"
# Safe by default: without sign-in ([auth] in .streamlit/secrets.toml) only this machine can reach it.
# STUDIO_ADDRESS chooses another interface; without sign-in that also needs STUDIO_ALLOW_ANONYMOUS=1.
address="${STUDIO_ADDRESS:-}"
if grep -qs '^\[auth' .streamlit/secrets.toml; then
    address="${address:-0.0.0.0}"
elif [ -z "$address" ] || [ "$address" = 127.0.0.1 ] || [ "$address" = localhost ]; then
    address=127.0.0.1
elif [ "${STUDIO_ALLOW_ANONYMOUS:-}" = 1 ]; then
    echo "WARNING: no sign-in configured and STUDIO_ALLOW_ANONYMOUS=1: anyone who can reach $address:$port" \
         "can generate and delete assets" >&2
else
    echo "Refusing to listen on $address without sign-in: configure [auth] in .streamlit/secrets.toml" \
         "(see README), or set STUDIO_ALLOW_ANONYMOUS=1 to accept anyone who can reach it" >&2
    exit 2
fi
echo "Asset studio: open http://localhost:$port in your browser (Ctrl+C stops it)" >&2
# No file watcher: it is for editing the app live, and it scans every loaded module for each new session.
exec .venv/bin/streamlit run dashboard/app.py --server.address "$address" \
    --server.port "$port" --server.headless true --browser.gatherUsageStats false \
    --server.fileWatcherType none "$@"
