#!/usr/bin/env bash
# Create the project's virtual environment (.venv) with uv, install one coherent stack, then check it.
#
#   bash uv_verl.sh            # GPU node: verl 0.9.1 + vLLM + cupy + flash-attn + verl-core extras, torch as vLLM pins it
#   bash uv_verl.sh --cpu      # CPU machine (tests, quickstart): CPU torch, verl 0.9.1 + verl-core, no vLLM/flash-attn
#   bash uv_verl.sh --check    # only re-run the checks on an existing venv (add --cpu for a CPU venv)
#
# Versions are pinned in one place, constraints/: cpu.txt (--cpu) and gpu.txt (GPU), plus gpu.lock.txt, the
# full GPU resolution, and flash-attn.txt, prebuilt flash-attn wheels with their SHA-256. Every install step
# passes the pins with -c, and the final check imports each piece and compares its version with the pin.
# Idempotent: an existing venv is reused and uv skips what is already satisfied; re-running re-checks.
# Installs two packages from this checkout, both editable: the plug-in (sppo, with its `test` extra) and the studies
# (lab/: sppo_lab; with --cpu its `control` extra, gymnasium, too).
# flash-attn (GPU): a verified prebuilt wheel when constraints/flash-attn.txt (or SPPO_FLASH_ATTN_WHEEL) has one
# for this Python/torch/CUDA, else compiled for this node's GPU architecture only, with nvcc checked first and the
# build's progress shown (docs/running.md, "Environment").
# Env: SPPO_VENV (default .venv), SPPO_EXTRAS (extras of the studies on a GPU node, e.g. "control"), SPPO_PYTHON (default
# 3.11), SPPO_GPU_LOCK=0 (ignore gpu.lock.txt, e.g. on aarch64 or another Python), SPPO_WHEELS_DIR (--cpu: a folder
# holding a local CPU torch wheel of the pinned version, used before the PyTorch CPU index; default: the find-links
# folder of this machine's pip configuration, if it sets one),
# SPPO_FLASH_ATTN=auto|wheel|build|skip (default auto; SPPO_SKIP_FLASH_ATTN=1 = skip: the critic cannot load on a GPU
# then), SPPO_FLASH_ATTN_WHEEL=URL|file + SPPO_FLASH_ATTN_SHA256=hex (a prebuilt wheel you verified),
# FLASH_ATTN_CUDA_ARCHS (e.g. "90"; default: the visible GPUs'), MAX_JOBS (parallel compile jobs; default from cores
# and memory), CUDA_HOME (the CUDA toolkit whose nvcc compiles flash-attn), SPPO_MEGATRON=1 (GPU: also the plug-in's
# `megatron` extra for verl's Megatron engine: megatron-core and mbridge, wheels only; Transformer Engine, which verl's
# Megatron layers also need, is source-only on PyPI and is not compiled here: docs/running.md, "Megatron").
set -euo pipefail

log() { echo "[uv_verl] $*"; }
die() {
  echo "uv_verl.sh: $*" >&2
  exit 1
}

# --- uv itself ------------------------------------------------------------------------------------------------------
# Where a user-level uv ends up: pipx and `pip install --user` (~/.local/bin), the official installer (~/.local/bin,
# older ones ~/.cargo/bin), our private venv (UV_HOME_DIR/bin).
UV_HOME_DIR=${SPPO_UV_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/sppo-uv}

find_uv() {
  command -v uv >/dev/null 2>&1 && return 0
  local dir
  for dir in "$HOME/.local/bin" "$HOME/.cargo/bin" "$UV_HOME_DIR/bin"; do
    if [ -x "$dir/uv" ]; then
      export PATH="$dir:$PATH"
      return 0
    fi
  done
  return 1
}

# ensure_uv: uv on PATH, installed at user level if missing. `python3 -m pip install uv` fails on the system Pythons of
# current Debian/Ubuntu (PEP 668: "externally-managed-environment"), so in order: pipx; pip --user (fine where the
# Python is not externally managed); a private venv (PEP 668 allows it; needs python3-venv); the official installer.
ensure_uv() {
  find_uv && return 0
  log "installing uv (user level)"
  if command -v pipx >/dev/null 2>&1 && pipx install uv >/dev/null 2>&1 && find_uv; then return 0; fi
  if python3 -m pip install -q --user uv >/dev/null 2>&1 && find_uv; then return 0; fi
  if python3 -m venv "$UV_HOME_DIR" >/dev/null 2>&1 && "$UV_HOME_DIR/bin/python" -m pip install -q uv >/dev/null 2>&1 \
    && find_uv; then return 0; fi
  local installer=https://astral.sh/uv/install.sh
  if { curl -LsSf "$installer" 2>/dev/null || wget -qO- "$installer" 2>/dev/null; } | sh >/dev/null 2>&1 && find_uv; then
    return 0
  fi
  die "could not install uv (tried pipx, python3 -m pip install --user, a venv in $UV_HOME_DIR, $installer); install it (https://docs.astral.sh/uv/getting-started/installation/) and rerun"
}

