"""The critic-cost benchmark runs end to end on a miniature setting and reports consistent numbers."""

from __future__ import annotations

import json

import pytest

from sppo_lab.benchmarks.bench_critic_cost import main, parse_size


def test_miniature_run_writes_lengths_and_sizes(tmp_path):
    main(
        [
            "--prompt",
            "8",
            "--responses",
            "8",
            "32",
            "--batch",
            "2",
            "--reps",
            "1",
            "--threads",
            "1",
            "--sizes",
            "32x2",
            "16x1",
            "--out",
            str(tmp_path),
        ]
    )
    result = json.loads((tmp_path / "critic_cost.json").read_text())
    assert [r["response_len"] for r in result["rows"]] == [8, 32]
    assert all(r["speedup"] == r["prompt_plus_response_s"] / r["prompt_only_s"] for r in result["rows"])
    ref, small = result["sizes"]
    assert (ref["hidden"], ref["layers"], small["hidden"], small["layers"]) == (32, 2, 16, 1)
    assert ref["time_vs_reference"] == 1.0 and ref["params_vs_reference"] == 1.0
    assert small["params"] < ref["params"] and small["train_state_mib"] == small["params"] * 16 / 2**20
    assert (tmp_path / "critic_cost.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_size_is_a_clear_error():
    import argparse

    assert parse_size("64x2") == (64, 2)
    with pytest.raises(argparse.ArgumentTypeError, match="--sizes wants HIDDENxLAYERS"):
        parse_size("big")
