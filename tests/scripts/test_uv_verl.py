"""uv_verl.sh's logic on CPU, with fake tools on PATH: uv on PEP 668 systems, flash-attn (verified wheel or an
architecture-limited build with its nvcc check and visible progress), the final check's driver line, and
run_scripts/test.sh's use of its ``find_uv`` (a uv installed at user level, off PATH, reaches the suite).

The script is sourced (`source uv_verl.sh` only defines its functions) in a temporary folder holding a copy of
constraints/; fake `uv`, `nvcc`, `nvidia-smi`, `python3`, `pipx`, `curl` and the venv's `python` record what they
were asked. Nothing here installs anything or touches the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "uv_verl.sh"
SDIST_SHA = "d0f9f0b08a986cdeadbffcf5ec8b3a8f514366c68ad1853d3ab061bc83cc340b"  # flash_attn-2.8.3.post2.tar.gz (PyPI)
BASE_PATH = "/usr/bin:/bin"

pytestmark = pytest.mark.timeout(300)


def tool(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture
def box(tmp_path):
    """A work folder with constraints/, a fake venv python and fake uv / nvcc / nvidia-smi; ``run(code, **env)``."""
    for tool_name in ("uv", "pipx", "nvcc", "nvidia-smi"):
        if shutil.which(tool_name, path=BASE_PATH):
            pytest.skip(f"{tool_name} is in {BASE_PATH}: the fakes could not stand in for it")
    work = tmp_path / "work"
    shutil.copytree(REPO / "constraints", work / "constraints")
    calls = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    # the venv's python answers the three questions uv_verl.sh asks it
    tool(
        work / "venv" / "bin" / "python",
        'case "$*" in\n'
        '  *torch.version.cuda*) echo "$FAKE_TORCH" ;;\n'
        "  *sys.version_info*) echo cp311 ;;\n"
        '  *find_spec*) exit "${FAKE_FA_MISSING:-1}" ;;\n'
        "esac\n",
    )
    tool(
        bin_dir / "uv",
        'echo "uv $* | CUDA_HOME=${CUDA_HOME:-} ARCHS=${FLASH_ATTN_CUDA_ARCHS:-} JOBS=${MAX_JOBS:-}" >> "$CALLS"\n'
        # the build (-v) streams ninja's steps; FAKE_UV_RC makes it fail
        'case " $* " in *" -v "*) for i in 1 2 3; do echo "DEBUG [flash-attn] [$i/3] nvcc flash_fwd_$i.cu" >&2; done\n'
        '  exit "${FAKE_UV_RC:-0}" ;;\nesac\n',
    )
    tool(bin_dir / "nvcc", 'echo "Cuda compilation tools, release ${FAKE_NVCC:-13.0}, V13.0.88"\n')
    tool(bin_dir / "nvidia-smi", 'printf "%b" "${FAKE_CAPS:-9.0\\n9.0\\n}"\n')

    def run(code: str, **env: str) -> subprocess.CompletedProcess:
        full = {
            "HOME": str(tmp_path / "home"),
            "PATH": f"{bin_dir}:{BASE_PATH}",
            "CALLS": str(calls),
            "SPPO_VENV": str(work / "venv"),
            "FAKE_TORCH": "2.11.0 13.0",
            "MAX_JOBS": "7",
            **env,
        }
        # this machine's own CUDA toolkit (/usr/local/cuda) must not stand in for the fake nvcc
        script = f"source {SCRIPT}; DEFAULT_CUDA_HOME={tmp_path / 'no-cuda'}; init gpu; {code}"
        return subprocess.run(["bash", "-c", script], cwd=work, env=full,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    def uv_calls() -> list[str]:
        return calls.read_text().splitlines() if calls.exists() else []

    return type("Box", (), {"run": staticmethod(run), "calls": staticmethod(uv_calls), "work": work, "bin": bin_dir})


# --- flash-attn: an architecture-limited build -------------------------------------------------------------------


def test_build_compiles_for_the_visible_architecture_with_the_pinned_source_hash(box):
    proc = box.run("install_flash_attn")
    assert proc.returncode == 0, proc.stderr
    venv = box.work / "venv"
    requirement = venv / "flash-attn-requirement.txt"
    assert requirement.read_text() == f"flash-attn==2.8.3.post2 --hash=sha256:{SDIST_SHA}\n"
    tools, build = box.calls()
    assert tools.startswith(
        f"uv pip install --python {venv}/bin/python -c constraints/gpu.txt -c constraints/gpu.lock.txt"
    )
    assert tools.split(" | ")[0].endswith("-q ninja packaging setuptools wheel psutil einops")
    assert build == (
        f"uv pip install --python {venv}/bin/python -c constraints/gpu.txt -c constraints/gpu.lock.txt -v "
        f"--no-build-isolation --no-deps --require-hashes -r {requirement} | CUDA_HOME={box.bin.parent} ARCHS=90 JOBS=7"
    )
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        "[uv_verl] compiling flash-attn 2.8.3.post2 for sm_90 only, MAX_JOBS=7, nvcc 13.0 "
        f"({box.bin}/nvcc); about a quarter of the four-architecture build's 0.5-2 h per architecture at 16 cores; "
        f"progress below, full log {venv}/flash-attn-build.log"
    )
    assert lines[1:] == [f"[uv_verl] flash-attn build [{i}/3]" for i in (1, 2, 3)]  # ninja's steps, as they come
    assert "DEBUG [flash-attn] [3/3] nvcc flash_fwd_3.cu" in (venv / "flash-attn-build.log").read_text()


@pytest.mark.parametrize(
    ("caps", "archs"),
    [("8.6\\n9.0\\n", "80;90"), ("8.0\\n8.9\\n", "80"), ("10.0\\n", "100"), ("12.0\\n12.0\\n", "120")],
)
def test_architectures_follow_the_gpus_compute_capability(box, caps, archs):
    proc = box.run("install_flash_attn", FAKE_CAPS=caps)
    assert proc.returncode == 0, proc.stderr
    assert box.calls()[-1].endswith(f"ARCHS={archs} JOBS=7")


def test_flash_attn_cuda_archs_wins_and_no_gpu_needs_it(box):
    os.unlink(box.bin / "nvidia-smi")
    proc = box.run("install_flash_attn")
    assert proc.returncode == 1 and proc.stderr.strip() == (
        "uv_verl.sh: flash-attn: no GPU visible to choose the architecture to compile for: set FLASH_ATTN_CUDA_ARCHS "
        "(80: A100/A10/L40/RTX 30-40, 90: H100/H200, 100: B200, 120: RTX 50), several joined by ';'"
    )
    proc = box.run("install_flash_attn", FLASH_ATTN_CUDA_ARCHS="80;90")
    assert proc.returncode == 0 and "for sm_80 + sm_90 only" in proc.stdout
    assert box.calls()[-1].endswith("ARCHS=80;90 JOBS=7")


def test_a_gpu_older_than_ampere_is_refused(box):
    proc = box.run("install_flash_attn", FAKE_CAPS="7.5\\n")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "uv_verl.sh: flash-attn 2 needs a GPU of compute capability >= 8.0 (Ampere or newer); nvidia-smi reports "
        "compute capability 7.5"
    )


HINT = (
    "or give a prebuilt wheel you verified (SPPO_FLASH_ATTN_WHEEL=... SPPO_FLASH_ATTN_SHA256=...), or "
    "SPPO_FLASH_ATTN=skip (the critic then cannot load on a GPU)"
)


def test_nvcc_of_another_cuda_major_is_refused_before_compiling(box):
    proc = box.run("install_flash_attn", FAKE_NVCC="12.4")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"uv_verl.sh: flash-attn 2.8.3.post2 must be compiled with nvcc 13.x (torch 2.11.0 is a CUDA 13.0 build), but "
        f"{box.bin}/nvcc is 12.4: set CUDA_HOME to a CUDA 13 toolkit, {HINT}"
    )
    assert box.calls() == []  # nothing installed, nothing compiled


def test_no_nvcc_is_refused_in_one_line(box):
    os.unlink(box.bin / "nvcc")
    proc = box.run("install_flash_attn")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "uv_verl.sh: flash-attn 2.8.3.post2 has no verified prebuilt wheel for torch 2.11.0 and must be compiled, but "
        "no nvcc was found (CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda): install the CUDA 13 toolkit and set "
        f"CUDA_HOME, {HINT}"
    )


def test_cuda_home_nvcc_comes_first(box, tmp_path):
    tool(tmp_path / "cuda13" / "bin" / "nvcc", 'echo "Cuda compilation tools, release 13.1, V13.1.1"\n')
    proc = box.run("install_flash_attn", CUDA_HOME=str(tmp_path / "cuda13"), FAKE_NVCC="12.4")
    assert proc.returncode == 0, proc.stderr
    assert f"CUDA_HOME={tmp_path / 'cuda13'} ARCHS=90" in box.calls()[-1]


def test_a_failed_build_stops_with_the_log_to_read(box):
    proc = box.run("install_flash_attn", FAKE_UV_RC="1")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"uv_verl.sh: flash-attn 2.8.3.post2 did not build; the last lines of {box.work}/venv/flash-attn-build.log say why"
    )


# --- flash-attn: a verified prebuilt wheel -----------------------------------------------------------------------


def wheel(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "flash_attn-2.8.3+cu130torch2.11-cp311-cp311-linux_x86_64.whl"
    path.write_bytes(b"not really a wheel")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_wheel_listed_with_its_hash_is_installed_instead_of_compiling(box, tmp_path):
    path, sha = wheel(tmp_path)
    with open(box.work / "constraints" / "flash-attn.txt", "a") as f:
        f.write(f"wheel    cp311   2.11   13    x86_64  {sha}  {path}\n")
    if os.uname().machine != "x86_64":
        pytest.skip("the listed wheel is for x86_64")
    proc = box.run("install_flash_attn")
    assert proc.returncode == 0, proc.stderr
    assert f"[uv_verl] flash-attn: {path.name} (SHA-256 verified)" in proc.stdout.splitlines()
    assert box.calls() == [
        f"uv pip install --python {box.work}/venv/bin/python --no-deps {path} | CUDA_HOME= ARCHS= JOBS=7"
    ]
    # another torch minor: no listed wheel, so it compiles
    proc = box.run("install_flash_attn", FAKE_TORCH="2.12.0 13.0")
    assert proc.returncode == 0 and "compiling flash-attn" in proc.stdout
    # SPPO_FLASH_ATTN=build compiles even where a wheel is listed
    proc = box.run("install_flash_attn", SPPO_FLASH_ATTN="build")
    assert proc.returncode == 0 and "compiling flash-attn" in proc.stdout


def test_a_wheel_given_by_the_user_is_checked_against_its_hash(box, tmp_path):
    path, sha = wheel(tmp_path)
    proc = box.run("install_flash_attn", SPPO_FLASH_ATTN_WHEEL=str(path), SPPO_FLASH_ATTN_SHA256=sha)
    assert proc.returncode == 0, proc.stderr
    assert box.calls()[-1].startswith(f"uv pip install --python {box.work}/venv/bin/python --no-deps {path}")
    proc = box.run("install_flash_attn", SPPO_FLASH_ATTN_WHEEL=str(path), SPPO_FLASH_ATTN_SHA256="0" * 64)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == f"uv_verl.sh: flash-attn: {path} has SHA-256 {sha}, not the pinned {'0' * 64}; not installed"
    )
    proc = box.run("install_flash_attn", SPPO_FLASH_ATTN_WHEEL=str(path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"uv_verl.sh: flash-attn: {path} has no SHA-256 to check it against (its SHA-256 is {sha}); if that is the file "
        f"you trust, rerun with SPPO_FLASH_ATTN_SHA256={sha} (or add it to constraints/flash-attn.txt)"
    )
    assert len(box.calls()) == 1  # only the verified install ran


def test_wheel_mode_without_a_listed_wheel_fails(box):
    proc = box.run("install_flash_attn", SPPO_FLASH_ATTN="wheel")
    assert proc.returncode == 1 and proc.stderr.startswith(
        "uv_verl.sh: SPPO_FLASH_ATTN=wheel, but constraints/flash-attn.txt has no verified wheel for cp311, torch 2.11.0"
    )


def test_skip_installed_and_bad_modes(box):
    proc = box.run("install_flash_attn", SPPO_FLASH_ATTN="skip")
    assert proc.returncode == 0 and box.calls() == []
    assert (
        proc.stdout.strip()
        == "[uv_verl] flash-attn: skipped (SPPO_FLASH_ATTN=skip); the critic cannot load on a GPU without it"
    )
    assert box.run("install_flash_attn", SPPO_SKIP_FLASH_ATTN="1").returncode == 0 and box.calls() == []
    proc = box.run("install_flash_attn", FAKE_FA_MISSING="0")  # find_spec finds it
    assert proc.stdout.strip() == "[uv_verl] flash-attn: already installed" and box.calls() == []
    proc = box.run("install_flash_attn", SPPO_FLASH_ATTN="fast")
    assert (
        proc.returncode == 1
        and proc.stderr.strip() == "uv_verl.sh: SPPO_FLASH_ATTN=fast (allowed: auto, wheel, build, skip)"
    )


def test_a_cpu_torch_has_nothing_to_compile_against(box):
    proc = box.run("install_flash_attn", FAKE_TORCH="2.13.0 ")
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "uv_verl.sh: flash-attn: the venv's torch 2.13.0 is not a CUDA build; nothing to compile flash-attn against"
    )


def test_default_max_jobs_is_bounded_by_cores_and_memory(box):
    def expected() -> int:
        mem_kib = int(next(line for line in open("/proc/meminfo") if line.startswith("MemAvailable:")).split()[1])
        return min(len(os.sched_getaffinity(0)), max(1, mem_kib // 1048576 // 6))

    before = expected()
    proc = box.run("default_max_jobs")
    assert int(proc.stdout) in {before, expected()}  # available memory may move between the two readings


# --- uv on PEP 668 systems -------------------------------------------------------------------------------------------

PEP668 = "error: externally-managed-environment"


def pythons(bin_dir: Path, pip_user_ok: bool, venv_ok: bool) -> None:
    """A fake system python3: ``-m pip install --user uv`` (refused as PEP 668 does unless pip_user_ok) and
    ``-m venv DIR`` (a venv whose pip installs a fake uv into DIR/bin, if venv_ok)."""
    venv_python = tool(
        bin_dir.parent / "venv-python", 'echo "venv-python $*" >> "$CALLS"; cp "$FAKE_UV" "$(dirname "$0")/uv"\n'
    )
    pip_user = (
        'mkdir -p "$HOME/.local/bin"; cp "$FAKE_UV" "$HOME/.local/bin/uv"'
        if pip_user_ok
        else f"echo {PEP668!r} >&2; exit 1"
    )
    venv = f'mkdir -p "$3/bin"; cp {venv_python} "$3/bin/python"' if venv_ok else "exit 1"
    tool(
        bin_dir / "python3",
        'echo "python3 $*" >> "$CALLS"\n'
        'case "$*" in\n'
        f'  "-m pip install -q --user uv") {pip_user} ;;\n'
        f'  "-m venv "*) {venv} ;;\n'
        "esac\n",
    )


@pytest.fixture
def uvbox(tmp_path):
    if shutil.which("uv", path=BASE_PATH) or shutil.which("pipx", path=BASE_PATH):
        pytest.skip(f"uv or pipx is in {BASE_PATH}")
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.log"
    fake_uv = tool(tmp_path / "uv-binary", 'echo "uv $*"\n')
    tool(bin_dir / "curl", 'echo "curl $*" >> "$CALLS"; exit 7\n')  # no network: the installer cannot be fetched
    tool(bin_dir / "wget", 'echo "wget $*" >> "$CALLS"; exit 4\n')

    def run(**env: str) -> subprocess.CompletedProcess:
        full = {"HOME": str(tmp_path / "home"), "PATH": f"{bin_dir}:{BASE_PATH}", "CALLS": str(calls),
                "FAKE_UV": str(fake_uv), **env}  # fmt: skip
        return subprocess.run(["bash", "-c", f'source {SCRIPT}; ensure_uv; echo "uv=$(command -v uv)"'], env=full,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    return type("UvBox", (), {"run": staticmethod(run), "bin": bin_dir, "home": tmp_path / "home",
                              "calls": staticmethod(lambda: calls.read_text().splitlines() if calls.exists() else [])})  # fmt: skip


def test_uv_on_path_is_used_as_it_is(uvbox):
    tool(uvbox.bin / "uv", "true\n")
    pythons(uvbox.bin, pip_user_ok=True, venv_ok=True)
    proc = uvbox.run()
    assert proc.stdout.splitlines() == [f"uv={uvbox.bin}/uv"] and uvbox.calls() == []


def test_pep_668_python_gets_uv_through_a_private_venv(uvbox):
    pythons(uvbox.bin, pip_user_ok=False, venv_ok=True)
    proc = uvbox.run()
    assert proc.returncode == 0, proc.stderr
    venv = uvbox.home / ".local" / "share" / "sppo-uv"
    assert proc.stdout.splitlines() == ["[uv_verl] installing uv (user level)", f"uv={venv}/bin/uv"]
    assert uvbox.calls() == [
        "python3 -m pip install -q --user uv",
        f"python3 -m venv {venv}",
        "venv-python -m pip install -q uv",
    ]
    # a second run finds that uv without installing anything
    assert uvbox.run().stdout.splitlines() == [f"uv={venv}/bin/uv"] and len(uvbox.calls()) == 3


def test_pip_user_works_where_python_is_not_externally_managed(uvbox):
    pythons(uvbox.bin, pip_user_ok=True, venv_ok=True)
    proc = uvbox.run()
    assert proc.stdout.splitlines()[-1] == f"uv={uvbox.home}/.local/bin/uv"
    assert uvbox.calls() == ["python3 -m pip install -q --user uv"]


def test_pipx_comes_first(uvbox):
    tool(
        uvbox.bin / "pipx",
        'echo "pipx $*" >> "$CALLS"; mkdir -p "$HOME/.local/bin"; cp "$FAKE_UV" "$HOME/.local/bin/uv"\n',
    )
    pythons(uvbox.bin, pip_user_ok=True, venv_ok=True)
    proc = uvbox.run()
    assert proc.stdout.splitlines()[-1] == f"uv={uvbox.home}/.local/bin/uv" and uvbox.calls() == ["pipx install uv"]


def test_no_way_to_install_uv_is_one_line(uvbox):
    pythons(uvbox.bin, pip_user_ok=False, venv_ok=False)
    proc = uvbox.run()
    venv = uvbox.home / ".local" / "share" / "sppo-uv"
    assert proc.returncode == 1 and proc.stdout.splitlines() == ["[uv_verl] installing uv (user level)"]
    assert proc.stderr.strip() == (
        f"uv_verl.sh: could not install uv (tried pipx, python3 -m pip install --user, a venv in {venv}, "
        "https://astral.sh/uv/install.sh); install it (https://docs.astral.sh/uv/getting-started/installation/) and rerun"
    )
    assert uvbox.calls()[-2:] == [
        "curl -LsSf https://astral.sh/uv/install.sh",
        "wget -qO- https://astral.sh/uv/install.sh",
    ]


# --- the final check on a GPU node whose driver torch cannot use --------------------------------------------------


def test_suite_gets_a_user_level_uv_the_path_lacks(tmp_path):
    """A fresh machine: uv_verl.sh put uv in ~/.local/bin, which PATH lacks; the wheel test
    (tests/layout/test_packages.py) builds with it, so test.sh puts it on PATH before pytest."""
    uv = shutil.which("uv", path=BASE_PATH) or str(tool(tmp_path / "home" / ".local" / "bin" / "uv", 'echo "uv $*"\n'))
    probe = tmp_path / "probe" / "test_probe.py"
    probe.parent.mkdir()
    probe.write_text(f"import shutil\n\ndef test_uv():\n    assert shutil.which('uv') == {uv!r}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "XDG_DATA_HOME", "SPPO_UV_HOME")}
    env.update(HOME=str(tmp_path / "home"), PATH=BASE_PATH)
    done = subprocess.run(["bash", str(REPO / "run_scripts" / "test.sh"), "-q", str(probe)], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_check_fails_when_nvidia_smi_lists_gpus_torch_cannot_use(tmp_path):
    """`bash uv_verl.sh --check` (GPU stack) on this CPU venv with a fake nvidia-smi listing a GPU: besides the pins a
    CPU venv cannot meet, its FAILED line names the GPUs torch cannot use and the driver the pinned torch needs."""
    tool(tmp_path / "bin" / "nvidia-smi", "echo '0, NVIDIA H100 80GB HBM3, 550.54.15'\n")
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    proc = subprocess.run(["bash", str(SCRIPT), "--check"], env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 1
    [failed] = [line for line in proc.stderr.splitlines() if line.startswith("[uv_verl] FAILED: ")]
    import torch

    assert (
        f"nvidia-smi lists 1 GPU(s) (driver 550.54.15) but torch {torch.__version__} (a CPU build) cannot use them: "
        "install the GPU stack (bash uv_verl.sh, not --cpu), which needs NVIDIA driver >= 580"
    ) in failed.split("; ")
