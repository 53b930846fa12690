# Sourced by the GPU check scripts: installs the wheels carried in .whl/ (packages the GPU
# machine lacks; see .library/device/README.md) into /tmp/site and sets the shared environment.
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 LIGHTNING_MLLM_CACHE=/tmp/mllm-cache TOKENIZERS_PARALLELISM=false
