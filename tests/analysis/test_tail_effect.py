"""Tail-effect study: exact GAE on hand-made sparse-reward trajectories, per-position aggregation, the
critics' read positions, response masking, and a tiny smoke run writing the JSON and PNG."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
import torch

from sppo_lab.analysis import tail_effect as te
from sppo_lab.analysis.cli import main

# Row 0: 4 response tokens, R = 1.  Row 1: 2 tokens then padding (whose values must be ignored), R = 0.
VALUES = torch.tensor([[0.2, 0.4, 0.5, 0.9], [0.3, 0.6, 7.0, 7.0]], dtype=torch.float64)
MASK = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.float64)
R = torch.tensor([1.0, 0.0], dtype=torch.float64)


def _t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_sparse_rewards_put_r_on_the_last_response_token():
    assert te.sparse_rewards(R, MASK).tolist() == [[0, 0, 0, 1], [0, 0, 0, 0]]
    assert te.sparse_rewards(torch.tensor([1.0, 1.0]), torch.tensor([[1.0, 0, 0], [1, 1, 0]])).tolist() == [
        [1, 0, 0],
        [0, 1, 0],
    ]


def test_gae_hand_computed_lambda_half():
    # row 0: δ = [0.4−0.2, 0.5−0.4, 0.9−0.5, 1−0.9] = [0.2, 0.1, 0.4, 0.1]; A_t = δ_t + 0.5 A_{t+1}
    #        A = [0.3625, 0.325, 0.45, 0.1], G = A + V = [0.5625, 0.725, 0.95, 1.0]
    # row 1: δ = [0.6−0.3, 0−0.6] = [0.3, −0.6]; A = [0.0, −0.6], G = [0.3, 0.0]
    adv, ret = te.gae(te.sparse_rewards(R, MASK), VALUES, MASK, gamma=1.0, lam=0.5)
    assert torch.allclose(adv, _t([[0.3625, 0.325, 0.45, 0.1], [0.0, -0.6, 0.0, 0.0]]), rtol=0, atol=1e-12)
    assert torch.allclose(ret, _t([[0.5625, 0.725, 0.95, 1.0], [0.3, 0.0, 0.0, 0.0]]), rtol=0, atol=1e-12)


def test_gae_lambda_one_is_outcome_minus_value_and_returns_are_r():
    adv, ret = te.gae(te.sparse_rewards(R, MASK), VALUES, MASK, gamma=1.0, lam=1.0)
    assert torch.allclose(adv, _t([[0.8, 0.6, 0.5, 0.1], [-0.3, -0.6, 0.0, 0.0]]), rtol=0, atol=1e-12)
    assert torch.allclose(ret, _t([[1, 1, 1, 1], [0, 0, 0, 0]]), rtol=0, atol=1e-12)


def test_gae_discount_gives_discounted_returns():
    # γ = 0.5, λ = 1: G_t = γ^(3−t) · R = [0.125, 0.25, 0.5, 1]; A = G − V
    adv, ret = te.gae(te.sparse_rewards(R, MASK), VALUES, MASK, gamma=0.5, lam=1.0)
    assert ret[0].tolist() == pytest.approx([0.125, 0.25, 0.5, 1.0], abs=1e-12)
    assert adv[0].tolist() == pytest.approx([-0.075, -0.15, 0.0, 0.1], abs=1e-12)


def test_gae_matches_verl_returns():
    from verl.trainer.ppo.core_algos import compute_gae_advantage_return

    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor([1, 5, 3, 7, 7, 2])
    mask = (torch.arange(7).unsqueeze(0) < lengths.unsqueeze(1)).double()
    values = torch.rand(6, 7, generator=gen, dtype=torch.float64) * mask
    rewards = te.sparse_rewards((torch.rand(6, generator=gen) < 0.5).double(), mask)
    _, verl_returns = compute_gae_advantage_return(rewards, values, mask, gamma=1.0, lam=0.95)
    adv, ret = te.gae(rewards, values, mask, gamma=1.0, lam=0.95)
    assert torch.allclose(ret, verl_returns * mask, atol=1e-12)
    assert torch.allclose(adv, (verl_returns - values) * mask, atol=1e-12)


X = torch.tensor([[1.0, 2, 3, 4], [5, 6, 99, 99], [7, 8, 9, 99]])
XMASK = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]])


def test_position_stats_from_the_start():
    sel = torch.tensor([True, False, True])
    assert te.position_stats(X, XMASK, sel, "start") == {
        "mean": [4.0, 5.0, 6.0, 4.0],
        "std": [3.0, 3.0, 3.0, 0.0],
        "count": [2, 2, 2, 1],
    }
    assert te.position_stats(X, XMASK, ~sel, "start") == {
        "mean": [5.0, 6.0, None, None],
        "std": [0.0, 0.0, None, None],
        "count": [1, 1, 0, 0],
    }


def test_position_stats_from_the_end():
    sel = torch.tensor([True, False, True])
    # row 0 reversed: 4 3 2 1; row 2 reversed: 9 8 7
    assert te.position_stats(X, XMASK, sel, "end") == {
        "mean": [6.5, 5.5, 4.5, 1.0],
        "std": [2.5, 2.5, 2.5, 0.0],
        "count": [2, 2, 2, 1],
    }
    assert te.position_stats(X, XMASK, ~sel, "end") == {
        "mean": [6.0, 5.0, None, None],
        "std": [0.0, 0.0, None, None],
        "count": [1, 1, 0, 0],
    }
    with pytest.raises(ValueError, match="align"):
        te.position_stats(X, XMASK, sel, "middle")


def test_explained_variance_per_position():
    values = torch.tensor([[0.5, 1.0, 1.0], [0.5, 0.0, 0.5], [0.5, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 0]])
    outcomes = torch.tensor([1.0, 0.0, 0.0])
    # t=0: constant prediction → 0; t=1: exact → 1; t=2: rows 0, 1: residuals 0, −0.5 → 1 − 0.0625/0.25 = 0.75
    assert te.position_explained_variance(values, outcomes, mask, "start") == pytest.approx([0.0, 1.0, 0.75])
    # from the end: k=0 holds 1.0, 0.5, 0.0 → residuals 0, −0.5, 0 → 1 − (1/18)/(2/9) = 0.75;
    # k=1 holds 1.0, 0.0, 0.5 → 0.75 again; k=2 holds 0.5, 0.5 (R = 1, 0) → 0
    assert te.position_explained_variance(values, outcomes, mask, "end") == pytest.approx([0.75, 0.75, 0.0])
    # t=2 reached only by the two incorrect responses: Var(R) = 0 there, undefined (sppo.critic_quality's NaN),
    # stored as None like an empty position, so the JSON file gets null
    only_incorrect = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 1]])
    start = te.position_explained_variance(values, outcomes, only_incorrect, "start")
    assert start[:2] == pytest.approx([0.0, 1.0]) and start[2] is None


class _HeadByPosition:
    """A stand-in critic whose value head outputs the position index (and checks the attention mask)."""

    def __call__(self, input_ids, attention_mask):
        self.attention_mask = attention_mask
        n, width = input_ids.shape
        return SimpleNamespace(logits=torch.arange(width, dtype=torch.float32).expand(n, width).unsqueeze(-1))


def test_critics_read_the_value_before_each_token_and_the_last_prompt_token():
    batch = te.Batch(
        input_ids=torch.zeros(2, 5 + 3, dtype=torch.long),
        prompt_len=5,
        response_mask=torch.tensor([[1.0, 1, 1], [1, 0, 0]]),
        outcomes=torch.tensor([1.0, 0.0]),
    )
    critic = _HeadByPosition()
    # V(s_t) sits on the token before response token t: positions 4, 5, 6 (V(s_0) = the last prompt token)
    assert te.token_values(critic, batch).tolist() == [[4, 5, 6], [4, 0, 0]]
    assert critic.attention_mask.tolist() == [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0, 0]]
    assert te.prompt_logits(critic, batch).tolist() == [4, 4]
    assert critic.attention_mask.shape == (2, 5)


def test_sample_masks_after_eos_and_scores_responses():
    from sppo_lab.tiny import build_char_tokenizer

    tok = build_char_tokenizer()
    eos, pad = tok.eos_token_id, tok.pad_token_id
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    # right answer | wrong format | right answer, then tokens after EOS | cut off without EOS
    responses = [
        enc("8") + [eos, pad, pad, pad],
        enc("=8") + [eos, pad, pad],
        enc("7") + [eos] + enc("12") + [pad],
        enc("12345"),
    ]

    class FakePolicy:
        def generate(self, ids, **kwargs):
            assert kwargs["max_new_tokens"] == 6 and kwargs["temperature"] == 1.0 and kwargs["do_sample"]
            return torch.cat([ids, torch.tensor(responses)], 1)

    batch = te.sample(FakePolicy(), tok, [(3, 5), (3, 5), (3, 4), (3, 5)], te.Args())
    assert batch.response_mask.tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert batch.outcomes.tolist() == [1.0, 0.0, 1.0, 0.0]
    P = batch.prompt_len
    assert batch.input_ids[2, P:].tolist() == enc("7") + [eos, pad, pad, pad]  # tokens after EOS become padding
    assert batch.cut_off == 1
    # padded format: the same answers and outcomes, each answer followed by the filler and EOS
    padded = te.sample(FakePolicy(), tok, [(3, 5), (3, 5), (3, 4), (3, 5)], te.Args(format="padded"))
    assert padded.outcomes.tolist() == [1.0, 0.0, 1.0, 0.0]
    filler = enc(te.FILLER)
    assert padded.input_ids[0, P:].tolist() == enc("8") + filler + [eos] + [pad] * 4
    assert padded.input_ids[3, P:].tolist() == enc("12345") + filler + [eos]
    assert padded.response_mask.sum(-1).tolist() == [len(filler) + n for n in (2, 3, 2, 6)]


def test_outcome_formats():
    assert te.outcome(" 8 ", (3, 5), "plain") == 1.0 and te.outcome("=8", (3, 5), "plain") == 0.0
    assert te.outcome("8" + te.FILLER, (3, 5), "padded") == 1.0
    assert te.outcome("=8" + te.FILLER, (3, 5), "padded") == 0.0
    assert te.outcome("8", (3, 5), "padded") == 0.0  # no filler
    assert te.outcome("", (3, 5), "padded") == 0.0
    # graded: the final answer after '#' only; the chain of thought is not checked
    assert te.outcome("7+4=11, 11+9=20, 20+2=22. #22", (7, 4, 9, 2), "graded") == 1.0
    assert te.outcome("7+4=12, 12+9=99. #22", (7, 4, 9, 2), "graded") == 1.0
    assert te.outcome("7+4=11, 11+9=20, 20+2=22. #23", (7, 4, 9, 2), "graded") == 0.0
    assert te.outcome("7+4=11, 11+9=20, 20+2=22", (7, 4, 9, 2), "graded") == 0.0


def test_graded_prompts_of_a_level_share_one_length_and_levels_split_the_evaluation():
    from transformers import AutoTokenizer

    from sppo_lab.graded import warm_start

    tok = AutoTokenizer.from_pretrained(warm_start.verify())
    lengths = {k: {len(te.prompt_ids(tok, t, "graded")) for t in ((1,) * k, (9, 8) + (7,) * (k - 2))} for k in (2, 10)}
    assert len(lengths[2]) == len(lengths[10]) == 1 and lengths[10].pop() - lengths[2].pop() == 16  # 8 more "+d"
    assert te._split(12, 5) == [3, 3, 2, 2, 2] and te._split(3, 5) == [1, 1, 1, 0, 0]
    padded = te._cat_padded([torch.ones(2, 3), 2 * torch.ones(1, 5)])
    assert padded.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [2, 2, 2, 2, 2]]
    assert te.response_limit(te.Args(format="graded")) == 128 and te.response_limit(te.Args()) == 6
    assert te.response_limit(te.Args(format="graded", max_new_tokens=40)) == 40


def test_pad_with_filler_appends_the_filler_and_eos_after_each_answer():
    eos, pad = 2, 0
    response = torch.tensor([[7, 2, 0], [8, 9, 9], [2, 0, 0]])
    mask = torch.tensor([[True, True, False], [True, True, True], [True, False, False]])
    out, new_mask = te.pad_with_filler(response, mask, [5, 6], eos, pad)
    assert out.tolist() == [[7, 5, 6, 2, 0, 0], [8, 9, 9, 5, 6, 2], [5, 6, 2, 0, 0, 0]]
    assert new_mask.long().tolist() == [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]]


def _tiny(tmp_path, **kw):
    args = dict(
        out=str(tmp_path / "out"),
        cache_dir=str(tmp_path / "cache"),
        updates=2,
        batch=4,
        eval_samples=12,
        warmup_steps=2,
    )
    return te.Args(**{**args, **kw})


def test_smoke_run_writes_json_and_png_and_reuses_the_cached_policy(tmp_path):
    t0 = time.time()
    first = te.run(_tiny(tmp_path))
    png, js = tmp_path / "out" / "tail_effect.png", tmp_path / "out" / "tail_effect.json"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(js.read_text())
    ev = data["eval"]
    assert ev["n"] == 12 and ev["n_correct"] + ev["n_incorrect"] == 12
    assert data["policy"]["cached"] is False
    assert [row["update"] for row in data["training"]["curve"]] == [1, 2]
    T = ev["response_length"]["max"]
    assert 1 <= T <= 6 and data["config"]["filler"] is None
    for key in ("values", "advantages"):
        for name in ("correct", "incorrect"):
            for align in ("start", "end"):
                stats = ev["token_critic"][key][name][align]
                assert len(stats["mean"]) == len(stats["std"]) == len(stats["count"]) == T
                assert stats["count"][0] == ev[f"n_{name}"]
    assert ev["sppo"]["advantage"]["correct"]["count"] == ev["n_correct"]
    # the rerun loads the cached warm-up and samples the same responses (deterministic seeding)
    second = te.run(_tiny(tmp_path))
    assert second["policy"]["cached"] is True
    assert second["eval"]["token_critic"] == first["eval"]["token_critic"]
    assert second["eval"]["sppo"] == first["eval"]["sppo"]
    assert time.time() - t0 < 60


def test_smoke_run_padded_format(tmp_path):
    result = te.run(_tiny(tmp_path, format="padded", updates=1, eval_samples=6))
    assert (tmp_path / "out" / "tail_effect_padded.png").is_file()
    data = json.loads((tmp_path / "out" / "tail_effect_padded.json").read_text())
    assert data["config"]["filler"] == te.FILLER and data["eval"]["n"] == 6
    n_filler = len(te.FILLER)  # one token per byte
    lengths = result["eval"]["response_length"]
    assert n_filler + 1 <= lengths["min"] <= lengths["max"] <= n_filler + 1 + 6


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--updates", "0"], "--updates must be >= 1, got 0"),
        (["--lam", "1.5"], "--lam must lie in [0, 1], got 1.5"),
        (["--format", "long"], "argument --format: invalid choice: 'long'"),
        (["--eval-samples", "1"], "--eval-samples must be >= 2"),
    ],
)
def test_tail_effect_bad_options_fail_before_any_model(tmp_path, capsys, argv, message):
    out = tmp_path / "never"
    assert main(["tail-effect", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert (
        len(err.strip().splitlines()) == 1
        and message in err
        and err.startswith("python -m sppo_lab.analysis tail-effect: error:")
    )
    assert not out.exists()


def test_smoke_run_graded_format_samples_every_level_from_the_committed_warm_start(tmp_path):
    result = te.run(te.Args(out=str(tmp_path / "out"), format="graded", updates=5, batch=4, eval_samples=10))
    data = json.loads((tmp_path / "out" / "tail_effect_graded.json").read_text())
    assert data["eval"]["n"] == 10 and data["policy"]["path"].endswith("warm_start")
    by_level = result["eval"]["sppo"]["by_level"]
    assert list(by_level) == ["k2", "k4", "k6", "k8", "k10"] and [v["n"] for v in by_level.values()] == [2] * 5
    for v in by_level.values():
        assert 0.0 < v["sigmoid_v_mean"] < 1.0 and v["success"] in (0.0, 0.5, 1.0)
    # chains of thought: 10-12 tokens at k = 2 up to 80-84 at k = 10 when right, never past the 128-token limit
    lengths = result["eval"]["response_length"]
    assert lengths["max"] <= 128 and lengths["max"] > 20
    stats = result["eval"]["token_critic"]["values"]
    width = len(stats["correct"]["start"]["mean"])
    assert width == lengths["max"] and len(stats["incorrect"]["end"]["count"]) == width
