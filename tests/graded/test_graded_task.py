"""The graded task: generator, split, chain of thought, annotator, reward, parquets, warm-start checksums, CLIs."""

import random
from itertools import product

import pandas as pd
import pytest

from sppo_lab.graded import reward, task, warm_start, warmup
from sppo_lab.tiny import build_char_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_char_tokenizer()


# ------------------------------------------------------------------------------------------- generator, split


def test_prompt_and_reference_solution():
    assert task.question([7, 4, 9, 2]) == "Compute 7+4+9+2"
    assert task.chain_of_thought([7, 4, 9, 2]) == ("7+4=11, 11+9=20, 20+2=22. #22", 22)
    assert task.chain_of_thought([3, 5]) == ("3+5=8. #8", 8)


def test_seeded_prompts_are_fixed():
    assert task.train_prompts(seed=0)[:3] == [[7, 4], [5, 5], [7, 2]]
    held = task.held_out_prompts(16, seed=0)
    assert held[:3] == [[1, 2], [1, 9], [2, 4]]
    assert held[16:18] == [[1, 6, 3, 2], [1, 9, 6, 1]]  # level 4 starts after 16 prompts of level 2
    assert [len(t) for t in held[::16]] == list(task.LEVELS)
    assert task.sample_terms(4, random.Random(3)) == [4, 9, 3, 6]


def test_split_is_disjoint_and_a_property_of_the_prompt():
    held = task.held_out_prompts(16)
    train = task.train_prompts(640)
    assert len(held) == 16 * len(task.LEVELS) and len({tuple(t) for t in held}) == len(held)
    assert all(task.is_held_out(t) for t in held)
    assert not any(task.is_held_out(t) for t in train)
    assert not {tuple(t) for t in held} & {tuple(t) for t in train}
    # level 2: 20 of the 81 tuples are held out, so 16 distinct ones exist
    assert sum(task.is_held_out(t) for t in product(range(1, 10), repeat=2)) == 20
    with pytest.raises(ValueError, match="fewer than 21 held-out"):
        task.held_out_prompts(21)


def test_hardest_level_needs_64_to_256_tokens(tokenizer):
    text, total = task.chain_of_thought([7, 4, 9, 2, 1, 5, 8, 3, 6, 9])
    assert text == "7+4=11, 11+9=20, 20+2=22, 22+1=23, 23+5=28, 28+8=36, 36+3=39, 39+6=45, 45+9=54. #54"
    assert total == 54
    assert len(warmup.response_ids(tokenizer, text)) == 84  # 83 byte tokens + EOS
    # every held-out prompt of the hardest level: at least 64 tokens (one byte per character, EOS included)
    lengths = [len(warmup.response_ids(tokenizer, task.chain_of_thought(t)[0])) for t in task.held_out_prompts()[-16:]]
    assert 64 <= min(lengths) and max(lengths) <= 256


# ------------------------------------------------------------------------------------------------- annotator


def test_annotator_errors_are_plus_one_and_carry_on():
    # a wrong partial sum is one too high, and the next step starts from it
    assert task.chain_of_thought([7, 4, 9, 2], [True, False, False]) == ("7+4=12, 12+9=21, 21+2=23. #23", 23)
    assert task.chain_of_thought([7, 4, 9, 2], [False, True, True]) == ("7+4=11, 11+9=21, 21+2=24. #24", 24)
    # seeded: Random(1) draws 0.134, 0.847, 0.764 -> right, wrong, wrong at q = 0.5
    assert task.annotate([7, 4, 9, 2], 0.5, random.Random(1)) == ("7+4=11, 11+9=21, 21+2=24. #24", 24)
    assert task.annotate([7, 4, 9, 2, 1, 5, 8, 3, 6, 9], 0.76, random.Random(0))[1] == 56  # two errors: 54 + 2
    # errors never cancel: the final answer is the true sum plus the number of wrong steps
    rng = random.Random(5)
    for _ in range(200):
        terms = task.sample_terms(rng.choice(task.LEVELS), rng)
        text, answer = task.annotate(terms, 0.6, rng)
        assert answer >= sum(terms) and text.endswith(f". #{answer}")
    assert task.annotate([1, 1], 1.0, rng)[1] == 2 and task.annotate([1, 1, 1], 0.0, rng)[1] == 5


def test_annotator_success_is_q_to_the_k_minus_one():
    rng = random.Random(0)
    hits = sum(task.annotate([1] * 6, 0.76, rng)[1] == 6 for _ in range(4000))
    assert hits / 4000 == pytest.approx(0.76**5, abs=0.02)


def test_training_batch_has_loss_on_the_response_only(tokenizer):
    ids, attention, labels = warmup.training_batch(tokenizer, random.Random(0), batch=4, q=0.76)
    for row in range(4):
        n = int(attention[row].sum())
        targets = labels[row][labels[row] != -100].tolist()
        assert targets[-1] == tokenizer.eos_token_id and targets == ids[row, n - len(targets) : n].tolist()
        text = tokenizer.decode(targets, skip_special_tokens=True)
        assert ". #" in text and "Compute" not in text


def test_generated_length_stops_at_the_first_eos():
    assert warmup.generated_length([5, 6, 2, 0, 0], eos_id=2) == (3, True)
    assert warmup.generated_length([5, 6, 7], eos_id=2) == (3, False)


