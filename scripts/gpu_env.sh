# Sourced by the GPU check scripts: installs the wheels carried in .whl/ (packages the GPU
# machine lacks: it reaches no package index, so they travel with the working tree) into /tmp/site
# and sets the shared environment. The machine starts bare and runs each command under a time limit,
# so nothing installed here is assumed to survive between runs.
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 LIGHTNING_MLLM_CACHE=/tmp/mllm-cache TOKENIZERS_PARALLELISM=false
