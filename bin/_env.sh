# Sourced by bin/modbot and bin/test: makes ./.venv on first use and keeps it in step with pyproject.toml.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MODBOT_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
# The tested versions (bin/lock writes it), installed as pip constraints; MODBOT_LOCK="" installs unpinned.
LOCK="${MODBOT_LOCK-$ROOT/requirements.lock}"
# A portable llama.cpp build (no -march=native, no multimodal library); for an NVIDIA GPU set
# CMAKE_ARGS="-DGGML_CUDA=on" before the first run (see README.md, "GPU").
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF}"

modbot_env() {
  local extras="$1" stamp want constraints=()
  if [ -n "$LOCK" ] && [ -f "$LOCK" ]; then constraints=(-c "$LOCK"); fi
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "modbot needs Python 3.11 or newer")'
    echo "modbot: creating $VENV (first run; building llama.cpp takes a few minutes)" >&2
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  fi
  stamp="$VENV/.modbot-installed"
  want="$(cat "$ROOT/pyproject.toml" ${constraints[1]:+"$LOCK"} | sha256sum | cut -c1-16)-$extras"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "modbot: installing dependencies ($extras; log in $VENV/install.log)" >&2
    if ! "$VENV/bin/python" -m pip install "${constraints[@]}" -e "$ROOT[$extras]" >"$VENV/install.log" 2>&1; then
      tail -n 40 "$VENV/install.log" >&2
      echo "modbot: installing dependencies failed; the whole log is $VENV/install.log" >&2
      [ ${#constraints[@]} -eq 0 ] || echo "modbot: if pyproject.toml changed a pinned version, run bin/lock" >&2
      exit 1
    fi
    echo "$want" > "$stamp"
  fi
}
