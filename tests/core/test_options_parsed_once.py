"""Issue 24, "options parsed once": ``sppo.*`` is parsed once per process (the driver's run path, each trainer), and
the estimator parses ``algorithm.sppo.*`` once per config object, not at every step."""

from __future__ import annotations

import gc

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import sppo.main
from sppo import advantage
from sppo.advantage import compute_sppo_advantage, estimator_options
from sppo.options import AdvantageOptions, TrainerOptions
from tests.conftest import REPO, tiny_overrides
from tests.core.trainer_harness import make_trainer, put_samples, run_step

REWARDS, MASK, P = torch.tensor([[0.0, 1.0]]), torch.ones(1, 2), torch.tensor([0.5])  # one sequence, R = 1


def _count_parses(monkeypatch, cls: type) -> list[object]:
    """Record the config of every ``cls.from_config`` call (the one parser of that options block)."""
    calls: list[object] = []
    parse = cls.from_config.__func__

    def counted(owner, config):
        calls.append(config)
        return parse(owner, config)

    monkeypatch.setattr(cls, "from_config", classmethod(counted))
    return calls


def _compose(overrides: list[str]):
    with initialize_config_dir(config_dir=str(REPO / "sppo" / "configs"), version_base=None):
        return compose("sppo_trainer", overrides=overrides)


ON = ["sppo.adaptive_n.enable=true", "sppo.calibration_log=LOG"]  # read again by the launch checks and the summary


@pytest.mark.parametrize(("extra", "dry"), [([], True), (ON, True), (ON, False)], ids=["dry", "dry-options", "launch"])
def test_the_driver_parses_sppo_options_once(tiny_task, tmp_path, monkeypatch, capsys, extra, dry):
    """check_config, the dry-run switch, the launch checks (calibration log) and the summary (adaptive N) all read
    sppo.*; the run path parses it once and hands the object on (a launch stops where verl's run_ppo starts Ray)."""
    from verl.trainer import main_ppo

    extra = [e.replace("LOG", str(tmp_path / "calibration.jsonl")) for e in extra]
    cfg = _compose([*tiny_overrides(tiny_task, tmp_path, steps=1), f"sppo.dry_run={str(dry).lower()}", *extra])
    # the CPU platform patches verl process-wide (what sppo.main does in its own process); not this test's subject
    monkeypatch.setattr(sppo.main, "_select_platform", lambda config: None)
    monkeypatch.setenv("SPPO_DRY_RUN_QUIET", "1")
    monkeypatch.delenv("SPPO_DRY_RUN", raising=False)
    monkeypatch.delenv("SPPO_DRY_RUN_JSON", raising=False)
    launched = []
    monkeypatch.setattr(main_ppo, "run_ppo", lambda config, task_runner_class: launched.append(config))
    calls = _count_parses(monkeypatch, TrainerOptions)
    sppo.main.run(cfg)
    assert len(calls) == 1 and calls[0] is cfg
    assert launched == ([] if dry else [cfg])
    dry_line = "SPPO dry run: sppo on verl's v1 (sync) trainer (nothing started)"
    assert (dry_line in capsys.readouterr().out) is dry


def test_a_trainer_parses_sppo_options_once_across_steps(monkeypatch):
    """The trainer (its own Ray actor process) parses the config it receives once, on first use, then every step's
    hooks read the same object; the estimator parses algorithm.sppo.* once for the trainer's config.algorithm."""
    t = make_trainer(monkeypatch, {1: 0.0, 2: 0.0}, algorithm__sppo__advantage="bernoulli")
    del t.__dict__["sppo_options"]  # the harness's ready-made options: parse from t.config as a real trainer does
    trainer_calls = _count_parses(monkeypatch, TrainerOptions)
    estimator_calls = _count_parses(monkeypatch, AdvantageOptions)
    for _ in range(3):
        batch = put_samples(t, [{"uid": "a", "prompt": [5, 1], "response": [3, 9], "reward": 1.0}])
        run_step(t, batch)
    assert len(trainer_calls) == 1 and trainer_calls[0] is t.config
    assert len(estimator_calls) == 1 and estimator_calls[0] is t.config.algorithm
    assert t.sppo_options == TrainerOptions()
    # bernoulli with p = 0.5: (1 - 0.5) / sqrt(0.25) = 1 (the parsed options, not the defaults, were used)
    assert [float(t.fake_tq.rows[k]["advantages"][0]) for k in batch.keys] == [1.0]


def test_the_estimator_parses_each_config_object_once(monkeypatch):
    calls = _count_parses(monkeypatch, AdvantageOptions)
    first = OmegaConf.create({"sppo": {"advantage": "bernoulli"}})
    second = OmegaConf.create({"sppo": {}})
    for config in (first, first, second, first, second):
        compute_sppo_advantage(REWARDS, MASK, config=config, reward_baselines=P)
    assert [c is first for c in calls] == [True, False] and calls[1] is second
    assert estimator_options(first).advantage == "bernoulli" and estimator_options(second).advantage == "residual"
    assert len(calls) == 2


def test_a_dead_configs_entry_goes_with_it():
    config = OmegaConf.create({"sppo": {"whiten": True}})
    key = id(config)
    assert estimator_options(config).whiten is True
    assert key in advantage._PARSED
    del config
    gc.collect()
    assert key not in advantage._PARSED


def test_plain_dicts_are_parsed_at_every_call(monkeypatch):
    """A dict cannot be weakly referenced, so a later dict at the same address could not be told apart: no cache."""
    calls = _count_parses(monkeypatch, AdvantageOptions)
    config = {"sppo": {"advantage": "bernoulli"}}
    estimator_options(config)
    estimator_options(config)
    assert len(calls) == 2 and calls[0] is config and calls[1] is config


def test_a_bad_value_is_refused_at_every_call_and_never_cached():
    config = OmegaConf.create({"sppo": {"eps": 0.0}})
    message = r"^algorithm\.sppo\.eps=0; expected a value in \(0, 0\.25\] \(a floor on p\(1 - p\)\)$"
    for _ in range(2):
        with pytest.raises(ValueError, match=message):
            compute_sppo_advantage(REWARDS, MASK, config=config, reward_baselines=P)
    assert id(config) not in advantage._PARSED
