"""The critic's prompt ids: rendering with the critic's own tokenizer and template, truncation, and parity with verl."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from sppo.config_checks import SPPOConfigError
from sppo.critic_prompts import as_message_lists, critic_input_ids, load_critic_tokenizer, render_prompt_ids
from sppo_lab.tiny import build_char_tokenizer, build_inst_tokenizer, build_llama_critic, save
from tests.conftest import REPO, tiny_overrides

MESSAGES = [{"role": "user", "content": "What is 3+4?"}]
# <s> [INST] ĠWhat Ġis Ġ 3 + 4 ? Ġ [/INST]   (byte symbols reversed: ids 0-255, 12 merges: 256-267, specials 268-272)
INST_IDS = [269, 271, 259, 261, 35, 237, 245, 236, 225, 35, 272]
# <|im_start|> u s e r \n W h a t ␣ i s ␣ 3 + 4 ? <|im_end|> \n <|im_start|> a s s i s t a n t \n   (specials 0-2, bytes sorted)
CHATML_IDS = [
    1,
    87,
    85,
    71,
    84,
    201,
    57,
    74,
    67,
    86,
    223,
    75,
    85,
    223,
    21,
    13,
    22,
    33,
    2,
    201,
    1,
    67,
    85,
    85,
    75,
    85,
    86,
    67,
    80,
    86,
    201,
]


def _ids(tokenizer, max_length=None, messages=MESSAGES) -> list[int]:
    return render_prompt_ids([messages], tokenizer, max_length=max_length)[0].tolist()


def test_exact_ids_of_both_tiny_tokenizers():
    inst = render_prompt_ids([MESSAGES], build_inst_tokenizer())[0]
    assert inst.dtype == torch.int64 and inst.dim() == 1
    assert inst.tolist() == INST_IDS
    assert _ids(build_char_tokenizer()) == CHATML_IDS


def test_the_same_prompt_gets_other_ids_and_another_length_per_tokenizer():
    inst, chatml = _ids(build_inst_tokenizer()), _ids(build_char_tokenizer())
    assert len(inst) != len(chatml)
    assert inst[: len(chatml)] != chatml[: len(inst)]


def test_truncation_keeps_the_end_of_the_prompt():
    tok = build_inst_tokenizer()
    assert _ids(tok, max_length=5) == INST_IDS[-5:]  # ... ? Ġ [/INST]: the generation point survives
    assert _ids(tok, max_length=len(INST_IDS)) == INST_IDS
    assert _ids(tok, max_length=100) == INST_IDS


def test_chat_template_kwargs_reach_the_template():
    tok = build_inst_tokenizer()
    tok.chat_template = "{{ bos_token }}{% if shout %}[INST]{% endif %}{{ messages[0]['content'] }}"
    loud = render_prompt_ids([MESSAGES], tok, chat_template_kwargs={"shout": True})[0].tolist()
    quiet = render_prompt_ids([MESSAGES], tok, chat_template_kwargs={"shout": False})[0].tolist()
    assert loud == [269, 271] + quiet[1:]


def test_raw_prompt_arrives_in_any_container():
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    other = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    stored = list_of_dict_to_tensordict([{"raw_prompt": MESSAGES}, {"raw_prompt": other}])["raw_prompt"]
    column = np.empty(2, dtype=object)
    column[0], column[1] = MESSAGES, np.array(other, dtype=object)
    for container in (stored, column, [MESSAGES, other]):
        assert as_message_lists(container) == [MESSAGES, other]
    with pytest.raises(TypeError):
        as_message_lists(["What is 3+4?"])


def test_critic_tokenizer_without_chat_template_is_refused(tmp_path):
    tok = build_inst_tokenizer()
    tok.chat_template = None
    path = save(build_llama_critic(tok), tok, tmp_path / "no_template")
    with pytest.raises(SPPOConfigError, match=r"has no chat template; set critic.model.custom_chat_template$"):
        load_critic_tokenizer(path)
    assert load_critic_tokenizer(path, custom_chat_template=build_inst_tokenizer().chat_template).chat_template


def _config(tiny_task, tmp_path, extra=()):
    with initialize_config_dir(config_dir=str(REPO / "sppo" / "configs"), version_base=None):
        return compose("sppo_trainer", overrides=tiny_overrides(tiny_task, tmp_path, steps=1) + list(extra))


def test_default_mode_reproduces_the_agent_loops_prompt_ids(tiny_task, tmp_path):
    """Same tokenizer for both: the critic's ids equal verl's own (RLHFDataset raw_prompt -> agent loop tokens)."""
    from transformers import AutoConfig
    from verl.utils import hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn
    from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

    config = _config(tiny_task, tmp_path)
    tokenizer = hf_tokenizer(tiny_task.policy)
    dataset = RLHFDataset(data_files=[tiny_task.train], tokenizer=tokenizer, config=config.data)
    batch = collate_fn([dataset[i] for i in range(len(dataset))])
    builder = create_continuous_token_builder(
        tokenizer, hf_model_type=AutoConfig.from_pretrained(tiny_task.policy).model_type, chat_template_kwargs={}
    )
    expected = [builder.build_initial_tokens(list(m)) for m in batch["raw_prompt"]]

    got = critic_input_ids(config, batch["raw_prompt"])
    assert len(got) == len(expected) == len(dataset) > 10
    assert [g.tolist() for g in got] == expected
    assert all(len(e) <= config.actor_rollout_ref.rollout.prompt_length for e in expected)


def test_retokenize_mode_reads_the_critics_tokenizer(tiny_task, other_family_critic, tmp_path):
    config = _config(tiny_task, tmp_path, [f"critic.model.path={other_family_critic}", "sppo.critic_retokenize=true"])
    got = critic_input_ids(config, [MESSAGES, MESSAGES])
    assert [g.tolist() for g in got] == [INST_IDS, INST_IDS]


def test_prompt_only_batch_numbers_retokenized_prompts_from_zero():
    from sppo.trainer import prompt_only_batch

    ids = [torch.tensor(INST_IDS), torch.tensor(INST_IDS[-3:])]
    td = prompt_only_batch(torch.nested.as_nested_tensor(ids, layout=torch.jagged), None, torch.tensor([1.0, 0.0]))
    assert [t.tolist() for t in td["input_ids"].unbind()] == [INST_IDS, INST_IDS[-3:]]
    assert [t.tolist() for t in td["position_ids"].unbind()] == [list(range(len(INST_IDS))), [0, 1, 2]]
    assert [t.tolist() for t in td["loss_mask"].unbind()] == [[0] * (len(INST_IDS) - 1) + [1], [0, 0, 0]]
