"""Where a bench run's timed steps spend their time: ``torch.profiler`` per operator.

``python -m lightning_mllm.bench --profile 15`` records the timed steps of every run and prints,
per stage, the project's and the baseline's operators side by side (milliseconds of self time
per step, on the CPU and, on a GPU, on the device). The profiler's own overhead slows the steps,
so a profiled run's samples/s are not the figures to quote; run the bench again without it.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.profiler import ProfilerActivity, profile


class OperatorProfile:
    """Records operators between ``start`` and ``stop``; ``stop`` returns milliseconds per step."""

    def __init__(self) -> None:
        self._profiler: profile | None = None

    def start(self) -> None:
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
        self._profiler = profile(activities=activities)
        self._profiler.__enter__()

    def stop(self, steps: int) -> dict[str, dict[str, float]]:
        """Per operator: ``cpu_ms`` and ``device_ms`` of self time and ``calls``, each per step."""
        if self._profiler is None:
            raise RuntimeError("OperatorProfile.stop before start")
        self._profiler.__exit__(None, None, None)
        table = {}
        for event in self._profiler.key_averages():
            # transformers 5 / torch 2.11+ name it self_device_time_total; older ones self_cuda_time_total.
            device_us = getattr(event, "self_device_time_total", getattr(event, "self_cuda_time_total", 0.0))
            table[event.key] = {"cpu_ms": event.self_cpu_time_total / 1e3 / steps,
                                "device_ms": device_us / 1e3 / steps, "calls": event.count / steps}
        self._profiler = None
        return table


class ProfileSteps(L.Callback):
    """Profiles a Lightning run's steps ``warmup`` to ``warmup + steps - 1`` into ``self.table``."""

    def __init__(self, warmup: int, steps: int):
        self.warmup, self.steps = warmup, steps
        self.profile = OperatorProfile()
        self.table: dict[str, dict[str, float]] | None = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if batch_idx == self.warmup:
            self.profile.start()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if batch_idx == self.warmup + self.steps - 1:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.table = self.profile.stop(self.steps)


def side_by_side(project: dict[str, dict[str, float]], baseline: dict[str, dict[str, float]], rows: int,
                 stage: str) -> str:
    """The ``rows`` operators with the most self time on either side, milliseconds per step."""
    unit = "device_ms" if any(v["device_ms"] for v in (*project.values(), *baseline.values())) else "cpu_ms"

    def cost(table: dict[str, dict[str, float]], name: str) -> float:
        return table.get(name, {}).get(unit, 0.0)

    names = sorted(set(project) | set(baseline), key=lambda n: -max(cost(project, n), cost(baseline, n)))[:rows]
    width = max([len("operator")] + [min(len(n), 64) for n in names])
    header = f"{stage}: self {unit[:-3]} time per step (ms)"
    lines = [header, f"{'operator'.ljust(width)}  {'project':>9}  {'calls':>6}  {'baseline':>9}  {'calls':>6}  "
                     f"{'project-baseline':>16}"]
    for name in names:
        p, b = cost(project, name), cost(baseline, name)
        pc, bc = project.get(name, {}).get("calls", 0), baseline.get(name, {}).get("calls", 0)
        lines.append(f"{name[:64].ljust(width)}  {p:9.2f}  {pc:6.0f}  {b:9.2f}  {bc:6.0f}  {p - b:+16.2f}")
    total_p = sum(v[unit] for v in project.values())
    total_b = sum(v[unit] for v in baseline.values())
    lines.append(f"{'all operators'.ljust(width)}  {total_p:9.2f}  {'':>6}  {total_b:9.2f}  {'':>6}  "
                 f"{total_p - total_b:+16.2f}")
    return "\n".join(lines)


def profile_tables(runs: dict[str, dict[str, Any]], rows: int) -> str:
    """One side-by-side table per stage whose project and baseline runs were both profiled."""
    tables = []
    for stage in ("stage1", "stage2"):
        project = runs.get(f"project-{stage}", {}).get("profile")
        baseline = runs.get(f"baseline-{stage}", {}).get("profile")
        if project and baseline:
            tables.append(side_by_side(project, baseline, rows, stage))
    return "\n\n".join(tables)