# --- pins and the installed torch -----------------------------------------------------------------------------------
pin_of() { # pin_of NAME FILE: the version NAME is pinned to in FILE
  sed -n "s/^$1==\([^[:space:]#;]*\).*/\1/p" "$2" | head -n 1
}

torch_info() { # "<torch version> <CUDA version or empty>" of the venv's torch
  "$PY" -c 'import torch; print(torch.__version__.split("+")[0], torch.version.cuda or "")'
}

python_tag() { # cp311
  "$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")'
}

# --- flash-attn: a verified prebuilt wheel, else an architecture-limited build ----------------------------------------
DEFAULT_CUDA_HOME=/usr/local/cuda # torch.utils.cpp_extension's last resort

find_nvcc() { # the nvcc torch's build would use: CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda
  local c
  for c in "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" "${CUDA_PATH:+$CUDA_PATH/bin/nvcc}" "$(command -v nvcc 2>/dev/null || true)" \
    "$DEFAULT_CUDA_HOME/bin/nvcc"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

nvcc_version() { # nvcc_version NVCC: "13.0"
  "$1" --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1
}

# gpu_archs: FLASH_ATTN_CUDA_ARCHS for the visible GPUs: compute capability 8.x -> 80 (sm_80 code runs on 8.6/8.9),
# 9.0 -> 90, 10.x -> 100, 12.x -> 120 (flash-attn 2.8's setup.py builds these four). Fails below 8.0 or without GPUs.
gpu_archs() {
  local caps cap archs=() a
  caps=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null) || caps=""
  [ -n "$caps" ] || return 1
  for cap in $caps; do
    case "${cap%%.*}" in
      8) a=80 ;;
      9) a=90 ;;
      10) a=100 ;;
      12) a=120 ;;
      *) echo "compute capability $cap" ; return 2 ;;
    esac
    case " ${archs[*]} " in *" $a "*) ;; *) archs+=("$a") ;; esac
  done
  (IFS=';'; echo "${archs[*]}")
}

default_max_jobs() { # parallel nvcc jobs: the cores, at most one per 6 GiB of available memory
  local cores mem_gib
  cores=$(nproc 2>/dev/null || echo 4)
  mem_gib=$(awk '/^MemAvailable:/ {print int($2 / 1048576)}' /proc/meminfo 2>/dev/null || echo 24)
  mem_gib=${mem_gib:-24}
  local by_mem=$((mem_gib / 6))
  [ "$by_mem" -ge 1 ] || by_mem=1
  if [ "$cores" -lt "$by_mem" ]; then echo "$cores"; else echo "$by_mem"; fi
}

# verified_wheel TAG TORCH_MINOR CUDA_MAJOR ARCH: "<sha256> <url>" of a matching wheel in constraints/flash-attn.txt
verified_wheel() {
  awk -v tag="$1" -v torch="$2" -v cuda="$3" -v arch="$4" \
    '$1 == "wheel" && $2 == tag && $3 == torch && $4 == cuda && $5 == arch {print $6, $7; exit}' \
    constraints/flash-attn.txt 2>/dev/null || true
}

sdist_sha256() { # sdist_sha256 REQUIREMENT: the pinned SHA-256 of flash-attn's source package, e.g. flash-attn==2.8.3.post2
  awk -v req="$1" '$1 == "sdist" && $7 == req {print $6; exit}' constraints/flash-attn.txt 2>/dev/null || true
}

sha256_of() { sha256sum "$1" | awk '{print $1}'; }

