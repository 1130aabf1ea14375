"""V(s_p) depends on the prompt only: response tokens and left padding cannot change it."""

import torch

from sppo.critic_loss import last_token_logits
from sppo.trainer import prompt_only_batch
from sppo_lab.tiny import build_char_tokenizer, build_critic


def _nested(rows):
    return torch.nested.as_nested_tensor([torch.tensor(r) for r in rows], layout=torch.jagged)


PROMPTS = [[1, 40, 41, 42, 2], [1, 50, 51]]


def _batch(responses):
    seqs = [p + r for p, r in zip(PROMPTS, responses)]
    return prompt_only_batch(_nested(PROMPTS), _nested([list(range(len(s))) for s in seqs]), torch.tensor([1.0, 0.0]))


def test_prompt_only_batch_drops_the_response():
    a = _batch([[7, 8, 9], [7]])
    b = _batch([[3], [4, 5, 6, 7, 8]])
    for key in ("input_ids", "position_ids", "loss_mask"):
        for x, y in zip(a[key].unbind(), b[key].unbind()):
            assert torch.equal(x, y)
    assert [t.tolist() for t in a["input_ids"].unbind()] == PROMPTS
    assert [t.tolist() for t in a["position_ids"].unbind()] == [[0, 1, 2, 3, 4], [0, 1, 2]]
    # one loss token per real row (its last prompt token); padding rows get none
    assert [t.tolist() for t in a["loss_mask"].unbind()] == [[0, 0, 0, 0, 1], [0, 0, 0]]


def _critic():
    torch.manual_seed(0)
    model = build_critic(build_char_tokenizer()).eval()
    model.config._attn_implementation = "sdpa"
    return model


@torch.no_grad()
def _v(model, ids, attention_mask=None, position_ids=None):
    return model(input_ids=ids, attention_mask=attention_mask, position_ids=position_ids).logits.squeeze(-1)


def test_v_is_exactly_the_prompt_prefix_value():
    model = _critic()
    prompt = torch.tensor([[1, 40, 41, 42, 43, 2, 1]])
    v_prompt = last_token_logits(_v(model, prompt))
    for response in ([5, 6, 7], [90, 91], [3] * 12):
        full = torch.cat([prompt, torch.tensor([response])], dim=1)
        v_full = _v(model, full)[:, prompt.shape[1] - 1]  # causal: value at the last prompt token
        assert torch.allclose(v_prompt, v_full, atol=1e-5)


def test_v_changes_with_the_prompt():
    model = _critic()
    v1 = last_token_logits(_v(model, torch.tensor([[1, 40, 41, 42, 43, 2, 1]])))
    v2 = last_token_logits(_v(model, torch.tensor([[1, 40, 41, 99, 43, 2, 1]])))
    assert (v1 - v2).abs().item() > 1e-4


def test_left_padding_does_not_change_v():
    model = _critic()
    prompt = [1, 40, 41, 42, 43, 2, 1]
    v_plain = last_token_logits(_v(model, torch.tensor([prompt])))
    pad = 4
    ids = torch.tensor([[0] * pad + prompt])
    mask = torch.tensor([[0] * pad + [1] * len(prompt)])
    pos = torch.clamp(mask.cumsum(-1) - 1, min=0)
    v_padded = _v(model, ids, attention_mask=mask, position_ids=pos)[:, -1]
    assert torch.allclose(v_plain, v_padded, atol=1e-5)
