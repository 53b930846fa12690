#!/usr/bin/env bash
# Issue 4's full-size check on one H100: stage 2 of a random-initialised Llama-3.1-8B + CLIP
# ViT-L/14-336 under FSDP (world size 1) with LoRA, then with QLoRA, each for 30 steps with a
# checkpoint at step 15 and a resume from it; prints step time, peak memory and checkpoint size.
# Same wheels as gpu_check_core.sh. Usage: bash scripts/gpu_check_scale.sh [output folder] [size]
# (size "small" runs the same path on CPU-sized backbones without FSDP, to check the script).
set -uo pipefail
out=${1:-${OUT:-/tmp/gpu_check}}
size=${2:-full}
mkdir -p "$out"
source "$(dirname "$0")/gpu_env.sh"
export GPUS_PER_NODE=1 SLURM_NNODES=1
python3 scripts/random_backbones.py --out /tmp/scale-backbones --size "$size" | tee "$out/scale_backbones.txt"
trainer=(--config configs/trainer/fsdp.yaml)
[ "$size" = full ] || trainer=()
common=(--config configs/demo.yaml "${trainer[@]}" --config configs/stage/stage2.yaml
  --model.llm /tmp/scale-backbones/llm --model.vision_tower /tmp/scale-backbones/vision
  --model.connector linear --model.max_length 1024 --data.init_args.batch_size 4
  --data.init_args.num_workers 6 --data.init_args.samples_per_epoch 100000 --trainer.max_steps 30
  --trainer.limit_val_batches 0 --trainer.enable_progress_bar false --trainer.callbacks+=callbacks.SampleLedger)
[ "$size" = full ] && common+=(--model.llm_dtype bfloat16)
for variant in lora qlora; do
  extra=()
  [ "$variant" = qlora ] && extra=(--config configs/stage/stage2-qlora.yaml)
  root=/tmp/scale-$variant
  timeout 900 python3 train.py fit "${common[@]}" "${extra[@]}" \
    --trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint --trainer.callbacks.every_n_train_steps=15 \
    --trainer.callbacks.save_top_k=-1 --trainer.default_root_dir $root --trainer.logger.init_args.save_dir $root \
    2>&1 | tail -20 | tee "$out/scale_$variant.txt"
  ckpt=$(ls -d $root/demo/version_0/checkpoints/*step=15* 2>/dev/null | head -1)
  echo "step-15 checkpoint: ${ckpt:-none} ($(du -sh "$ckpt" 2>/dev/null | cut -f1))" | tee -a "$out/scale_$variant.txt"
  timeout 900 python3 train.py fit "${common[@]}" "${extra[@]}" --ckpt_path "$ckpt" \
    --trainer.default_root_dir $root-resumed --trainer.logger.init_args.save_dir $root-resumed \
    2>&1 | tail -5 | tee -a "$out/scale_$variant.txt"
  python3 - "$root" <<'PY' | tee -a "$out/scale_$variant.txt"
import json, statistics, sys
def ledger(path):
    with open(path) as f:
        return {e["step"]: e for e in map(json.loads, f)}
full = ledger(sys.argv[1] + "/demo/version_0/samples.rank0.jsonl")
resumed = ledger(sys.argv[1] + "-resumed/demo/version_0/samples.rank0.jsonl")
steps = sorted(full)
times = [full[b]["time"] - full[a]["time"] for a, b in zip(steps[5:], steps[6:])]
print(f"median step time (steps 6-30): {statistics.median(times):.3f} s; "
      f"peak memory: {max(e.get('peak_memory_gib', 0) for e in full.values()):.1f} GiB")
diffs = [abs(resumed[s]["loss"] - full[s]["loss"]) for s in resumed if s in full]
print(f"resumed steps {min(resumed)}..{max(resumed)}; max |loss difference| vs uninterrupted: {max(diffs):.2e}")
PY
done