# install_wheel SOURCE SHA256: download (URL) or take (file) the wheel, verify its SHA-256, install it
install_wheel() {
  local src=$1 want=$2 file
  if [ -f "$src" ]; then
    file=$src
  else
    local cache=${SPPO_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sppo/wheels}
    mkdir -p "$cache"
    file="$cache/$(basename "${src%%\?*}" | sed 's/%2[Bb]/+/g')"
    if [ ! -f "$file" ] || [ -z "$want" ] || [ "$(sha256_of "$file")" != "$want" ]; then
      log "downloading $src"
      curl -fLsS -o "$file.part" "$src" || die "flash-attn: could not download $src"
      mv "$file.part" "$file"
    fi
  fi
  local got
  got=$(sha256_of "$file")
  [ -n "$want" ] || die "flash-attn: $file has no SHA-256 to check it against (its SHA-256 is $got); if that is the file you trust, rerun with SPPO_FLASH_ATTN_SHA256=$got (or add it to constraints/flash-attn.txt)"
  [ "$got" = "$want" ] || die "flash-attn: $file has SHA-256 $got, not the pinned $want; not installed"
  log "flash-attn: $(basename "$file") (SHA-256 verified)"
  uv pip install --python "$PY" --no-deps "$file"
}

# build_flash_attn VERSION: compile flash-attn for this node's GPU architecture(s) only, after checking nvcc
build_flash_attn() {
  local version=$1 tver tcuda nvcc nv archs jobs
  read -r tver tcuda <<<"$(torch_info)"
  [ -n "$tcuda" ] || die "flash-attn: the venv's torch $tver is not a CUDA build; nothing to compile flash-attn against"
  local hint="or give a prebuilt wheel you verified (SPPO_FLASH_ATTN_WHEEL=... SPPO_FLASH_ATTN_SHA256=...), or SPPO_FLASH_ATTN=skip (the critic then cannot load on a GPU)"
  nvcc=$(find_nvcc) || die "flash-attn $version has no verified prebuilt wheel for torch $tver and must be compiled, but no nvcc was found (CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda): install the CUDA ${tcuda%%.*} toolkit and set CUDA_HOME, $hint"
  nv=$(nvcc_version "$nvcc")
  [ "${nv%%.*}" = "${tcuda%%.*}" ] || die "flash-attn $version must be compiled with nvcc ${tcuda%%.*}.x (torch $tver is a CUDA $tcuda build), but $nvcc is ${nv:-of unknown version}: set CUDA_HOME to a CUDA ${tcuda%%.*} toolkit, $hint"
  if [ -n "${FLASH_ATTN_CUDA_ARCHS:-}" ]; then
    archs=$FLASH_ATTN_CUDA_ARCHS
  else
    local rc=0
    archs=$(gpu_archs) || rc=$?
    [ "$rc" != 2 ] || die "flash-attn 2 needs a GPU of compute capability >= 8.0 (Ampere or newer); nvidia-smi reports $archs"
    [ "$rc" = 0 ] || die "flash-attn: no GPU visible to choose the architecture to compile for: set FLASH_ATTN_CUDA_ARCHS (80: A100/A10/L40/RTX 30-40, 90: H100/H200, 100: B200, 120: RTX 50), several joined by ';'"
  fi
  jobs=${MAX_JOBS:-$(default_max_jobs)}
  local sha req="$VENV/flash-attn-requirement.txt"
  sha=$(sdist_sha256 "flash-attn==$version")
  [ -n "$sha" ] || die "flash-attn: constraints/flash-attn.txt pins no SHA-256 for the source of flash-attn==$version"
  echo "flash-attn==$version --hash=sha256:$sha" >"$req"
  "${UVPIP[@]}" -q ninja packaging setuptools wheel psutil einops  # the build's own tools (no build isolation)
  local blog="$VENV/flash-attn-build.log"
  log "compiling flash-attn $version for sm_${archs//;/ + sm_} only, MAX_JOBS=$jobs, nvcc $nv ($nvcc); about a quarter of the four-architecture build's 0.5-2 h per architecture at 16 cores; progress below, full log $blog"
  # uv -v streams the build backend's output; the [n/N] lines are ninja's compile steps
  CUDA_HOME=$(dirname "$(dirname "$nvcc")") FLASH_ATTN_CUDA_ARCHS=$archs MAX_JOBS=$jobs \
    "${UVPIP[@]}" -v --no-build-isolation --no-deps --require-hashes -r "$req" 2>&1 | tee "$blog" \
    | sed -nu 's/.*\(\[[0-9][0-9]*\/[0-9][0-9]*\]\).*/[uv_verl] flash-attn build \1/p' \
    || die "flash-attn $version did not build; the last lines of $blog say why"
}

