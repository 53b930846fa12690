"""SLURM submission: every element of the paper's grid resolves to a valid config; a mismatch
between SLURM tasks and trainer devices is caught before submitting."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def grid():
    spec = importlib.util.spec_from_file_location("slurm_grid", ROOT / "slurm" / "grid.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["slurm_grid"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_array_element_dry_runs_to_a_valid_config(grid, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MLLM_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MLLM_STAGE1", str(tmp_path / "stage1"))
    grid.main(["submit", "--dry-run", "--gpus-per-node", "8"])
    out = capsys.readouterr().out
    documents = out.split("# [")[1:]
    assert len(documents) == len(grid.GRID) == 20
    seen = set()
    for element, document in zip(grid.GRID, documents):
        header, _, body = document.partition("\n")
        assert element.name in header
        config = yaml.safe_load(body.split("\n", 1)[1].rsplit("\nsbatch", 1)[0])
        mixture = config["data"]["init_args"]["mixture"]
        assert mixture["target_share"] == element.basque_share / 100
        assert mixture["text_share"] == (0.1 if element.text_only else 0)
        assert config["model"]["llm"].endswith(("Llama-3.1-8B-Instruct",))
        assert config["model"]["connector_init"] == f"{tmp_path}/stage1/{element.backbone}.ckpt"
        assert config["trainer"]["default_root_dir"] == f"{tmp_path}/runs/{element.name}"
        assert str(config["trainer"]["devices"]) == "8"
        seen.add((config["model"]["llm"], mixture["target_share"], mixture["text_share"]))
    assert len(seen) == 20
    assert "sbatch --array=0-19 --nodes=1 --ntasks-per-node=8 --gpus-per-node=8" in out


def test_task_and_device_mismatch_is_caught_before_submitting(grid):
    with pytest.raises(SystemExit, match="trainer.devices=8 but --gpus-per-node=4"):
        grid.main(["submit", "--dry-run", "--gpus-per-node", "4", "--", "--trainer.devices", "8"])


def test_array_tasks_rebuild_the_same_arguments(grid, monkeypatch):
    monkeypatch.setenv("MLLM_GRID_TRAINER", "trainer/ddp.yaml")
    monkeypatch.setenv("MLLM_GRID_EXTRA", "--trainer.max_steps 10")
    args = grid.element_args(3)
    assert args[:4] == ["--config", "configs/paper/base.yaml", "--config", "configs/trainer/ddp.yaml"]
    assert args[-2:] == ["--trainer.max_steps", "10"]
    with pytest.raises(SystemExit, match="outside the grid"):
        grid.element_args(20)


def test_sbatch_scripts_parse_and_check_tasks_against_gpus(tmp_path):
    for script in ("train.sbatch", "grid.sbatch"):
        assert subprocess.run(["bash", "-n", str(ROOT / "slurm" / script)]).returncode == 0
    env = {"PATH": "/usr/bin:/bin", "SLURM_NTASKS_PER_NODE": "4", "SLURM_GPUS_PER_NODE": "h100:8",
           "SLURM_SUBMIT_DIR": str(ROOT)}
    done = subprocess.run(["bash", str(ROOT / "slurm" / "train.sbatch")], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "--ntasks-per-node=4 but 8 GPUs per node" in done.stderr
