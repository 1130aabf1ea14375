"""SPPO's typed options: strict parsing, one-line problems, and defaults equal to sppo/configs/sppo_trainer.yaml."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from sppo.options import (
    AdaptiveNOptions,
    AdaptiveNormOptions,
    AdvantageOptions,
    CriticWarmstartOptions,
    OptionError,
    PromptSelectionOptions,
    TrainerOptions,
    TruncationOptions,
)
from tests.conftest import REPO


def _defaults(cls) -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        value = getattr(cls(), f.name)
        if dataclasses.is_dataclass(value):
            value = {g.name: getattr(value, g.name) for g in dataclasses.fields(value)}
        out[f.name] = value
    return out


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return list(value) if isinstance(value, tuple) else value


def test_yaml_and_dataclasses_cannot_drift():
    cfg = yaml.safe_load((REPO / "sppo" / "configs" / "sppo_trainer.yaml").read_text())
    assert cfg["algorithm"]["sppo"] == _plain(_defaults(AdvantageOptions))
    assert cfg["sppo"] == _plain(_defaults(TrainerOptions))
    assert cfg["sppo"]["prompt_selection"] == _plain(_defaults(PromptSelectionOptions))
    assert cfg["sppo"]["adaptive_norm"] == _plain(_defaults(AdaptiveNormOptions))
    assert cfg["sppo"]["truncation"] == _plain(_defaults(TruncationOptions))
    assert cfg["sppo"]["critic_warmstart"] == _plain(_defaults(CriticWarmstartOptions))
    assert cfg["sppo"]["adaptive_n"] == _plain(_defaults(AdaptiveNOptions))


def test_missing_sections_give_the_defaults():
    assert TrainerOptions.from_config({}) == TrainerOptions()
    assert TrainerOptions.from_config({"sppo": None}) == TrainerOptions()
    assert AdvantageOptions.from_config({"sppo": {"eps": 0.01}}) == AdvantageOptions(eps=0.01)
    assert AdvantageOptions.from_config({"sppo": {"reward_range": [-1, 1]}}).reward_range == (-1.0, 1.0)


@pytest.mark.parametrize(
    "given, message",
    [
        ({"whiten": "no"}, "algorithm.sppo.whiten='no'; expected true or false"),
        ({"whiten": 1}, "algorithm.sppo.whiten=1; expected true or false"),
        ({"eps": "tiny"}, "algorithm.sppo.eps='tiny'; expected a number"),
        ({"eps": float("nan")}, "algorithm.sppo.eps=nan; expected a finite number"),
        ({"reward_range": "0,1"}, "algorithm.sppo.reward_range='0,1'; expected [lo, hi] or null"),
        ({"reward_range": [0, 1, 2]}, "algorithm.sppo.reward_range=[0, 1, 2]; expected [lo, hi] or null"),
        (
            {"whitening": True},
            "algorithm.sppo.whitening is not an SPPO option; known: advantage, eps, reward_range, whiten",
        ),
    ],
)
def test_wrong_types_are_one_line_errors(given, message):
    with pytest.raises(OptionError) as err:
        AdvantageOptions.from_config({"sppo": given})
    assert str(err.value) == message


@pytest.mark.parametrize(
    "given, problem",
    [
        ({"eps": -1}, "algorithm.sppo.eps=-1; expected a value in (0, 0.25] (a floor on p(1 - p))"),
        ({"eps": 0}, "algorithm.sppo.eps=0; expected a value in (0, 0.25] (a floor on p(1 - p))"),
        ({"advantage": "gauss"}, "algorithm.sppo.advantage='gauss'; choose residual or bernoulli"),
        ({"reward_range": [1, 0]}, "algorithm.sppo.reward_range=[1.0, 0.0]; expected [lo, hi] with hi > lo"),
    ],
)
def test_out_of_range_values_are_problems(given, problem):
    assert AdvantageOptions.from_config({"sppo": given}).problems() == [problem]


@pytest.mark.parametrize(
    "given, message",
    [
        ({"dry_run": "yes"}, "sppo.dry_run='yes'; expected true or false"),
        ({"max_train_seconds": "1h"}, "sppo.max_train_seconds='1h'; expected a number or null"),
        ({"calibration_log_max_rows": 2.5}, "sppo.calibration_log_max_rows=2.5; expected an integer"),
        ({"calibration_log": 7}, "sppo.calibration_log=7; expected a file path or null"),
        ({"prompt_selection": {"pool_factor": 1.5}}, "sppo.prompt_selection.pool_factor=1.5; expected an integer"),
        ({"prompt_selection": {"enable": "false"}}, "sppo.prompt_selection.enable='false'; expected true or false"),
        # issue 25
        ({"calibration_log": "  "}, "sppo.calibration_log='  '; expected a file path or null"),
        ({"calibration_log": " log.jsonl"}, "sppo.calibration_log=' log.jsonl'; expected a file path or null"),
        ({"calibration_log": ["a.jsonl"]}, "sppo.calibration_log=['a.jsonl']; expected a file path or null"),
        ({"max_train_seconds": float("inf")}, "sppo.max_train_seconds=inf; expected a finite number"),
        ({"replay_poll_interval_s": True}, "sppo.replay_poll_interval_s=True; expected a number"),
        (
            {"prompt_selection": {"band": [0.2, float("nan")]}},
            "sppo.prompt_selection.band[1]=nan; expected a finite number",
        ),
        ({"prompt_selection": {"band": "0.2,0.8"}}, "sppo.prompt_selection.band='0.2,0.8'; expected [lo, hi]"),
        # issue 28
        ({"adaptive_norm": {"enable": "yes"}}, "sppo.adaptive_norm.enable='yes'; expected true or false"),
        ({"adaptive_norm": {"threshold": "high"}}, "sppo.adaptive_norm.threshold='high'; expected a number"),
        ({"truncation": {"penalty": None}}, "sppo.truncation.penalty=None; expected a number"),
        ({"critic_warmstart": {"epochs": 2.5}}, "sppo.critic_warmstart.epochs=2.5; expected an integer"),
        ({"adaptive_n": {"budget": 12.5}}, "sppo.adaptive_n.budget=12.5; expected an integer"),
        ({"adaptive_n": {"max_n": True}}, "sppo.adaptive_n.max_n=True; expected an integer"),
        (
            {"adaptive_n": {"n_max": 4}},
            "sppo.adaptive_n.n_max is not an SPPO option; known: budget, enable, max_n, prior_strength, rule",
        ),
    ],
)
def test_trainer_option_types(given, message):
    with pytest.raises(OptionError) as err:
        TrainerOptions.from_config({"sppo": given})
    assert str(err.value) == message


def test_trainer_option_ranges_and_caps():
    bad = TrainerOptions.from_config(
        {
            "sppo": {
                "replay_poll_interval_s": 0,
                "calibration_log_max_rows": 10**9,
                "max_train_seconds": -5,
                "prompt_selection": {"explore_fraction": 2},
                "adaptive_norm": {"threshold": 1.5, "ema_decay": -0.1},
                "truncation": {"mode": "drop"},
                "critic_warmstart": {"epochs": -2},
                "adaptive_n": {"max_n": 1, "prior_strength": -1},
            }
        }
    )
    assert bad.problems() == [
        "sppo.replay_poll_interval_s=0; expected a positive number of seconds",
        "sppo.calibration_log_max_rows=1000000000; expected an integer in [1, 1,000,000]",
        "sppo.max_train_seconds=-5; expected a positive number of seconds or null",
        "sppo.prompt_selection.explore_fraction=2; expected a value in [0, 1]",
        "sppo.adaptive_norm.threshold=1.5; expected a value in (0, 1) (an explained variance)",
        "sppo.adaptive_norm.ema_decay=-0.1; expected a value in [0, 1)",
        "sppo.truncation.mode='drop'; choose none or mask",
        "sppo.critic_warmstart.epochs=-2; expected an integer >= 0 (0: off)",
        "sppo.adaptive_n.max_n=1; expected an integer >= 2",
        "sppo.adaptive_n.prior_strength=-1; expected a number >= 0",
    ]
