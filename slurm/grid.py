"""The paper's stage-2 grid as a SLURM job array: backbone x Basque share x text-only on/off.

    python slurm/grid.py list                      one line per array element
    python slurm/grid.py args 7                    element 7's train.py arguments, one per line
    python slurm/grid.py submit --dry-run          every element's command and resolved config,
                                                   then the sbatch command, without submitting
    python slurm/grid.py submit --gpus-per-node 8  checks, then submits slurm/grid.sbatch

Paths come from the environment: ``MLLM_DATA`` (shards), ``MLLM_RUNS`` (logs and checkpoints,
one folder per element, where a requeued task finds its checkpoint) and ``MLLM_STAGE1`` (a folder
with one stage-1 checkpoint per backbone, ``<backbone>.ckpt``, whose connector starts stage 2).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BACKBONES = ("llama-3.1-8b-instruct", "latxa-llama-3.1-8b-instruct")
BASQUE_SHARES = (0, 10, 20, 50, 100)
TEXT_ONLY = (True, False)


@dataclass(frozen=True)
class Element:
    """One run of the grid."""

    backbone: str
    basque_share: int
    text_only: bool

    @property
    def name(self) -> str:
        return f"{self.backbone}-eu{self.basque_share}-{'text' if self.text_only else 'notext'}"

    def args(self, runs: str, stage1: str | None, trainer: list[str]) -> list[str]:
        configs = ["paper/base.yaml", *trainer, f"backbone/{self.backbone}.yaml", "stage/stage2.yaml",
                   "data/bilingual.yaml", f"data/grid/basque-{self.basque_share}.yaml"]
        args = [part for config in configs for part in ("--config", f"configs/{config}")]
        if not self.text_only:
            args += ["--data.init_args.mixture.text_share", "0"]
        if stage1:
            args += ["--model.connector_init", f"{stage1}/{self.backbone}.ckpt"]
        return args + ["--trainer.default_root_dir", f"{runs}/{self.name}",
                       "--trainer.logger.init_args.save_dir", runs, "--trainer.logger.init_args.name", self.name]


GRID = [Element(*values) for values in itertools.product(BACKBONES, BASQUE_SHARES, TEXT_ONLY)]


def element_args(index: int, trainer: list[str] | None = None, extra: list[str] | None = None) -> list[str]:
    """Element ``index``'s arguments; trainer configs and extra arguments default to what
    ``submit`` exported for the array (``MLLM_GRID_TRAINER``, ``MLLM_GRID_EXTRA``)."""
    if not 0 <= index < len(GRID):
        raise SystemExit(f"error: array index {index} is outside the grid (0..{len(GRID) - 1})")
    trainer = trainer or os.environ.get("MLLM_GRID_TRAINER", "trainer/fsdp.yaml").split(",")
    extra = extra if extra is not None else shlex.split(os.environ.get("MLLM_GRID_EXTRA", ""))
    return GRID[index].args(os.environ.get("MLLM_RUNS", "runs"), os.environ.get("MLLM_STAGE1"), trainer) + extra


def resolved_config(args: list[str]) -> dict:
    """The config train.py would run with, through the real CLI (``--print_config``)."""
    sys.path.insert(0, str(ROOT))
    from train import cli_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        cli_main(["fit", *args, "--print_config"])
    config = yaml.safe_load(out.getvalue())
    if not isinstance(config, dict) or "trainer" not in config:
        raise SystemExit(f"error: the configuration did not resolve:\n{out.getvalue()[-2000:]}")
    return config


def check_devices(config: dict, gpus_per_node: int, nodes: int) -> None:
    """Lightning runs one process per SLURM task: tasks per node must equal trainer.devices."""
    devices, num_nodes = config["trainer"].get("devices"), config["trainer"].get("num_nodes", 1)
    if str(devices) != str(gpus_per_node):
        raise SystemExit(f"error: trainer.devices={devices} but --gpus-per-node={gpus_per_node} (one SLURM task "
                         f"per GPU); make them equal")
    if str(num_nodes) != str(nodes):
        raise SystemExit(f"error: trainer.num_nodes={num_nodes} but --nodes={nodes}")


def submit(args: argparse.Namespace) -> list[str]:
    os.environ["GPUS_PER_NODE"], os.environ["SLURM_NNODES"] = str(args.gpus_per_node), str(args.nodes)
    for index, element in enumerate(GRID):
        element_cli = element_args(index, args.trainer, args.extra)
        config = resolved_config(element_cli)
        check_devices(config, args.gpus_per_node, args.nodes)
        if args.dry_run:
            print(f"# [{index}] {element.name}\nsrun python train.py fit {shlex.join(element_cli)}")
            print(yaml.safe_dump(config, sort_keys=False))
    # The array tasks rebuild their arguments from these (slurm/grid.sbatch runs `grid.py args`).
    os.environ["MLLM_GRID_TRAINER"], os.environ["MLLM_GRID_EXTRA"] = ",".join(args.trainer), shlex.join(args.extra)
    command = ["sbatch", f"--array=0-{len(GRID) - 1}", f"--nodes={args.nodes}",
               f"--ntasks-per-node={args.gpus_per_node}", f"--gpus-per-node={args.gpus_per_node}",
               str(ROOT / "slurm" / "grid.sbatch")]
    print(shlex.join(command))
    if not args.dry_run:
        subprocess.run(command, check=True)
    return command


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python slurm/grid.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="one line per array element")
    one = commands.add_parser("args", help="train.py arguments of one element, one per line")
    one.add_argument("index", type=int)
    go = commands.add_parser("submit", help="check every element, then submit the array")
    go.add_argument("--dry-run", action="store_true", help="print commands and configs; submit nothing")
    go.add_argument("--nodes", type=int, default=1)
    go.add_argument("--gpus-per-node", type=int, default=8)
    go.add_argument("--trainer", nargs="+", default=["trainer/fsdp.yaml"],
                    help="trainer configs under configs/ (default trainer/fsdp.yaml)")
    go.add_argument("extra", nargs="*", help="more train.py arguments for every element (after --)")
    args = parser.parse_args(argv)
    if args.command == "list":
        for index, element in enumerate(GRID):
            print(f"{index:3d}  {element.name}")
    elif args.command == "args":
        print("\n".join(element_args(args.index)))
    else:
        submit(args)


if __name__ == "__main__":
    main()
