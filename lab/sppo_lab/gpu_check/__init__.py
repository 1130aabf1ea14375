"""The one-command GPU check (``bash run_scripts/gpu_check.sh``, ``python -m sppo_lab.gpu_check``).

Modules:
  report        pure helpers: named assertions, weight and optimizer-state equality, the dataloader position,
                score agreement, memory/throughput extraction from verl's metrics, nvidia-smi samples, the rollout
                server's log line, the JSON report (unit-tested on CPU)
  engine_check  SPPO's critic through verl's own value engine (``TrainingWorker`` + ``FSDPEngineWithValueHead``,
                remove-padding on): packed == padded == per-sequence == prompt+response V(s_p); BCE steps
                (device-agnostic: ``--device cpu`` fp32 is a unit test, ``--device cuda`` bf16 is a GPU stage)
  e2e           ``python -m sppo.main`` end to end: two steps + checkpoint, then a resume whose weights and optimizer
                states equal the saved ones and whose dataloader is one batch further (vLLM rollout on CUDA, hf
                rollout with ``--device cpu``)
  evalcheck     ``python -m sppo.eval generate --backend vllm`` (eager: eager_eval) vs ``--backend hf`` + ``score``
                on the trained checkpoint, agreeing within sampling noise
  eager_eval    ``python -m sppo.eval`` with vLLM's ``enforce_eager`` on
  cuda_driver   nvidia-smi's GPUs that torch cannot use (a driver too old for torch's CUDA build): one line
  driver        runs each stage in its own subprocess with its time cap, samples nvidia-smi on the GPU in use,
                writes the report (each stage's seconds beside its budget)

Without CUDA the driver prints one line saying it was skipped and exits 0 (no report is written), unless
nvidia-smi lists GPUs that torch cannot use: one line naming the driver needed, exit 1.
See docs/running.md, "GPU check".
"""
