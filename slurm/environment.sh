# Sourced by the sbatch scripts: one SLURM task per GPU (Lightning starts one process per task,
# and trainer.devices reads GPUS_PER_NODE), and the data and run folders.
export GPUS_PER_NODE="${SLURM_GPUS_PER_NODE:-${SLURM_NTASKS_PER_NODE:-1}}"
GPUS_PER_NODE="${GPUS_PER_NODE##*:}"  # "h100:8" -> "8"
if [ "${SLURM_NTASKS_PER_NODE:-$GPUS_PER_NODE}" != "$GPUS_PER_NODE" ]; then
  echo "error: --ntasks-per-node=${SLURM_NTASKS_PER_NODE} but ${GPUS_PER_NODE} GPUs per node; Lightning needs one task per GPU" >&2
  exit 2
fi
export MLLM_DATA="${MLLM_DATA:-data}" MLLM_RUNS="${MLLM_RUNS:-runs}"
