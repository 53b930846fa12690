#!/usr/bin/env bash
# GPU compatibility check for the core (issue 2), run on the lent GPU machine (torch 2.11,
# transformers 5.17): the CPU test suite under that stack, then the demo trained on the GPU in
# bf16. Missing packages travel as wheels in .whl/ (see .library/device/README.md).
# Usage: bash scripts/gpu_check_core.sh [output folder]
set -uo pipefail
out=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$out"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 LIGHTNING_MLLM_CACHE=/tmp/mllm-cache
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
