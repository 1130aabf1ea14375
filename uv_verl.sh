#!/usr/bin/env bash
# Create the project's virtual environment (.venv) with uv, install one coherent stack, then check it.
#
#   bash uv_verl.sh            # GPU node: verl 0.9.1 + vLLM + flash-attn + verl-core extras, torch as vLLM pins it
#   bash uv_verl.sh --cpu      # CPU machine (tests, quickstart): CPU torch, verl 0.9.1 + verl-core, no vLLM/flash-attn
#   bash uv_verl.sh --check    # only re-run the checks on an existing venv (add --cpu for a CPU venv)
#
# Versions are pinned in one place, constraints/: cpu.txt (--cpu) and gpu.txt (GPU), plus gpu.lock.txt, the
# full GPU resolution. Every install step passes them with -c, and the final check imports each piece and
# compares its version with the pin.
# Idempotent: an existing venv is reused and uv skips what is already satisfied; re-running re-checks.
# Installs two packages from this checkout, both editable: the plug-in (sppo, with its `test` extra) and the studies
# (lab/: sppo_lab; with --cpu its `control` extra, gymnasium, too).
# Env: SPPO_VENV (default .venv), SPPO_EXTRAS (extras of the studies on a GPU node, e.g. "control"), SPPO_PYTHON (default
# 3.11), MAX_JOBS (parallel jobs if flash-attn must be compiled), SPPO_SKIP_FLASH_ATTN=1 (leave it out),
# SPPO_GPU_LOCK=0 (ignore gpu.lock.txt, e.g. on aarch64 or another Python), SPPO_WHEELS_DIR (--cpu: a folder
# holding a local CPU torch wheel of the pinned version, used before the PyTorch CPU index; default /opt/wheels).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

MODE=gpu
CHECK_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --cpu) MODE=cpu ;;
    --check) CHECK_ONLY=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "uv_verl.sh: unknown option '$arg' (allowed: --cpu, --check)" >&2; exit 2 ;;
  esac
done
VENV=${SPPO_VENV:-.venv}
if [ "$MODE" = cpu ]; then LAB_EXTRAS=control${SPPO_EXTRAS:+,$SPPO_EXTRAS}; else LAB_EXTRAS=${SPPO_EXTRAS:-}; fi
PROJECT=(-e ".[test]" -e "lab${LAB_EXTRAS:+[$LAB_EXTRAS]}")
CONSTRAINTS=constraints/$MODE.txt
PY="$VENV/bin/python"

if [ "$CHECK_ONLY" = 0 ]; then
  if ! command -v uv >/dev/null 2>&1; then
    echo "[uv_verl] installing uv"
    python3 -m pip install -q uv
  fi
  [ -x "$PY" ] || uv venv -q --python "${SPPO_PYTHON:-3.11}" "$VENV"
  UVPIP=(uv pip install --python "$PY" -c "$CONSTRAINTS")
  # GPU: also the full resolution (x86_64, Python 3.11); SPPO_GPU_LOCK=0 for other platforms.
  if [ "$MODE" = gpu ] && [ "${SPPO_GPU_LOCK:-1}" != 0 ]; then UVPIP+=(-c constraints/gpu.lock.txt); fi
  if [ "$MODE" = cpu ]; then
    # CPU torch first: a bare `torch` requirement would otherwise pull a multi-GB CUDA build.
    TORCH_PIN=$(sed -n 's/^torch==//p' "$CONSTRAINTS")
    WHEELS=${SPPO_WHEELS_DIR:-/opt/wheels}
    if [ -d "$WHEELS" ] && ls "$WHEELS"/torch-"$TORCH_PIN"* >/dev/null 2>&1; then
      "${UVPIP[@]}" -q --find-links "$WHEELS" torch
    else
      "${UVPIP[@]}" -q --index-url https://download.pytorch.org/whl/cpu torch
    fi
    "${UVPIP[@]}" -q "${PROJECT[@]}"
  else
    # One resolution for verl + vLLM + the verl-core extras: torch/torchvision/torchaudio/transformers come out
    # at the versions vLLM and verl pin together (see constraints/gpu.txt).
    echo "[uv_verl] resolving verl[vllm,verl-core] (torch as vLLM pins it)"
    "${UVPIP[@]}" "verl[vllm,verl-core]"
    if [ "${SPPO_SKIP_FLASH_ATTN:-0}" = 0 ]; then
      # flash-attn builds against the torch installed above, hence no build isolation. Its setup fetches a
      # prebuilt wheel when one matches; otherwise it compiles (needs nvcc; MAX_JOBS limits the memory used).
      echo "[uv_verl] installing flash-attn (a compile can take a long time where no prebuilt wheel matches)"
      "${UVPIP[@]}" "ninja" "packaging" "setuptools" "wheel" "psutil"
      MAX_JOBS=${MAX_JOBS:-8} "${UVPIP[@]}" --no-build-isolation flash-attn
    fi
    "${UVPIP[@]}" "${PROJECT[@]}"
  fi
  # Bytecode for every installed module (uv does not write it, and with PYTHONDONTWRITEBYTECODE set, as on these
  # machines, Python never caches it): without it each process compiles what it imports, and every Ray worker
  # of a verl run imports verl, torch and transformers (measured: importing verl's trainer 35 s of CPU -> 13 s).
  # Incremental: an up-to-date .pyc is skipped. Exit status ignored: some packages ship unparsable test data.
  echo "[uv_verl] compiling bytecode"
  "$PY" -m compileall -qq -j 0 "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" sppo lab/sppo_lab \
    >/dev/null 2>&1 || true
