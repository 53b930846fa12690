"""The paper's grid on SLURM as one chain of jobs: stage 1 per backbone, the stage-2 array
(backbone x Basque share x text-only on/off), an evaluation array and the sweep report.

    python -m slurm.grid list                            one line per stage-2 run
    python -m slurm.grid submit --run-stage1 --dry-run   the whole chain as a shell script, every
                                                         run's command and resolved config
    python -m slurm.grid submit --run-stage1             submits the chain (sbatch --parsable, each
                                                         job --dependency=afterok on the one before)
    python -m slurm.grid submit --method full            stage 2 in full fine-tuning (lora, qlora, full)

Stage 2 starts from stage 1's connector: ``MLLM_STAGE1`` names a folder with one stage-1
checkpoint per backbone (``<backbone>.ckpt``). With ``--run-stage1`` the chain trains stage 1
first and writes them there (default ``$MLLM_RUNS/stage1``); without it ``MLLM_STAGE1`` must be
set, or ``--no-stage1`` must say that stage 2 starts from a random connector. Other paths:
``MLLM_DATA`` (shards) and ``MLLM_RUNS`` (one folder per run, where a requeued job finds its
checkpoint; evaluations under ``eval-<method>/``, the report under ``sweep-<method>/``). The job
scripts (``slurm/*.sbatch``) call this file's ``stage1``, ``args``, ``evaluate`` and ``report``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from lightning_mllm.files import atomic_write
from slurm.grid_jobs import already_written, evaluation_commands, final_checkpoint, report_command

ROOT = Path(__file__).resolve().parents[1]

BACKBONES = ("llama-3.1-8b-instruct", "latxa-llama-3.1-8b-instruct")
BASQUE_SHARES = (0, 10, 20, 50, 100)
TEXT_ONLY = (True, False)
TEXT_EU_SHARES = (0, 50, 100)
# A job whose dependency failed is cancelled instead of waiting in the queue forever.
KILL = "--kill-on-invalid-dep=yes"
STAGE2 = {"lora": ["stage/stage2.yaml"], "qlora": ["stage/stage2.yaml", "stage/stage2-qlora.yaml"],
          "full": ["stage/stage2-full.yaml"]}


def runs() -> str:
    return os.environ.get("MLLM_RUNS", "runs")


def _logging(name: str) -> list[str]:
    return ["--trainer.default_root_dir", f"{runs()}/{name}", "--trainer.logger.init_args.save_dir", runs(),
            "--trainer.logger.init_args.name", name]


def _configs(configs: list[str]) -> list[str]:
    return [part for config in configs for part in ("--config", f"configs/{config}")]


@dataclass(frozen=True)
class Element:
    """One stage-2 run of the grid."""

    backbone: str
    basque_share: int
    text_only: bool

    def name(self, method: str) -> str:
        return f"{self.backbone}-{method}-eu{self.basque_share}-{'text' if self.text_only else 'notext'}"

    def args(self, options: argparse.Namespace, stage1: str | None) -> list[str]:
        configs = ["paper/base.yaml", *options.trainer, f"backbone/{self.backbone}.yaml", *STAGE2[options.method],
                   "data/bilingual.yaml", f"data/grid/basque-{self.basque_share}.yaml",
                   f"data/grid/text-eu-{options.text_eu_share}.yaml"]
        args = _configs(configs)
        if not self.text_only:
            args += ["--data.init_args.mixture.text_share", "0"]
        if stage1:
            args += ["--model.connector_init", f"{stage1}/{self.backbone}.ckpt"]
        return args + _logging(self.name(options.method)) + options.extra


GRID = [Element(*values) for values in itertools.product(BACKBONES, BASQUE_SHARES, TEXT_ONLY)]


def stage1_args(backbone: str, options: argparse.Namespace) -> list[str]:
    """Stage 1 of one backbone: the connector alone, on the caption mixture."""
    configs = ["paper/base.yaml", *options.trainer, f"backbone/{backbone}.yaml", "stage/stage1.yaml",
               "data/captions.yaml"]
    return _configs(configs) + _logging(f"stage1-{backbone}") + options.extra


def stage1_folder(options: argparse.Namespace) -> str | None:
    """Where stage 2 finds its stage-1 connectors; fails rather than start from a random one unasked."""
    if options.no_stage1:
        return None
    folder = os.environ.get("MLLM_STAGE1")
    if not folder and getattr(options, "run_stage1", False):
        folder = f"{runs()}/stage1"
    if not folder:
        raise SystemExit("error: MLLM_STAGE1 is not set: point it at a folder with one stage-1 checkpoint per "
                         f"backbone ({', '.join(b + '.ckpt' for b in BACKBONES)}), or pass --run-stage1 to train "
                         "stage 1 first in the chain, or --no-stage1 to start stage 2 from a random connector")
    return folder


def element_args(index: int, options: argparse.Namespace) -> list[str]:
    """The train.py arguments of stage-2 run ``index``."""
    if not 0 <= index < len(GRID):
        raise SystemExit(f"error: array index {index} is outside the grid (0..{len(GRID) - 1})")
    return GRID[index].args(options, stage1_folder(options))


def resolved_config(args: list[str]) -> dict:
    """The config train.py would run with, through the real CLI (``--print_config``)."""
    # The repository root is on the path: the grid runs as python -m slurm.grid from there.
    from train import cli_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        cli_main(["fit", *args, "--print_config"])
    config = yaml.safe_load(out.getvalue())
    if not isinstance(config, dict) or "trainer" not in config:
        raise SystemExit(f"error: the configuration did not resolve:\n{out.getvalue()[-2000:]}")
    return config


def model_settings(config: dict) -> dict:
    """The model's settings in a resolved config, with or without a ``class_path`` around them."""
    return config["model"].get("init_args", config["model"])


