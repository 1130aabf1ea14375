"""Offline evaluation of math policies: sample, score, report, compare.

    python -m sppo.eval generate --model MODEL_OR_CKPT --benchmarks all5 --k 8 --out runs/eval/NAME
    python -m sppo.eval score runs/eval/NAME
    python -m sppo.eval compare runs/eval/A runs/eval/B metrics.jsonl --out runs/compare

Modules (one concern each):
  benchmarks  names of the five benchmarks, their official files, problem grouping
  checkpoint  model directory vs verl FSDP checkpoint; conversion with verl's model merger
  backends    one small interface, two samplers: vLLM (GPU) and Hugging Face generate (CPU/GPU)
  generate    resumable sampling of k responses per problem into parquet shards
  metrics     avg@k, unbiased pass@k, maj@k (pure functions)
  score       responses parquet (ours or verl's main_generation output) -> per-benchmark metrics
  report      JSON / CSV / Markdown tables and PNG plots
  compare     several runs side by side, score vs step / wall-clock hours
See docs/evaluation.md.
"""