# ---------------------------------------------------------------------------------------------------- reward


@pytest.mark.parametrize(
    "response, score",
    [
        ("7+4=11, 11+9=20, 20+2=22. #22", 1.0),  # correct
        ("7+4=12, 12+9=21, 21+2=22. #22", 1.0),  # the final answer only is checked
        ("  #22 \n", 1.0),
        ("7+4=11, 11+9=20, 20+2=23. #23", 0.0),  # wrong
        ("7+4=11, 11+9=20, 20+2=22. 22", 0.0),  # missing separator
        ("7+4=11, 11+9=20, 20+2=22.", 0.0),
        ("#22.", 0.0),  # malformed
        ("#2 2", 0.0),
        ("#-22", 0.0),
        ("#22 #21", 0.0),  # the LAST # counts
        ("#21 #22", 1.0),
        ("", 0.0),
    ],
)
def test_reward_on_the_final_answer(response, score):
    assert reward.compute_score("sppo_graded_k04", response, "22") == score


# -------------------------------------------------------------------------------------------------- parquets


def test_parquets_in_verl_schema_with_level(tmp_path):
    train, val = task.write_parquets(tmp_path, train_per_level=4, val_per_level=8)
    tr, va = pd.read_parquet(train), pd.read_parquet(val)
    assert len(tr) == 4 * len(task.LEVELS) and len(va) == 8 * len(task.LEVELS)
    row = tr.iloc[0]
    assert row["data_source"] == "sppo_graded_k02" and row["extra_info"]["level"] == 2
    assert list(row["prompt"]) == [{"role": "user", "content": "Compute 7+4"}]
    assert row["reward_model"]["ground_truth"] == "11"
    assert sorted(set(va["data_source"])) == [task.data_source(k) for k in task.LEVELS]
    assert all(e["level"] == len(e["terms"]) for e in va["extra_info"])
    held = {tuple(e["terms"]) for e in va["extra_info"]}
    assert not held & {tuple(e["terms"]) for e in tr["extra_info"]}


# ------------------------------------------------------------------------------------------ warm-start sums


def _fake_checkpoint(folder):
    folder.mkdir()
    for name in warm_start.MODEL_FILES:
        (folder / name).write_bytes(f"contents of {name}".encode())
    warm_start.write_sums(folder)
    return folder


def test_corrupted_warm_start_gives_one_line(tmp_path):
    copy = _fake_checkpoint(tmp_path / "warm_start")
    assert warm_start.verify(copy) == copy
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(warm_start.WarmStartError) as err:
        warm_start.install(tmp_path / "dest", copy)
    message = str(err.value)
    assert "\n" not in message and "model.safetensors: sha256" in message and "does not match SHA256SUMS" in message
    assert not (tmp_path / "dest").exists()
    (copy / "config.json").unlink()
    with pytest.raises(warm_start.WarmStartError, match="config.json: missing"):
        warm_start.verify(copy)
    (copy / "SHA256SUMS").unlink()
    with pytest.raises(warm_start.WarmStartError, match="SHA256SUMS: missing"):
        warm_start.verify(copy)


def test_install_copies_a_verified_checkpoint(tmp_path):
    source = _fake_checkpoint(tmp_path / "warm_start")
    dest = warm_start.install(tmp_path / "dest", source)
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == sorted(warm_start.MODEL_FILES)
    assert (tmp_path / "dest" / "config.json").read_text() == "contents of config.json" and dest.endswith("dest")


def test_write_sums_round_trip(tmp_path):
    for name in ("a.bin", "b.txt"):
        (tmp_path / name).write_bytes(name.encode())
    warm_start.write_sums(tmp_path, ("a.bin", "b.txt"))
    assert (tmp_path / "SHA256SUMS").read_text().splitlines() == [
        "4fef9cffec13baaa0b8bab5ae61005c5ee8bdb7880b255d60c27e8b7b45202ba  a.bin",  # sha256sum's format
        f"{warm_start.sha256(tmp_path / 'b.txt')}  b.txt",
    ]
    assert warm_start.verify(tmp_path) == tmp_path


# ------------------------------------------------------------------------------------------------------- CLIs


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--out", "x", "--q", "1.5"], "argument --q: must be <= 1.0, got 1.5"),
        (["--out", "x", "--steps", "0"], "argument --steps: must be >= 1, got 0"),
        ([], "the following arguments are required: --out"),
    ],
)
def test_warmup_bad_input_is_one_line(argv, message, capsys):
    assert warmup.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m sppo_lab.graded.warmup: error:") and message in err


def test_evaluate_bad_model_is_one_line(tmp_path, capsys):
    from sppo_lab.graded import evaluate

    assert evaluate.main(["--model", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip().endswith("no such file or directory")
    assert evaluate.main(["--model", str(tmp_path)]) == 2
    assert "not an HF model folder nor a one-rank verl actor checkpoint" in capsys.readouterr().err


def test_committed_warm_start_matches_its_checksums():
    assert warm_start.verify() == warm_start.WARM_START_DIR
    listed = [line.split()[1] for line in (warm_start.WARM_START_DIR / "SHA256SUMS").read_text().splitlines()]
    assert listed == [*warm_start.MODEL_FILES, "warmup_report.json"]
