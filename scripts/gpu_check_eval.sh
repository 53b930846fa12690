#!/usr/bin/env bash
# Issue 5's GPU check on one H100: evaluation throughput of a full-size model (random
# Llama-3.1-8B + CLIP ViT-L/14-336, a 2-step stage-2 LoRA checkpoint) on the synthetic English and
# Basque benchmarks, one prompt per call against batches of 32 (left padding + KV cache), then
# `train.py test` on the same checkpoint. Same wheels as gpu_check_core.sh.
# Usage: bash scripts/gpu_check_eval.sh [output folder] [size]   (size "small": CPU-sized check)
set -uo pipefail
out=${1:-${OUT:-/tmp/gpu_check}}
size=${2:-full}
mkdir -p "$out"
source "$(dirname "$0")/gpu_env.sh"
[ -d /tmp/scale-backbones/llm ] || python3 scripts/random_backbones.py --out /tmp/scale-backbones --size "$size"
trainer=(--config configs/trainer/gpu.yaml)
[ "$size" = full ] || trainer=()
root=/tmp/eval-check
timeout 600 python3 train.py fit --config configs/demo.yaml "${trainer[@]}" --config configs/stage/stage2.yaml \
  --model.llm /tmp/scale-backbones/llm --model.vision_tower /tmp/scale-backbones/vision --model.connector linear \
  --model.llm_dtype bfloat16 --model.max_length 1024 --data.init_args.batch_size 2 --data.init_args.samples_per_epoch 4 \
  --trainer.limit_val_batches 0 --trainer.enable_progress_bar false \
  --trainer.default_root_dir $root --trainer.logger.init_args.save_dir $root 2>&1 | tail -3
ckpt=$(ls $root/demo/version_0/checkpoints/*.ckpt | head -1)
python3 -m datamodules.synthetic_benchmarks --root /tmp/eval-bench --per-language 64
sed "s#data/synthetic-bench#/tmp/eval-bench#g" configs/eval/demo.yaml > /tmp/eval-bench/eval.yaml
for batch in 1 32; do
  timeout 600 python3 -m lightning_mllm.evaluate --config /tmp/eval-bench/eval.yaml --checkpoint "$ckpt" \
    --batch_size $batch --out "$out/eval_b$batch" --progress false 2>&1 | tail -12 | tee "$out/eval_b$batch.txt"
done
sed "s#data/synthetic-bench#/tmp/eval-bench#g" configs/test/demo.yaml > /tmp/eval-bench/test.yaml
timeout 600 python3 train.py test --config configs/demo.yaml "${trainer[@]}" --config /tmp/eval-bench/test.yaml \
  --model.llm /tmp/scale-backbones/llm --model.vision_tower /tmp/scale-backbones/vision --model.connector linear \
  --model.llm_dtype bfloat16 --model.max_length 1024 --data.init_args.out "$out/test" --ckpt_path "$ckpt" 2>&1 | tail -8 | tee "$out/test.txt"
