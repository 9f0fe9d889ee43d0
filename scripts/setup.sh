#!/usr/bin/env bash
# Idempotent set-up: create .venv and install requirements.txt when missing or changed.
# Every entry script sources this first, so any of them works as the first command on a fresh clone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$root/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtual environment in $venv"
  python3 -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing requirements.txt (first run takes a few minutes)"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  # pip's notes about unused local index folders are noise here; real errors still stop the script.
  "$venv/bin/python" -m pip install -q -r "$root/requirements.txt" 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