fi

[ -x "$PY" ] || { echo "uv_verl.sh: no venv at $VENV (run without --check first)" >&2; exit 1; }
echo "[uv_verl] $MODE stack in $VENV (pins: $CONSTRAINTS):"
"$PY" - "$MODE" "$CONSTRAINTS" <<'PYEOF'
"""Import every piece, print its version next to its pin, fail on a missing piece or a version off its pin."""
import importlib
import importlib.metadata as md
import re
import sys

mode, constraints = sys.argv[1], sys.argv[2]
pins = {}
for line in open(constraints):
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
    if m:
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)

# (import name, distribution name, required)
pieces = [("torch", "torch", True), ("verl", "verl", True), ("transformers", "transformers", True),
          ("ray", "ray", True), ("tensordict", "tensordict", True), ("transfer_queue", "TransferQueue", True),
          ("math_verify", "math-verify", True), ("hydra", "hydra-core", True), ("sppo", "sppo", True), ("sppo_lab", "sppo-lab", True),
          ("gymnasium", "gymnasium", False)]
if mode == "gpu":
    pieces += [("vllm", "vllm", True), ("flash_attn", "flash-attn", True)]

bad = []
for module, dist, required in pieces:
    try:
        version = md.version(dist)
    except md.PackageNotFoundError:
        if required:
            bad.append(f"{dist} is not installed")
            print(f"  {module:15s} MISSING")
        continue
    pin = pins.get(dist.lower().replace("_", "-"))
    status = ""
    if pin is not None and version.split("+")[0] != pin.split("+")[0]:
        status = f"  != pin {pin}"
        bad.append(f"{dist} {version} is not the pinned {pin}")
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - report every broken piece, then fail
        status += f"  IMPORT FAILED: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        bad.append(f"import {module} failed")
    print(f"  {module:15s} {version:18s}{'pinned' if pin else 'unpinned'}{status}")

try:
    import torch
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

    if "sppo" not in ADV_ESTIMATOR_REGISTRY:
        bad.append("verl did not load the sppo plugin (entry point verl.plugins)")
    print(f"  verl plugin     sppo estimator {'registered' if 'sppo' in ADV_ESTIMATOR_REGISTRY else 'MISSING'}")
    if mode == "gpu":
        cuda = torch.cuda.is_available()
        print(f"  CUDA            torch built for {torch.version.cuda}; "
              f"{torch.cuda.device_count() if cuda else 'no'} device(s) visible here")
        if not cuda:
            print("  warning: no GPU visible on this machine; the stack is installed but untested on a GPU")
except Exception as exc:  # noqa: BLE001
    bad.append(f"verl/torch check failed: {exc}")

if bad:
    print("[uv_verl] FAILED: " + "; ".join(bad), file=sys.stderr)
    sys.exit(1)
print("[uv_verl] ok")
PYEOF
