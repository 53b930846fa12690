"""The budgeted GPU check's CPU dry run: every check's commands run on tiny shapes and report figures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _check(out: Path, name: str) -> dict:
    return json.loads((out / f"{name}.json").read_text())


# The dry run in three parts that pytest-xdist can run side by side (about 130 s in one piece);
# together they cover every check of the script.
GROUPS = {"bench": ("stage2_bench", "qlora_memory"), "train": ("fsdp_resume", "gpu_demo"),
          "eval": ("eval_throughput", "test_suite")}


def test_the_dry_run_groups_cover_every_check():
    from lightning_mllm.gpu_checks import CHECKS

    assert sorted(name for group in GROUPS.values() for name in group) == sorted(c.name for c in CHECKS)


def _dry_run(tmp_path: Path, group: str) -> tuple[Path, dict]:
    out = tmp_path / "out"
    done = subprocess.run(["bash", "scripts/gpu_check.sh", str(out), "--dry-run", "--budget", "1200",
                           "--only", *GROUPS[group]], cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dry_run"] and summary["versions"]["torch"]
    assert set(summary["checks"]) == set(GROUPS[group])
    return out, summary


@pytest.mark.slow
def test_dry_run_of_the_benches_records_their_figures(tmp_path, tiny_paths):
    out, _ = _dry_run(tmp_path, "bench")
    bench = _check(out, "stage2_bench")["figures"]
    assert bench["runs"]["project-stage2"]["samples_per_sec"] > 0
    assert bench["runs"]["baseline-stage2"]["samples_per_sec"] > 0
    assert "stage2" in bench["ratios"]
    qlora = _check(out, "qlora_memory")["figures"]["runs"]["project-stage2"]
    assert qlora["load_in_4bit"] and qlora["checkpointing"] and qlora["samples_per_sec"] > 0


@pytest.mark.slow
def test_dry_run_of_the_training_checks_resumes_exactly(tmp_path, tiny_paths):
    out, _ = _dry_run(tmp_path, "train")
    resume = _check(out, "fsdp_resume")["figures"]
    # The resumed run must repeat the uninterrupted one's samples and losses after the checkpoint.
    assert resume["same_samples"] and resume["max_loss_difference"] < 1e-6
    assert resume["resumed_steps"][0] > 0 and resume["checkpoint_bytes"] > 0
    demo = _check(out, "gpu_demo")["figures"]
    assert "train/loss" in demo and any(tag.startswith("val/acc_") for tag in demo)


@pytest.mark.slow
def test_dry_run_of_the_evaluation_check_times_both_batch_sizes(tmp_path, tiny_paths):
    out, _ = _dry_run(tmp_path, "eval")
    evaluation = _check(out, "eval_throughput")["figures"]
    assert evaluation["batch_1"]["items_per_second"] > 0 and evaluation["batch_32"]["items_per_second"] > 0
    assert _check(out, "test_suite")["status"] == "skipped"


def test_a_check_that_does_not_fit_the_budget_is_skipped_and_says_why(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(["bash", "scripts/gpu_check.sh", str(out), "--dry-run", "--budget", "5",
                           "--only", "stage2_bench", "fsdp_resume"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("stage2_bench", "fsdp_resume"):
        record = _check(out, name)
        assert record["status"] == "skipped" and "s left" in record["reason"]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["checks"]) == {"stage2_bench", "fsdp_resume"}
    assert not (out / "gpu_demo.json").exists()
