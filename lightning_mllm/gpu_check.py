"""One GPU check that fits a short device window: the owed GPU figures in priority order.

    bash scripts/gpu_check.sh OUT --budget 540      # on the lent H100/H200 (installs carried wheels)
    python -m lightning_mllm.gpu_check OUT --dry-run   # the same checks on tiny shapes on a CPU

Each check is a subprocess (the stage-2 bench beside the plain transformers + peft baseline, QLoRA
memory at micro-batch 2 with gradient checkpointing, a sharded FSDP checkpoint and its resume, the
demo on the GPU, evaluation throughput) with an estimated duration. A check starts only when its
estimate fits in what is left of the budget, runs under a timeout of what is left, and writes
``OUT/<name>.json`` as soon as it ends (status, seconds, command, figures, the log's tail), so a
window that closes early still returns every finished figure. ``OUT/summary.json`` lists what ran
and what was skipped, and why. The dry run uses the same commands on tiny backbones (FSDP is
refused on a CPU by Lightning, so it runs the same resume with the default strategy and says so);
the test suite runs it, so the script cannot rot unseen.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lightning_mllm.files import atomic_write_json
from lightning_mllm.gpu_checks import CHECKS, Check

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Budget:
    """Seconds left of the device window, counted from construction."""

    seconds: float
    start: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)


def _write_json(path: Path, payload: dict) -> None:
    # Atomic: a device window closing mid-write leaves no torn file.
    atomic_write_json(path, payload, default=str)


def _run(command: list[str], timeout: float, env: dict[str, str]) -> tuple[int, str, float]:
    """Runs one command from the repository root; returns exit status, output, seconds."""
    start = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        status, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as error:
        status = 124
        output = "".join(part.decode(errors="replace") if isinstance(part, bytes) else (part or "")
                         for part in (error.stdout, error.stderr)) + f"\n[timed out after {timeout:.0f} s]"
    return status, output, time.monotonic() - start


def run_check(check: Check, out: Path, budget: Budget, dry_run: bool, env: dict[str, str],
              log: Callable[[str], None]) -> dict:
    """Runs one check's commands if its estimate fits; writes and returns its record."""
    estimate = check.estimate(dry_run)
    record: dict = {"name": check.name, "what": check.what, "estimate_s": estimate, "dry_run": dry_run}
    commands = check.commands(out, dry_run)
    if not commands:
        record.update(status="skipped", reason="not part of the dry run")
        _write_json(out / f"{check.name}.json", record)
        return record
    if budget.left() < estimate:
        record.update(status="skipped", reason=f"needs ~{estimate:.0f} s, {budget.left():.0f} s left")
        log(f"skip {check.name}: {record['reason']}")
        _write_json(out / f"{check.name}.json", record)
        return record
    log(f"run  {check.name} (~{estimate:.0f} s, {budget.left():.0f} s left): {check.what}")
    steps, seconds, status = [], 0.0, 0
    for command in commands:
        status, output, took = _run(command, max(budget.left(), 1.0), env)
        seconds += took
        steps.append({"command": " ".join(command), "status": status, "seconds": round(took, 1),
                      "tail": output[-3000:]})
        if status != 0:
            break
    record.update(status="ok" if status == 0 else ("timeout" if status == 124 else "failed"),
                  seconds=round(seconds, 1), steps=steps)
    if status == 0:
        record["figures"] = check.figures(out, steps)
    log(f"done {check.name}: {record['status']} in {seconds:.0f} s")
    _write_json(out / f"{check.name}.json", record)
    return record


def versions() -> dict[str, str | None]:
    """The stack the figures were measured on (the device brings its own torch and transformers)."""
    import lightning
    import peft
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "lightning": lightning.__version__,
            "peft": peft.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lightning_mllm.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for one JSON per check and summary.json")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for all checks (default 9 minutes)")
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU: checks the script itself")
    parser.add_argument("--only", nargs="+", choices=[c.name for c in CHECKS], help="run just these checks")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    budget = Budget(args.budget)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    if args.dry_run:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the dry run is the CPU path even on a GPU machine

    def log(message: str) -> None:
        print(f"[gpu_check {args.budget - budget.left():6.0f}s] {message}", flush=True)

    records = [run_check(check, args.out, budget, args.dry_run, env, log)
               for check in CHECKS if not args.only or check.name in args.only]
    _write_json(args.out / "summary.json", {
        "versions": versions(), "budget_s": args.budget, "used_s": round(args.budget - budget.left(), 1), "dry_run": args.dry_run,
        "checks": {r["name"]: {k: r.get(k) for k in ("status", "seconds", "reason", "figures")} for r in records}})
    failed = [r["name"] for r in records if r["status"] in ("failed", "timeout")]
    log(f"finished; failed: {failed or 'none'}; results in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
