"""Issue 25: a damaged warm-start folder (SHA256SUMS cut or edited, a listed name that is not a file name, a model
file left out of the sums, a destination that is a file) is one WarmStartError line, never a traceback."""

from __future__ import annotations

import pytest

from sppo_lab.graded import warm_start


def _checkpoint(folder):
    folder.mkdir()
    for name in warm_start.MODEL_FILES:
        (folder / name).write_bytes(f"contents of {name}".encode())
    warm_start.write_sums(folder)
    return folder


def _edit_sums(folder, change):
    sums = folder / warm_start.SUMS_FILE
    sums.write_bytes(change(sums.read_bytes()))


@pytest.mark.parametrize(
    "name, change, message",
    [
        (
            "line cut",
            lambda b: b.replace(b"  config.json", b""),
            "SHA256SUMS, line 1: expected '<64 hex digits>  <file name>'",
        ),
        ("not hex", lambda b: b"z" * 64 + b[64:], "SHA256SUMS, line 1: expected '<64 hex digits>  <file name>'"),
        ("short digest", lambda b: b[10:], "SHA256SUMS, line 1: expected '<64 hex digits>  <file name>'"),
        (
            "a path, not a name",
            lambda b: b.replace(b"  config.json", b"  ../config.json"),
            "SHA256SUMS, line 1: expected",
        ),
        ("not UTF-8", lambda b: b"\xff\xfe" + b, "SHA256SUMS: unreadable ("),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_damaged_sums_are_one_line(tmp_path, name, change, message):
    folder = _checkpoint(tmp_path / "warm_start")
    _edit_sums(folder, change)
    with pytest.raises(warm_start.WarmStartError) as err:
        warm_start.verify(folder)
    assert str(err.value).startswith(f"{folder / warm_start.SUMS_FILE}{message[len('SHA256SUMS') :]}")
    assert "\n" not in str(err.value) and warm_start.REBUILD in str(err.value)


def test_a_model_file_left_out_of_the_sums_is_not_installed(tmp_path):
    folder = _checkpoint(tmp_path / "warm_start")
    _edit_sums(
        folder, lambda b: b"".join(line for line in b.splitlines(keepends=True) if b"tokenizer.json" not in line)
    )
    assert warm_start.verify(folder) == folder  # what is listed is intact
    with pytest.raises(warm_start.WarmStartError) as err:
        warm_start.install(tmp_path / "dest", folder)
    assert str(err.value).startswith(f"{folder / warm_start.SUMS_FILE}: does not list tokenizer.json; restore it")
    assert not (tmp_path / "dest").exists()


def test_a_destination_that_is_a_file_is_one_line(tmp_path):
    folder = _checkpoint(tmp_path / "warm_start")
    (tmp_path / "dest").write_text("x")
    with pytest.raises(warm_start.WarmStartError, match=r"dest: exists and is not a folder"):
        warm_start.install(tmp_path / "dest", folder)
