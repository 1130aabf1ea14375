"""The committed warm-start checkpoint of the graded task, checked against its SHA-256 sums before use.

``lab/sppo_lab/graded/warm_start/`` holds the policy made by ``python -m sppo_lab.graded.warmup`` (its README gives the
exact command), the warm-up's report and ``SHA256SUMS`` (``sha256sum -c SHA256SUMS`` checks it by hand).
Benchmarks, tests and the quickstart load it instead of retraining (10+ minutes on a 2-core CPU).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

WARM_START_DIR = Path(__file__).resolve().parent / "warm_start"
SUMS_FILE = "SHA256SUMS"
MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)
REBUILD = "python -m sppo_lab.graded.warmup --out runs/graded_warmup (see lab/sppo_lab/graded/warm_start/README.md)"


_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class WarmStartError(Exception):
    """The warm-start checkpoint is missing or does not match its checksums (a one-line message)."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sums(folder: str | Path, names: tuple[str, ...] = MODEL_FILES) -> Path:
    """Write ``SHA256SUMS`` (``sha256sum`` format) for ``names`` in ``folder``."""
    folder = Path(folder)
    lines = [f"{sha256(folder / name)}  {name}" for name in names]
    (folder / SUMS_FILE).write_text("\n".join(lines) + "\n")
    return folder / SUMS_FILE


def verify(folder: str | Path | None = None) -> Path:
    """``folder`` (default: the committed ``WARM_START_DIR``) if every file listed in its ``SHA256SUMS`` exists
    and matches; else :class:`WarmStartError`."""
    folder = Path(folder) if folder is not None else WARM_START_DIR
    sums = folder / SUMS_FILE
    if not sums.is_file():
        raise WarmStartError(f"{sums}: missing; rebuild the warm start: {REBUILD}")
    try:
        text = sums.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WarmStartError(f"{sums}: unreadable ({exc}); restore it (git checkout) or rebuild: {REBUILD}") from None
    listed: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        name = parts[1].strip().lstrip("*") if len(parts) == 2 else ""
        if len(parts) != 2 or not _SHA256.fullmatch(parts[0]) or not name or "/" in name or name in (".", ".."):
            raise WarmStartError(
                f"{sums}, line {number}: expected '<64 hex digits>  <file name>', got {line[:60]!r}; "
                f"restore it (git checkout) or rebuild: {REBUILD}"
            )
        listed[name] = parts[0].lower()
    for name, expected in listed.items():
        path = folder / name
        if not path.is_file():
            raise WarmStartError(f"{path}: missing; rebuild the warm start: {REBUILD}")
        found = sha256(path)
        if found != expected:
            raise WarmStartError(
                f"{path}: sha256 {found[:12]}... does not match {SUMS_FILE} ({expected[:12]}...); "
                f"restore it (git checkout) or rebuild: {REBUILD}"
            )
    return folder


def install(dest: str | Path, folder: str | Path | None = None) -> str:
    """Verify the warm start and copy its model files to ``dest`` (an HF model folder verl can load)."""
    folder = verify(folder)
    listed = {
        line.split(maxsplit=1)[1].strip().lstrip("*")
        for line in (folder / SUMS_FILE).read_text().splitlines()
        if line.strip()
    }
    unlisted = [name for name in MODEL_FILES if name not in listed]
    if unlisted:  # an unchecked file would be copied as it is, or be missing from the model folder
        raise WarmStartError(
            f"{folder / SUMS_FILE}: does not list {unlisted[0]}; restore it (git checkout) or rebuild: {REBUILD}"
        )
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise WarmStartError(f"{dest}: exists and is not a folder (the warm start's model files go there)")
    dest.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copy2(folder / name, dest / name)
    return str(dest)
