"""What the grid's jobs run after training: the final checkpoint of a run (consolidated when FSDP
wrote it sharded), the evaluation commands of one run and the sweep report's command."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PYTHON = "python"  # the job's environment (slurm/environment.sh), as in the sbatch scripts


def final_checkpoint(run_dir: str | Path) -> Path:
    """The newest checkpoint a run wrote under ``run_dir/*/checkpoints``, as one file.

    A sharded FSDP checkpoint (a folder) is consolidated next to it, once, through Lightning's
    ``lightning.pytorch.utilities.consolidate_checkpoint`` (written under a temporary name and
    renamed, so a killed job never leaves half a file under the final name).
    """
    found = [p for p in Path(run_dir).glob("*/checkpoints/*.ckpt") if not p.name.startswith(".")]
    if not found:
        raise SystemExit(f"error: no checkpoint under {run_dir}/*/checkpoints; did the training run finish?")
    newest = max(found, key=lambda p: p.stat().st_mtime)
    if newest.is_file():
        return newest
    target = newest.with_name(newest.name + ".consolidated")
    if not target.is_file():
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        subprocess.run([PYTHON, "-m", "lightning.pytorch.utilities.consolidate_checkpoint", str(newest),
                        "--output_file", str(partial)], check=True)
        os.replace(partial, target)
    return target


def evaluation_commands(checkpoint: str, out: str, name: str, backbone: str, basque_share: int, method: str,
                        llm: str) -> list[list[str]]:
    """The commands that evaluate one trained run: the multimodal benchmarks
    (``configs/eval/paper.yaml``) and the text-only benchmarks of its LLM.

    LoRA runs score the LLM as the base model plus the run's adapter; full fine-tuning exports the
    merged LLM first (``python -m slurm.export_llm``).
    """
    tags = ["--name", name, "--backbone", backbone, "--basque_share", str(basque_share)]
    commands = [[PYTHON, "-m", "lightning_mllm.evaluate", "--config", "configs/eval/paper.yaml",
                 "--checkpoint", checkpoint, "--out", out, *tags]]
    text = [PYTHON, "-m", "lightning_mllm.text_benchmarks", "--tasks", "paper", "--out", f"{out}/text.json",
            "--checkpoint", checkpoint, *tags]
    if method == "full":
        commands.append([PYTHON, "-m", "slurm.export_llm", "--checkpoint", checkpoint, "--out", f"{out}/llm"])
        commands.append([*text, "--model", f"{out}/llm"])
    else:
        commands.append([PYTHON, "-m", "lightning_mllm.export", "--checkpoint", checkpoint,
                         "--out", f"{out}/export", "--adapter_only"])
        commands.append([*text, "--model", llm, "--adapter", f"{out}/export/adapter"])
    return commands


def already_written(command: list[str]) -> bool:
    """An export whose folder a previous attempt of the job wrote (exports refuse to overwrite)."""
    exports = "lightning_mllm.export" in command or "slurm.export_llm" in command
    return exports and Path(command[command.index("--out") + 1]).is_dir()


def report_command(eval_root: str, out: str) -> list[str]:
    """The sweep report over every evaluated run under ``eval_root`` (the paper's Figures 2/3)."""
    results = sorted(str(p) for pattern in ("*/results.json", "*/text.json") for p in Path(eval_root).glob(pattern))
    if not results:
        raise SystemExit(f"error: no results.json or text.json under {eval_root}/*; did the evaluation jobs run?")
    return [PYTHON, "-m", "lightning_mllm.sweep_report", *results, "--out", out]
