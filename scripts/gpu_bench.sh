#!/usr/bin/env bash
# Issue 7's speed figures on one H100 (about 6 minutes; random Llama-3.1-8B + CLIP-L/336 weights are
# saved once under /tmp/bench-cache first, about a minute):
#   (a) DESIGN.md's baseline: LLaVA + peft, 576 + 256 tokens at batch 4 without checkpointing
#       (8.5 samples/s, 22% MFU there) and 60..700 text tokens at batch 16 with it (4.3, 14%);
#   (b) the project's stage 2 with packed rows and bf16 LoRA on the varied workload (the probe:
#       10.0 samples/s, 31% MFU with rows of about 6k tokens);
#   (c) the project's QLoRA stage 2 with the GPU capped at 24 GiB.
# Missing packages travel as wheels in .whl/ (as in gpu_check_core.sh).
# Usage: bash scripts/gpu_bench.sh [output folder]
set -uo pipefail
out=${1:-${OUT:-/tmp/gpu_bench}}
mkdir -p "$out"
source "$(dirname "$0")/gpu_env.sh"
bench() {  # name, time limit in seconds, bench arguments
  local name=$1 limit=$2
  shift 2
  timeout "$limit" python3 -m lightning_mllm.bench --cache_dir /tmp/bench-cache --text_only_share 0 \
    --out "$out/$name.json" "$@" > "$out/$name.txt" 2>&1
  echo "== $name (exit $?): $*"
  grep -v "^\[bench" "$out/$name.txt" | tail -8
}
bench a-uniform 200 --runs baseline-stage2 --batch_size 4 --baseline_checkpointing off --text_min 256 --text_max 256
bench a-varied 120 --runs baseline-stage2 --batch_size 16 --baseline_checkpointing on --warmup 2 --steps 6
bench b-packed 100 --runs project-stage2 --batch_size 6 --pack_length 8192 --lora_dtype bfloat16
# 24 GiB of whatever card this is, as a share of its memory.
fraction=$(python3 -c "import torch; print(24 * 2**30 / torch.cuda.get_device_properties(0).total_memory)")
bench c-qlora 140 --runs project-stage2 --load_in_4bit --gradient_checkpointing --lora_dtype bfloat16 \
  --pack_length 4096 --batch_size 8 --memory_fraction "$fraction"