# install_flash_attn: the flash-attn the critic needs on GPU (verl 0.9.1 loads value models with flash_attention_2)
install_flash_attn() {
  local mode=${SPPO_FLASH_ATTN:-auto}
  [ "${SPPO_SKIP_FLASH_ATTN:-0}" = 0 ] || mode=skip
  case "$mode" in
    auto | wheel | build | skip) ;;
    *) die "SPPO_FLASH_ATTN=$mode (allowed: auto, wheel, build, skip)" ;;
  esac
  if [ "$mode" = skip ]; then
    log "flash-attn: skipped (SPPO_FLASH_ATTN=skip); the critic cannot load on a GPU without it"
    return 0
  fi
  local version tver tcuda entry=""
  version=$(pin_of flash-attn constraints/gpu.txt)
  if "$PY" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("flash_attn") is None)' 2>/dev/null \
    && [ -z "${SPPO_FLASH_ATTN_WHEEL:-}" ] && [ "$mode" != build ]; then
    log "flash-attn: already installed"
    return 0
  fi
  if [ -n "${SPPO_FLASH_ATTN_WHEEL:-}" ]; then
    install_wheel "$SPPO_FLASH_ATTN_WHEEL" "${SPPO_FLASH_ATTN_SHA256:-}"
    return 0
  fi
  read -r tver tcuda <<<"$(torch_info)"
  if [ "$mode" != build ]; then
    entry=$(verified_wheel "$(python_tag)" "$(echo "$tver" | cut -d. -f1,2)" "${tcuda%%.*}" "$(uname -m)")
  fi
  if [ -n "$entry" ]; then
    install_wheel "${entry#* }" "${entry%% *}"
  elif [ "$mode" = wheel ]; then
    die "SPPO_FLASH_ATTN=wheel, but constraints/flash-attn.txt has no verified wheel for $(python_tag), torch $tver, CUDA $tcuda, $(uname -m) (give SPPO_FLASH_ATTN_WHEEL=... SPPO_FLASH_ATTN_SHA256=...)"
  else
    build_flash_attn "$version"
  fi
}

# --- the whole install ----------------------------------------------------------------------------------------------
init() { # init MODE: the settings every step uses
  MODE=$1
  VENV=${SPPO_VENV:-.venv}
  if [ "$MODE" = cpu ]; then LAB_EXTRAS=control${SPPO_EXTRAS:+,$SPPO_EXTRAS}; else LAB_EXTRAS=${SPPO_EXTRAS:-}; fi
  PLUGIN_EXTRAS=test
  if [ "$MODE" = gpu ] && [ "${SPPO_MEGATRON:-0}" = 1 ]; then PLUGIN_EXTRAS=test,megatron; fi
  PROJECT=(-e ".[$PLUGIN_EXTRAS]" -e "lab${LAB_EXTRAS:+[$LAB_EXTRAS]}")
  CONSTRAINTS=constraints/$MODE.txt
  PY="$VENV/bin/python"
  UVPIP=(uv pip install --python "$PY" -c "$CONSTRAINTS")
  # GPU: also the full resolution (x86_64, Python 3.11); SPPO_GPU_LOCK=0 for other platforms.
  if [ "$MODE" = gpu ] && [ "${SPPO_GPU_LOCK:-1}" != 0 ]; then UVPIP+=(-c constraints/gpu.lock.txt); fi
}

install() {
  ensure_uv
  [ -x "$PY" ] || uv venv -q --python "${SPPO_PYTHON:-3.11}" "$VENV"
  if [ "$MODE" = cpu ]; then
    # CPU torch first: a bare `torch` requirement would otherwise pull a multi-GB CUDA build.
    local torch_pin wheels
    torch_pin=$(pin_of torch "$CONSTRAINTS")
    # a machine whose pip is configured with a local wheel folder (find-links) keeps its CPU torch there
    wheels=${SPPO_WHEELS_DIR:-$(python3 -m pip config get global.find-links 2>/dev/null || true)}
    if [ -n "$wheels" ] && [ -d "$wheels" ] && ls "$wheels"/torch-"$torch_pin"* >/dev/null 2>&1; then
      "${UVPIP[@]}" -q --find-links "$wheels" torch
    else
      "${UVPIP[@]}" -q --index-url https://download.pytorch.org/whl/cpu torch
    fi
    "${UVPIP[@]}" -q "${PROJECT[@]}"
  else
    # One resolution for verl + vLLM + the verl-core extras + cupy (verl's NCCL weight sync, separate_async):
    # torch/torchvision/torchaudio/transformers come out at the versions vLLM and verl pin together (constraints/gpu.txt).
    log "resolving verl[vllm,verl-core,cupy-cu130] (torch as vLLM pins it)"
    "${UVPIP[@]}" "verl[vllm,verl-core,cupy-cu130]"
    "${UVPIP[@]}" "${PROJECT[@]}"
    # last: whatever happens to flash-attn, the rest of the stack is installed
    install_flash_attn
  fi
  # Bytecode for every installed module (uv does not write it, and with PYTHONDONTWRITEBYTECODE set, as on these
  # machines, Python never caches it): without it each process compiles what it imports, and every Ray worker
  # of a verl run imports verl, torch and transformers (measured: importing verl's trainer 35 s of CPU -> 13 s).
  # Incremental: an up-to-date .pyc is skipped. Exit status ignored: some packages ship unparsable test data.
  log "compiling bytecode"
  "$PY" -m compileall -qq -j 0 "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" sppo lab/sppo_lab \
    >/dev/null 2>&1 || true
}

