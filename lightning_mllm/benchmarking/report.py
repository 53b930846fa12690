"""The bench's printed table, the project/baseline ratios and the results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RUNS = ("project-stage1", "project-stage2", "baseline-stage1", "baseline-stage2")
COLUMNS = ("run", "samples/s", "tokens/s", "TFLOP/s", "MFU", "peak GiB", "stall", "padding", "ckpt")


def ratios(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Project / baseline for each stage both measured: samples/s, real tokens/s and MFU."""
    out = {}
    for stage in ("stage1", "stage2"):
        project, baseline = runs.get(f"project-{stage}", {}), runs.get(f"baseline-{stage}", {})
        if "samples_per_sec" in project and baseline.get("samples_per_sec"):
            out[stage] = {key: project[key] / baseline[key] for key in ("samples_per_sec", "tokens_per_sec", "mfu")
                          if baseline.get(key)}
    return out


def _row(name: str, run: dict[str, Any]) -> list[str]:
    ckpt = "on" if run.get("checkpointing") else "off"
    if "error" in run:
        error = run["error"] if len(run["error"]) < 40 else run["error"][:37] + "..."
        return [name, error, "", "", "", f"{run.get('peak_memory_gib', 0):.2f}", "", "", ckpt]
    return [name, f"{run['samples_per_sec']:.3g}", f"{run['tokens_per_sec']:,.0f}", f"{run['tflops_per_sec']:.3g}",
            f"{100 * run['mfu']:.3g}%", f"{run['peak_memory_gib']:.2f}", f"{100 * run['data_stall_fraction']:.1f}%",
            f"{100 * run['padding_fraction']:.0f}%", ckpt]


def table(results: dict[str, Any]) -> str:
    """A plain-text table of every run, then the ratios and what the figures are against."""
    rows = [list(COLUMNS)] + [_row(name, run) for name, run in results["runs"].items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    for stage, ratio in results["ratios"].items():
        spread = ratio.get("repeats")
        each = (f" (repeats: {', '.join(f'{r:.2f}x' for r in spread)}; median {ratio['repeats_median']:.2f}x)"
                if spread else "")
        lines.append(f"{stage} project/baseline: {ratio['samples_per_sec']:.2f}x samples/s, "
                     f"{ratio['tokens_per_sec']:.2f}x tokens/s, {ratio.get('mfu', 0):.2f}x MFU{each}")
    settings, env = results["settings"], results["environment"]
    workload = results["workload"]
    lines.append(f"device: {env['device']}; MFU against {settings['peak_tflops']} TFLOP/s; "
                 f"{settings['steps']} timed steps after {settings['warmup']} warm-up, batch {settings['batch_size']} "
                 f"samples, packing {settings['pack_length'] or 'off'}; "
                 f"mean {workload['mean_tokens']:.0f} tokens/sample; "
                 f"memory: {next(iter(results['runs'].values()), {}).get('memory_kind', '-')}")
    return "\n".join(lines)


def write_json(path: str | Path, results: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