def check_devices(config: dict, gpus_per_node: int, nodes: int) -> None:
    """Lightning runs one process per SLURM task: tasks per node must equal trainer.devices."""
    devices, num_nodes = config["trainer"].get("devices"), config["trainer"].get("num_nodes", 1)
    if str(devices) != str(gpus_per_node):
        raise SystemExit(f"error: trainer.devices={devices} but --gpus-per-node={gpus_per_node} (one SLURM task "
                         f"per GPU); make them equal")
    if str(num_nodes) != str(nodes):
        raise SystemExit(f"error: trainer.num_nodes={num_nodes} but --nodes={nodes}")


def forwarded(options: argparse.Namespace) -> list[str]:
    """The options every job of the chain gets, so it rebuilds the same runs."""
    args = ["--method", options.method, "--text-eu-share", str(options.text_eu_share), "--trainer", *options.trainer]
    args += ["--no-stage1"] if options.no_stage1 else []
    return args + (["--", *options.extra] if options.extra else [])


def chain(options: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """The chain's jobs as (variable, sbatch arguments); ``$VARIABLE`` stands for an earlier job's id."""
    nodes = [f"--nodes={options.nodes}", f"--ntasks-per-node={options.gpus_per_node}",
             f"--gpus-per-node={options.gpus_per_node}"]
    one_gpu = ["--nodes=1", "--ntasks=1", "--gpus-per-node=1"]
    array = f"--array=0-{len(GRID) - 1}"
    jobs, after = [], []
    if options.run_stage1:
        for number, backbone in enumerate(BACKBONES):
            jobs.append((f"STAGE1_{number}", [*nodes, "slurm/stage1.sbatch", backbone, *forwarded(options)]))
        after = [f"--dependency=afterok:{':'.join(f'${name}' for name, _ in jobs)}", KILL]
    jobs.append(("TRAIN", [array, *nodes, *after, "slurm/grid.sbatch", *forwarded(options)]))
    jobs.append(("EVAL", [array, *one_gpu, "--dependency=afterok:$TRAIN", KILL, "slurm/eval.sbatch",
                          *forwarded(options)]))
    jobs.append(("REPORT", ["--nodes=1", "--ntasks=1", "--dependency=afterok:$EVAL", KILL, "slurm/report.sbatch",
                            options.method]))
    return jobs


def submit(options: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """Checks every run's config, then submits the chain (or prints it with ``--dry-run``)."""
    if options.run_stage1 and options.no_stage1:
        raise SystemExit("error: --run-stage1 trains stage 1 for stage 2 to start from; --no-stage1 says not to")
    os.environ["GPUS_PER_NODE"], os.environ["SLURM_NNODES"] = str(options.gpus_per_node), str(options.nodes)
    stage1 = stage1_folder(options)
    elements = [(f"stage1-{b}", stage1_args(b, options)) for b in BACKBONES] if options.run_stage1 else []
    elements += [(e.name(options.method), element_args(i, options)) for i, e in enumerate(GRID)]
    for index, (name, args) in enumerate(elements):
        config = resolved_config(args)
        check_devices(config, options.gpus_per_node, options.nodes)
        if options.dry_run:
            print(f"# [{index}] {name}\n# srun python train.py fit {shlex.join(args)}")
            print("\n".join(f"#   {line}" for line in yaml.safe_dump(config, sort_keys=False).splitlines()))
    if options.dry_run:
        for index, element in enumerate(GRID):
            name = element.name(options.method)
            commands = evaluation_commands("<final checkpoint>", f"{runs()}/eval-{options.method}/{name}", name,
                                           element.backbone, element.basque_share, options.method, "<model.llm>")
            print(f"# evaluation [{index}] {name}\n" + "\n".join(f"#   {shlex.join(c)}" for c in commands))
    exported = {k: os.environ[k] for k in ("MLLM_DATA", "MLLM_RUNS", "MLLM_EVAL") if k in os.environ}
    if stage1:
        exported["MLLM_STAGE1"] = stage1
    print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in exported.items()))
    jobs, ids = chain(options), {}
    for variable, args in jobs:
        print(f"{variable}=$(sbatch --parsable {_shell(args)})")
        if not options.dry_run:
            for name, job in ids.items():  # the ids of earlier jobs, for --dependency
                args = [a.replace(f"${name}", job) for a in args]
            done = subprocess.run(["sbatch", "--parsable", *args], check=True, capture_output=True, text=True,
                                  cwd=ROOT, env={**os.environ, **exported})
            ids[variable] = done.stdout.strip().split(";")[0]  # "jobid" or "jobid;cluster"
            print(f"# {variable}: job {ids[variable]}")
    return jobs


