"""The paper's grid on SLURM: run from the repository root as ``python -m slurm.grid ...`` and
``python -m slurm.export_llm ...``; the ``*.sbatch`` scripts beside this file do the same."""
