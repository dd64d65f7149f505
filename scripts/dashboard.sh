#!/usr/bin/env bash
# Sets up the studio, then starts the dashboard on a local Ray and the local asset store.
# Set USE_S3_STORAGE / RAY_ADDRESS (see README) to use S3 or a Ray cluster instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
# Fewer malloc arenas: Streamlit's script threads otherwise fragment memory preview after preview.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
port="${STUDIO_PORT:-8501}"
echo "Asset studio: open http://localhost:$port in your browser (Ctrl+C stops it)" >&2
exec .venv/bin/streamlit run dashboard/app.py \
    --server.port "$port" --server.headless true --browser.gatherUsageStats false "$@"
