#!/usr/bin/env bash
# Create the project's virtual environment (.venv) with uv and install a coherent stack.
#
#   bash uv_verl.sh           # GPU node: verl 0.9.1 + vLLM + flash-attn + verl-core extras, torch as vLLM pins it
#   bash uv_verl.sh --cpu     # CPU machine: CPU torch, verl 0.9.1 + verl-core extras, no vLLM / flash-attn
#
# Versions are pinned in one place: constraints/cpu.txt (CPU) and constraints/gpu.txt (GPU).
# Idempotent: re-running re-checks the pins and re-imports every piece.
# Env: SPPO_VENV (default .venv), SPPO_EXTRAS (extra project extras, e.g. "control").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

MODE=gpu
for arg in "$@"; do
  case "$arg" in
    --cpu) MODE=cpu ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "uv_verl.sh: unknown option '$arg' (allowed: --cpu)" >&2; exit 2 ;;
  esac
done
VENV=${SPPO_VENV:-.venv}
EXTRAS=test${SPPO_EXTRAS:+,$SPPO_EXTRAS}

if ! command -v uv >/dev/null 2>&1; then
  echo "[uv_verl] installing uv"
  python3 -m pip install -q uv
fi
[ -x "$VENV/bin/python" ] || uv venv -q --python python3 "$VENV"
PY="$VENV/bin/python"
UVPIP=(uv pip install --python "$PY")

if [ "$MODE" = cpu ]; then
  CONSTRAINTS=constraints/cpu.txt
  # CPU torch first: a bare `torch` requirement would otherwise pull a multi-GB CUDA build.
  if [ -d /opt/wheels ] && ls /opt/wheels/torch-2.13.0* >/dev/null 2>&1; then
    "${UVPIP[@]}" -q --find-links /opt/wheels -c "$CONSTRAINTS" torch
  else
    "${UVPIP[@]}" -q --index-url https://download.pytorch.org/whl/cpu -c "$CONSTRAINTS" torch
  fi
  "${UVPIP[@]}" -q -c "$CONSTRAINTS" -e ".[$EXTRAS]"
else
  CONSTRAINTS=constraints/gpu.txt
  "${UVPIP[@]}" -q -c "$CONSTRAINTS" "verl[vllm]"
  "${UVPIP[@]}" -q -c "$CONSTRAINTS" --no-build-isolation flash-attn
  "${UVPIP[@]}" -q -c "$CONSTRAINTS" -e ".[$EXTRAS]"
fi

echo "[uv_verl] installed ($MODE) into $VENV:"
"$PY" - "$MODE" <<'PYEOF'
import importlib, sys
mode = sys.argv[1]
mods = ["torch", "verl", "transformers", "ray", "tensordict", "transfer_queue", "math_verify", "hydra", "sppo"]
if mode == "gpu":
    mods += ["vllm", "flash_attn"]
for name in mods:
    mod = importlib.import_module(name)
    print(f"  {name:15s} {getattr(mod, '__version__', 'ok')}")
PYEOF