check() {
  [ -x "$PY" ] || { echo "uv_verl.sh: no venv at $VENV (run without --check first)" >&2; exit 1; }
  echo "[uv_verl] $MODE stack in $VENV (pins: $CONSTRAINTS):"
  local fa_required=1
  if [ "${SPPO_FLASH_ATTN:-auto}" = skip ] || [ "${SPPO_SKIP_FLASH_ATTN:-0}" != 0 ]; then fa_required=0; fi
  FLASH_ATTN_REQUIRED=$fa_required MEGATRON_REQUIRED=${SPPO_MEGATRON:-0} "$PY" - "$MODE" "$CONSTRAINTS" <<'PYEOF'
"""Import every piece, print its version next to its pin, fail on a missing piece or a version off its pin; on a GPU
node, fail in one line when nvidia-smi lists GPUs that torch cannot use (a driver too old for torch's CUDA)."""
import importlib
import importlib.metadata as md
import os
import re
import sys

mode, constraints = sys.argv[1], sys.argv[2]
pins = {}
for line in open(constraints):
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s#;]+)", line)
    if m:
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)


def release(version):
    """(2, 8, 3) of 2.8.3, 2.8.3.post2 and 2.8.3+cu130torch2.11: a prebuilt flash-attn wheel's version may differ from the
    source pin in its post-release and local parts only."""
    return tuple(int(x) for x in re.findall(r"\d+", version.split("+")[0].split(".post")[0])[:3])


# (import name, distribution name, required)
pieces = [("torch", "torch", True), ("verl", "verl", True), ("transformers", "transformers", True),
          ("ray", "ray", True), ("tensordict", "tensordict", True), ("transfer_queue", "TransferQueue", True),
          ("math_verify", "math-verify", True), ("hydra", "hydra-core", True), ("sppo", "sppo", True), ("sppo_lab", "sppo-lab", True),
          ("gymnasium", "gymnasium", False)]
if mode == "gpu":
    pieces += [("vllm", "vllm", True), ("cupy", "cupy-cuda13x", True),
               ("flash_attn", "flash-attn", os.environ.get("FLASH_ATTN_REQUIRED") == "1")]
    # verl's Megatron engine (SPPO_MEGATRON=1); Transformer Engine is reported, never required (not installed here)
    megatron = os.environ.get("MEGATRON_REQUIRED") == "1"
    pieces += [("megatron.core", "megatron-core", megatron), ("mbridge", "mbridge", megatron),
               ("transformer_engine", "transformer-engine", False)]

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
    off = version.split("+")[0] != pin.split("+")[0] if pin else False
    if dist == "flash-attn" and pin:
        off = release(version) != release(pin)
    if off:
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
            from pathlib import Path

            from sppo_lab.gpu_check.cuda_driver import nvidia_smi_gpus, required_driver, unusable_gpus_line

            unusable = unusable_gpus_line(nvidia_smi_gpus(), torch.__version__, torch.version.cuda,
                                          required_driver(Path(constraints)))
            if unusable:
                bad.append(unusable)
            else:
                print("  warning: no GPU visible on this machine; the stack is installed but untested on a GPU")
except Exception as exc:  # noqa: BLE001
    bad.append(f"verl/torch check failed: {exc}")

if bad:
    print("[uv_verl] FAILED: " + "; ".join(bad), file=sys.stderr)
    sys.exit(1)
print("[uv_verl] ok")
PYEOF
}

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")"
  local mode=gpu check_only=0 arg
  for arg in "$@"; do
    case "$arg" in
      --cpu) mode=cpu ;;
      --check) check_only=1 ;;
      -h | --help)
        sed -n '2,26p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
      *)
        echo "uv_verl.sh: unknown option '$arg' (allowed: --cpu, --check)" >&2
        exit 2
        ;;
    esac
  done
  init "$mode"
  [ "$check_only" = 1 ] || install
  check
}

# Run when executed; only define the functions when sourced (tests/scripts/test_uv_verl.py).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
