#!/usr/bin/env bash
# The owed GPU figures in one budgeted run, highest priority first (lightning_mllm/gpu_check.py):
# stage-2 bench beside the transformers + peft baseline, QLoRA memory at micro-batch 2, FSDP sharded
# checkpoint + resume, the GPU demo, evaluation throughput, then the test suite. One JSON per check
# lands in OUT as soon as it ends; what no longer fits the budget is skipped and says so.
# Wheels the device image lacks travel in .whl/ (scripts/gpu_env.sh installs them).
# Usage: bash scripts/gpu_check.sh OUT [--budget SECONDS] [--dry-run] [--only CHECK ...]
set -uo pipefail
out=${1:?usage: bash scripts/gpu_check.sh OUT [--budget 540] [--dry-run]}
shift
cd "$(dirname "$0")/.."
source scripts/gpu_env.sh
exec python3 -m lightning_mllm.gpu_check "$out" "$@"
