#!/usr/bin/env bash
# GPU compatibility check, run on the lent GPU machine (torch 2.11, transformers 5.17): the CPU
# test suite under that stack, the demo trained on the GPU in bf16, then FSDP (world size 1) on
# the tiny model with a sharded checkpoint and a resume. Missing packages travel as wheels in
# .whl/ (see .library/device/README.md); pyarrow is not carried, so the Parquet test skips there.
# Usage: bash scripts/gpu_check_core.sh [output folder]
set -uo pipefail
out=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$out"
source "$(dirname "$0")/gpu_env.sh"
python3 - <<'PY' | tee "$out/versions.txt"
import torch, transformers, lightning, peft
print("torch", torch.__version__, "transformers", transformers.__version__, "lightning", lightning.__version__,
      "peft", peft.__version__, "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
PY
timeout 240 python3 -m pytest -q -x -p no:cacheprovider tests 2>&1 | tail -25 | tee "$out/pytest.txt"
start=$(date +%s)
timeout 300 python3 train.py fit --config configs/demo.yaml --config configs/trainer/gpu.yaml \
  --data.init_args.num_workers 6 --trainer.enable_progress_bar false \
  --trainer.default_root_dir /tmp/gpu_demo --trainer.logger.init_args.save_dir /tmp/gpu_demo 2>&1 | tail -15 | tee "$out/demo.txt"
echo "demo wall seconds: $(( $(date +%s) - start ))" | tee -a "$out/demo.txt"
python3 - /tmp/gpu_demo <<'PY' | tee -a "$out/demo.txt"
import glob, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
for run in sorted(glob.glob(sys.argv[1] + "/demo/version_*")):
    events = EventAccumulator(run); events.Reload()
    for tag in sorted(events.Tags()["scalars"]):
        if tag.startswith("val/") or tag == "train/loss":
            print(f"{tag} = {events.Scalars(tag)[-1].value:.4f} (step {events.Scalars(tag)[-1].step})")
PY

# FSDP with world size 1 on the tiny model (issue 4): the wrap policy, LoRA with use_orig_params,
# sharded checkpoints, and a resume from step 20 that must repeat the uninterrupted losses.
fsdp_args=(--config configs/demo.yaml --config configs/trainer/fsdp.yaml --model.stage stage2
  --data.init_args.num_workers 4 --trainer.enable_progress_bar false --trainer.limit_val_batches 0
  --trainer.max_steps 40 --trainer.callbacks+=callbacks.SampleLedger)
export GPUS_PER_NODE=1 SLURM_NNODES=1
timeout 300 python3 train.py fit "${fsdp_args[@]}" \
  --trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint --trainer.callbacks.every_n_train_steps=20 \
  --trainer.callbacks.save_top_k=-1 --trainer.default_root_dir /tmp/gpu_fsdp \
  --trainer.logger.init_args.save_dir /tmp/gpu_fsdp 2>&1 | tail -12 | tee "$out/fsdp.txt"
ckpt=$(ls -d /tmp/gpu_fsdp/demo/version_0/checkpoints/*step=20* 2>/dev/null | head -1)
echo "step-20 checkpoint: ${ckpt:-none} ($(du -sh "$ckpt" 2>/dev/null | cut -f1))" | tee -a "$out/fsdp.txt"
timeout 300 python3 train.py fit "${fsdp_args[@]}" --ckpt_path "$ckpt" --trainer.default_root_dir /tmp/gpu_fsdp_resumed \
  --trainer.logger.init_args.save_dir /tmp/gpu_fsdp_resumed 2>&1 | tail -8 | tee -a "$out/fsdp.txt"
python3 - <<'PY' | tee -a "$out/fsdp.txt"
import json
def losses(path):
    with open(path) as f:
        return {e["step"]: e["loss"] for e in map(json.loads, f)}
full = losses("/tmp/gpu_fsdp/demo/version_0/samples.rank0.jsonl")
resumed = losses("/tmp/gpu_fsdp_resumed/demo/version_0/samples.rank0.jsonl")
diffs = [abs(resumed[s] - full[s]) for s in resumed if s in full]
print(f"resumed steps {min(resumed)}..{max(resumed)}; max |loss difference| vs uninterrupted: {max(diffs):.2e}")
PY
