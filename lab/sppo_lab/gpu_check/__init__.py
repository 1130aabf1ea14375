"""The one-command GPU check (``bash run_scripts/gpu_check.sh``, ``python -m sppo_lab.gpu_check``).

Modules:
  report        pure helpers: named assertions, weight equality, score agreement, memory/throughput
                extraction from verl's metrics, nvidia-smi samples, the JSON report (unit-tested on CPU)
  engine_check  SPPO's critic through verl's own value engine (``TrainingWorker`` + ``FSDPEngineWithValueHead``,
                remove-padding on): packed == padded == per-sequence == prompt+response V(s_p); BCE steps
                (device-agnostic: ``--device cpu`` fp32 is a unit test, ``--device cuda`` bf16 is a GPU stage)
  e2e           ``python -m sppo.main`` end to end: two steps + checkpoint, then a resume whose weights equal
                the saved ones (vLLM rollout on CUDA, hf rollout with ``--device cpu``)
  evalcheck     ``python -m sppo.eval generate --backend vllm`` vs ``--backend hf`` + ``score`` on the trained
                checkpoint, agreeing within sampling noise
  driver        runs each stage in its own subprocess with a timeout, samples nvidia-smi, writes the report

Without CUDA the driver prints one line saying it was skipped and exits 0 (no report is written).
See docs/running.md, "GPU check".
"""
