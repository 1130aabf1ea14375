"""``score``: per-benchmark metrics from a responses parquet.

    python -m sppo.eval score runs/eval/NAME                      # the generate output directory
    python -m sppo.eval score responses.parquet --out runs/eval/NAME/scores
    python -m sppo.eval score verl_gen.parquet --tokenizer MODEL --max-tokens 8192   # verl's format

Inputs:
* ours (``sppo.eval generate``): one row per sample with ``data_source``, ``benchmark``,
  ``problem_id``, ``sample_idx``, ``response``, ``ground_truth`` (``response_tokens``,
  ``truncated`` optional);
* verl's ``main_generation`` output: the benchmark parquet plus ``responses`` (a list of k
  strings per row). Rows are grouped into problems as in :mod:`sppo.eval.benchmarks`; the label
  comes from ``--benchmark`` or the ``data_source``. Token counts need ``--tokenizer`` (they then
  exclude the end-of-sequence token) and truncation needs ``--max-tokens`` too (``tokens >=
  max_tokens``); otherwise both are reported as unknown.

Outputs (``--out``, default: the input's directory): ``metrics.json``, ``metrics.csv``,
``metrics.md``, ``scored.parquet`` (each sample with ``acc``, ``pred``), ``bar_<benchmark>.png``,
``pass_at_k.png``. See :mod:`sppo.eval.metrics` for the definitions.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from sppo.cli_errors import atomic_path, check_output_dir
from sppo.eval.benchmarks import (
    PAPER_MEAN,
    benchmark_for,
    ground_truth_of,
    messages_of,
    problem_key,
    read_parquet,
)
from sppo.eval.errors import EvalError
from sppo.eval.generate import META, RESPONSES

OURS_REQUIRED = ("data_source", "benchmark", "problem_id", "sample_idx", "response", "ground_truth")
VERL_REQUIRED = ("data_source", "prompt", "reward_model", "responses")


def locate(path: str | Path) -> tuple[Path, dict[str, Any] | None]:
    """The responses parquet of ``path`` (a file, or a generate directory) and its ``meta.json``."""
    path = Path(path)
    if path.is_dir():
        if not (path / RESPONSES).is_file():
            raise EvalError(f"{path}: no {RESPONSES} (run python -m sppo.eval generate ... --out {path} first)")
        path = path / RESPONSES
    elif not path.is_file():
        raise EvalError(f"{path}: no such file or directory")
    meta_path = path.parent / META
    meta = None
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise EvalError(f"{meta_path}: corrupt meta.json ({exc})") from None
        if not isinstance(meta, dict):
            raise EvalError(f"{meta_path}: corrupt meta.json (not a JSON object)")
    return path, meta


def _null(value: Any) -> bool:
    """A null parquet cell as pandas reads it (None, NaN, NaT)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("NaT", "<NA>")