def _shell(args: list[str]) -> str:
    """A command line as a shell script writes it: ``$VARIABLE`` left for the shell to expand."""
    return " ".join(a if re.fullmatch(r"[\w@%+=:,./$-]+", a) else shlex.quote(a) for a in args)


def run_stage1(backbone: str, options: argparse.Namespace) -> None:
    """After stage 1 of ``backbone`` trained: its final checkpoint becomes ``$MLLM_STAGE1/<backbone>.ckpt``."""
    target = Path(stage1_folder(options) or "") / f"{backbone}.ckpt"
    # Stage 1 trains the connector alone, so its checkpoint is small enough to copy in memory.
    atomic_write(target, final_checkpoint(f"{runs()}/stage1-{backbone}").read_bytes())
    print(f"stage 1 of {backbone}: {target}")


def evaluate(index: int, options: argparse.Namespace) -> None:
    """Evaluates stage-2 run ``index``: multimodal benchmarks, then the text-only ones."""
    element, args = GRID[index], element_args(index, options)
    name = element.name(options.method)
    llm = model_settings(resolved_config(args))["llm"]
    checkpoint = str(final_checkpoint(f"{runs()}/{name}"))
    for command in evaluation_commands(checkpoint, f"{runs()}/eval-{options.method}/{name}", name, element.backbone,
                                       element.basque_share, options.method, llm):
        if already_written(command):  # a requeued or repeated job
            print(f"# kept from an earlier attempt: {shlex.join(command)}", flush=True)
            continue
        print(shlex.join(command), flush=True)
        subprocess.run(command, check=True, cwd=ROOT)


def parser() -> argparse.ArgumentParser:
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--method", choices=sorted(STAGE2), default="lora",
                        help="stage 2: LoRA (configs/stage/stage2.yaml), QLoRA or full fine-tuning (stage2-full.yaml)")
    shared.add_argument("--text-eu-share", type=int, choices=TEXT_EU_SHARES, default=50,
                        help="percent of the text-only share given to Basque (configs/data/grid/text-eu-N.yaml)")
    shared.add_argument("--trainer", nargs="+", default=["trainer/fsdp.yaml"],
                        help="trainer configs under configs/ (default trainer/fsdp.yaml)")
    shared.add_argument("--no-stage1", action="store_true",
                        help="start stage 2 from a random connector (no stage-1 checkpoint)")
    main = argparse.ArgumentParser(prog="python -m slurm.grid", description=__doc__.split("\n")[0],
                                   epilog="More train.py arguments for every run go after --.")
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[shared], help="one line per stage-2 run")
    one = commands.add_parser("args", parents=[shared], help="train.py arguments of one run, one per line")
    one.add_argument("index", type=int)
    first = commands.add_parser("stage1", parents=[shared], help="stage 1 of a backbone: arguments, or --finish")
    first.add_argument("backbone", choices=BACKBONES)
    first.add_argument("--finish", action="store_true", help="copy the trained checkpoint to $MLLM_STAGE1")
    scored = commands.add_parser("evaluate", parents=[shared], help="evaluate one trained run")
    scored.add_argument("index", type=int)
    report = commands.add_parser("report", help="the sweep report of one method's evaluated runs")
    report.add_argument("method", choices=sorted(STAGE2))
    go = commands.add_parser("submit", parents=[shared], help="check every run, then submit the chain")
    go.add_argument("--dry-run", action="store_true", help="print the chain, commands and configs; submit nothing")
    go.add_argument("--run-stage1", action="store_true", help="train stage 1 of each backbone first in the chain")
    go.add_argument("--nodes", type=int, default=1)
    go.add_argument("--gpus-per-node", type=int, default=8)
    return main


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    options = parser().parse_args(argv[:split])
    options.extra = argv[split + 1:]
    if options.command == "list":
        for index, element in enumerate(GRID):
            print(f"{index:3d}  {element.name(options.method)}")
    elif options.command == "args":
        print("\n".join(element_args(options.index, options)))
    elif options.command == "stage1":
        if options.finish:
            run_stage1(options.backbone, options)
        else:
            print("\n".join(stage1_args(options.backbone, options)))
    elif options.command == "evaluate":
        evaluate(options.index, options)
    elif options.command == "report":
        command = report_command(f"{runs()}/eval-{options.method}", f"{runs()}/sweep-{options.method}")
        print(shlex.join(command), flush=True)
        subprocess.run(command, check=True, cwd=ROOT)
    else:
        submit(options)


if __name__ == "__main__":
    main()