def _integer(value: Any) -> int | None:
    """``value`` as an integer (an integer-valued float counts: pandas stores an int column with a null as floats),
    or None."""
    if isinstance(value, bool) or _null(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _sample_row_problem(row: dict[str, Any]) -> str | None:
    """What makes one sample row unscorable, or None. A silently dropped or mis-counted row would change the
    metrics: pandas' groupby drops a null ``benchmark`` or ``problem_id``, and a token count or truncation flag
    outside its range skews the means."""
    from sppo.data.schema import answer_problem

    for column in ("data_source", "benchmark"):
        value = row[column]
        if not isinstance(value, str) or not value.strip():
            return f"{column} is {'missing' if _null(value) else repr(value)}, expected a name"
    if _null(row["problem_id"]) or isinstance(row["problem_id"], bool):
        return f"problem_id is {'missing' if _null(row['problem_id']) else repr(row['problem_id'])}"
    index = _integer(row["sample_idx"])
    if index is None or index < 0:
        return f"sample_idx is {'missing' if _null(row['sample_idx']) else repr(row['sample_idx'])}, expected an integer >= 0"
    problem = answer_problem(row["ground_truth"], numbers=True)
    if problem:
        return problem
    response = row["response"]
    if not isinstance(response, str):
        return f"response is {'missing' if _null(response) else type(response).__name__}, expected text"
    tokens = row.get("response_tokens")
    tokens = tokens.item() if hasattr(tokens, "item") else tokens
    if tokens is not None and not _null(tokens):
        if isinstance(tokens, bool) or not isinstance(tokens, (int, float)) or not math.isfinite(tokens) or tokens < 0:
            return f"response_tokens is {tokens!r}, expected a count >= 0 (or null: unknown)"
    truncated = row.get("truncated")
    if truncated is not None and not _null(truncated) and truncated not in (0, 1):  # True == 1, False == 0
        return f"truncated is {truncated!r}, expected true/false or 0/1 (or null: unknown)"
    return None


def _bad_sample_rows(frame: Any) -> list[tuple[int, str]]:
    """(row, problem) of every sample row that cannot be scored as it is (:func:`_sample_row_problem`): the answer
    rule of :func:`sppo.data.schema.answer_problem` (a number is read as its string), a response that is text,
    identifiers that are present (``sample_idx`` an integer >= 0), counts in range."""
    optional = [c for c in ("response_tokens", "truncated") if c in frame.columns]
    columns = [*OURS_REQUIRED, *optional]
    bad = []
    for index, values in enumerate(frame[columns].itertuples(index=False, name=None)):
        problem = _sample_row_problem(dict(zip(columns, values, strict=True)))
        if problem:
            bad.append((index, problem))
    return bad


def from_verl(frame: Any, path: Path, benchmark: str | None, tokenizer: str | None, max_tokens: int | None) -> Any:
    """verl ``main_generation`` rows (``responses``: list of k strings) -> one row per sample."""
    import pandas as pd

    keys: dict[tuple[str, str], int] = {}
    problems_in: dict[str, int] = {}
    counters: dict[tuple[str, int], int] = {}
    rows = []
    for row_index, row in enumerate(frame[list(VERL_REQUIRED)].itertuples(index=False)):
        try:
            messages, truth = messages_of(row.prompt), ground_truth_of(row.reward_model)
        except EvalError as exc:
            raise EvalError(f"{path}: row {row_index}: {exc}") from None
        label = benchmark or benchmark_for(path, str(row.data_source)) or path.stem
        key = (label, problem_key(messages, truth))
        if key not in keys:
            keys[key] = problems_in.get(label, 0)
            problems_in[label] = keys[key] + 1
        problem_id = keys[key]
        responses = row.responses.tolist() if hasattr(row.responses, "tolist") else row.responses
        if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            raise EvalError(f"{path}: row {row_index}: 'responses' must be a list of strings")
        if not responses:  # the row's problem would silently leave the benchmark
            raise EvalError(f"{path}: row {row_index}: 'responses' is empty (every row needs at least one response)")
        for response in responses:
            sample_idx = counters.get((label, problem_id), 0)
            counters[(label, problem_id)] = sample_idx + 1
            rows.append({
                "data_source": str(row.data_source), "benchmark": label, "problem_id": problem_id,
                "sample_idx": sample_idx, "row_index": row_index, "response": response, "ground_truth": truth,
            })  # fmt: skip
    out = pd.DataFrame(rows)
    out["response_tokens"] = math.nan
    out["truncated"] = math.nan
    if tokenizer and len(out):
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(tokenizer)
        except Exception as exc:  # noqa: BLE001 - transformers raises OSError, ValueError, ... for a bad path
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EvalError(f"--tokenizer {tokenizer}: cannot be loaded ({first})") from None
        out["response_tokens"] = [float(len(tok(r, add_special_tokens=False)["input_ids"])) for r in out["response"]]
        if max_tokens:
            out["truncated"] = (out["response_tokens"] >= max_tokens).astype(float)
    return out


def load_responses(
    path: str | Path,
    benchmark: str | None = None,
    tokenizer: str | None = None,
    max_tokens: int | None = None,
) -> tuple[Any, dict[str, Any] | None]:
    """One row per sample (columns of :data:`OURS_REQUIRED` + ``response_tokens``, ``truncated``
    as floats, NaN = unknown) from either format, and the generate ``meta.json`` if any."""
    file, meta = locate(path)
    frame = read_parquet(file)
    if "response" in frame.columns:
        given = [flag for flag, value in (("--tokenizer", tokenizer), ("--max-tokens", max_tokens)) if value]
        if given:
            raise EvalError(
                f"{' and '.join(given)} apply to verl's main_generation format; {file} is sppo.eval generate's, "
                "which records each response's tokens and truncation: drop them"
            )
        missing = [c for c in OURS_REQUIRED if c not in frame.columns]
        if missing:
            raise EvalError(f"{file}: missing column(s) {', '.join(missing)}")
        bad = _bad_sample_rows(frame)
        if bad:
            raise EvalError(f"{file}: {len(bad)} bad row(s) (first: row {bad[0][0]}: {bad[0][1]})")
        frame = frame.copy()
        frame["ground_truth"] = [ground_truth_of({"ground_truth": t}) for t in frame["ground_truth"]]
        if benchmark:
            frame["benchmark"] = benchmark
        for column in ("response_tokens", "truncated"):
            frame[column] = frame[column].astype(float) if column in frame.columns else math.nan
    elif "responses" in frame.columns:
        if max_tokens and not tokenizer:
            raise EvalError("--max-tokens needs --tokenizer (truncation is read from the response's token count)")
        missing = [c for c in VERL_REQUIRED if c not in frame.columns]
        if missing:
            raise EvalError(f"{file}: missing column(s) {', '.join(missing)}")
        frame = from_verl(frame, file, benchmark, tokenizer, max_tokens)
    else:
        raise EvalError(
            f"{file}: missing column 'response' (sppo.eval generate output) or 'responses' (verl main_generation output)"
        )
    if len(frame) == 0:
        raise EvalError(f"{file}: no responses")
    duplicated = frame.duplicated(["benchmark", "problem_id", "sample_idx"])
    if duplicated.any():
        raise EvalError(f"{file}: {int(duplicated.sum())} duplicate (benchmark, problem_id, sample_idx) rows")
    return frame, meta


def score_frame(frame: Any, num_workers: int | None = None, timeout_s: float = 5.0) -> Any:
    """``frame`` plus ``acc`` (bool), ``pred`` (str or None), ``has_answer``, ``timed_out``, ``score``."""
    from sppo.reward import UnknownDataSourceError, compute_scores_batch

    items = list(zip(frame["data_source"], frame["response"], frame["ground_truth"], strict=True))
    try:
        results = compute_scores_batch(items, num_workers=num_workers, progress=len(items) > 200, timeout_s=timeout_s)
    except UnknownDataSourceError as exc:
        raise EvalError(str(exc)) from None
    frame = frame.copy()
    for column in ("score", "acc", "pred", "has_answer", "timed_out"):
        frame[column] = [r[column] for r in results]
    return frame


def compute(scored: Any) -> dict[str, Any]:
    """``{"benchmarks": {label: metrics}, "mean": mean row, "paper_mean5": avg mean or None}``.

    ``mean`` averages every benchmark present; ``paper_mean5`` is the paper's headline number, the
    mean of avg@k over AIME24, AIME25, AMC23, MATH500 and Minerva, given only when all five are present.
    """
    from sppo.eval.metrics import benchmark_metrics, mean_row

    per = {str(name): benchmark_metrics(group) for name, group in scored.groupby("benchmark", sort=True)}
    order = [n for n in PAPER_MEAN if n in per] + sorted(n for n in per if n not in PAPER_MEAN)
    per = {n: per[n] for n in order}
    has_all5 = all(n in per for n in PAPER_MEAN)
    return {
        "benchmarks": per,
        "mean": mean_row(per, list(per)),
        "paper_mean5": mean_row(per, PAPER_MEAN)["avg"] if has_all5 else None,
    }


def run(
    path: str | Path,
    out: str | Path | None = None,
    benchmark: str | None = None,
    tokenizer: str | None = None,
    max_tokens: int | None = None,
    num_workers: int | None = None,
    timeout_s: float = 5.0,
    plots: bool = True,
) -> dict[str, Any]:
    """Score ``path`` and write the tables and plots to ``out``; returns the metrics.json content."""
    from sppo.eval import report

    if max_tokens is not None and max_tokens < 1:
        raise EvalError(f"--max-tokens must be >= 1, got {max_tokens}")
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise EvalError(f"--timeout must be a finite number > 0, got {timeout_s}")
    if num_workers is not None and num_workers < 1:
        raise EvalError(f"--workers must be >= 1, got {num_workers}")
    file, _ = locate(path)
    out = check_output_dir(out) if out is not None else check_output_dir(file.parent, flag="the responses' folder")
    frame, meta = load_responses(path, benchmark, tokenizer, max_tokens)
    if meta is not None and not meta.get("complete", True):
        print(f"sppo.eval score: warning: {file} is incomplete ({meta.get('samples')} samples so far)")
    scored = score_frame(frame, num_workers, timeout_s)
    metrics = compute(scored)
    metrics["source"] = {
        "responses": str(file),
        "model": (meta or {}).get("settings", {}).get("model"),
        "step": (meta or {}).get("step"),
        "generation_seconds": (meta or {}).get("generation_seconds"),
        "settings": (meta or {}).get("settings"),
    }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "scored.parquet") as tmp:
        scored.to_parquet(tmp, index=False)
    report.write_tables(metrics, out)
    if plots:
        report.write_plots(metrics, out)
    print(report.markdown_table(metrics), end="")
    return metrics
