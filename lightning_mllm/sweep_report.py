"""Target-language share sweep report: the paper's Figures 2/3 layout from several evaluation result files.

Each input is one evaluation run (format ``lightning-mllm-eval/1``) tagged with its backbone, the
language the sweep is about (``run.target_lang``: Basque in the paper, any registered language here)
and that language's share of the multimodal instruction data it was trained with
(``run.language_shares``; results written before those keys existed give ``run.basque_share``, a
percentage of Basque). The report draws score vs that share, one subplot per benchmark (columns),
one row per backbone, one line per benchmark language, and writes the same numbers as one Markdown
table per backbone::

    python -m lightning_mllm.sweep_report runs/*/eval.json --out reports/sweep [--metric-scale 100]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lightning_mllm.languages import UnknownLanguageError, load_language
from lightning_mllm.run_mixture import DEFAULT_TARGET

FORMAT = "lightning-mllm-eval/1"
MISSING = "–"
ENGLISH = "en"
# (colour, marker): English, the target language, and any other benchmark language.
ENGLISH_STYLE, TARGET_STYLE, OTHER_STYLE = ("tab:blue", "o"), ("tab:red", "s"), ("tab:green", "^")
SUBPLOT_INCHES = (4.0, 3.0)  # width, height of one subplot; the PNG is this times the grid at DPI
DPI = 100

Cell = tuple[str, float, str, str]  # (backbone, target share in percent, benchmark, lang)
Columns = Sequence[tuple[str, str]]  # (benchmark, lang) pairs in column order


class SweepError(ValueError):
    """An input file that cannot be part of the report; the message names the file."""


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def language_name(code: str) -> str:
    """The language's English name from the language registry (``Basque`` for ``eu``); the code itself
    for a language no file describes, since a label is no reason to refuse a report."""
    try:
        return load_language(code).name
    except UnknownLanguageError:
        return code


def _target_share(path: Path, run: dict) -> tuple[str, float]:
    """The run's target language and its share in percent: from ``language_shares`` (fractions, as
    the evaluate command writes them from the run's config), else from the older ``basque_share``."""
    target = run.get("target_lang") or DEFAULT_TARGET
    if not isinstance(target, str):
        raise SweepError(f"{path}: run.target_lang must be a language code, found {target!r}")
    shares = run.get("language_shares")
    if shares is not None:
        if not (isinstance(shares, dict) and all(_number(v) for v in shares.values())):
            raise SweepError(f"{path}: run.language_shares must map language codes to fractions, found {shares!r}")
        # Rounded as the evaluate command rounds basque_share, so 0.2 gives the cell 20, not 20.000000000000004.
        return target, round(100 * float(shares.get(target, 0.0)), 4)
    if not _number(run.get("basque_share")):
        raise SweepError(f"{path}: run.language_shares and run.basque_share are missing or not numbers; the "
                         "evaluate command reads them from the checkpoint's run config, or its --basque_share "
                         f"option sets the share (percent of {language_name(target)} multimodal instruction data)")
    return target, float(run["basque_share"])


def _load_one(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SweepError(f"{path}: cannot read it as JSON ({err})") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise SweepError(f"{path}: expected format {FORMAT!r}, found {found!r}")
    run = data.get("run") if isinstance(data.get("run"), dict) else {}
    if not isinstance(run.get("backbone"), str) or not run["backbone"]:
        raise SweepError(f"{path}: run.backbone is missing; the evaluate command's --backbone option sets it")
    target, share = _target_share(path, run)
    results = data.get("results")
    if not isinstance(results, list):
        raise SweepError(f"{path}: 'results' must be a list of result rows")
    for i, row in enumerate(results):
        if not (isinstance(row, dict) and isinstance(row.get("benchmark"), str)
                and isinstance(row.get("lang"), str) and _number(row.get("score"))):
            raise SweepError(f"{path}: results[{i}] needs 'benchmark' and 'lang' strings and a numeric 'score'")
    return {"path": str(path), "backbone": run["backbone"], "target_lang": target, "share": share,
            "results": results}


def load_runs(paths: Sequence[str | Path]) -> list[dict]:
    """Reads and checks evaluation result files.

    Args:
        paths: Result files written by the evaluate command.

    Returns:
        One dict per file with ``path``, ``backbone``, ``target_lang``, ``share`` (percent of the
        target language) and ``results``.

    Raises:
        SweepError: A file is not JSON, has another format, lacks the run tags, or has a bad row.
    """
    return [_load_one(Path(p)) for p in paths]


def target_language(runs: Sequence[dict]) -> str:
    """The one language whose share the runs sweep.

    Args:
        runs: Output of :func:`load_runs`.

    Returns:
        The runs' ``target_lang`` code (``eu`` when there are no runs).

    Raises:
        SweepError: Two runs sweep different languages, so their shares share no axis; both files are named.
    """
    first = runs[0] if runs else {"target_lang": DEFAULT_TARGET}
    for run in runs:
        if run["target_lang"] != first["target_lang"]:
            raise SweepError(f"runs sweep different languages: {first['path']} the share of {first['target_lang']}, "
                             f"{run['path']} the share of {run['target_lang']}; report them separately")
    return first["target_lang"]


def collect_cells(runs: Sequence[dict]) -> dict[Cell, float]:
    """Gathers every score by (backbone, target share, benchmark, lang), in first-seen order.

    Args:
        runs: Output of :func:`load_runs`.

    Returns:
        Scores in [0, 1] keyed by cell.

    Raises:
        SweepError: Two rows (in one file or two) give the same cell; both files are named.
    """
    cells: dict[Cell, float] = {}
    source: dict[Cell, str] = {}
    for run in runs:
        for row in run["results"]:
            key = (run["backbone"], run["share"], row["benchmark"], row["lang"])
            if key in cells:
                raise SweepError(f"duplicate result for backbone={key[0]} {run['target_lang']} share={key[1]:g}% "
                                 f"{key[2]} {key[3]}: given by {source[key]} and by {run['path']}")
            cells[key], source[key] = float(row["score"]), run["path"]
    return cells


def select_columns(cells: dict[Cell, float], benchmarks: Sequence[str] | None = None,
                   target: str = DEFAULT_TARGET) -> list[tuple[str, str]]:
    """Chooses the report's (benchmark, lang) columns.

    Args:
        cells: Output of :func:`collect_cells`.
        benchmarks: Benchmarks to show, in order; None shows all in first-seen order.
        target: The language whose share the runs sweep.

    Returns:
        Pairs grouped by benchmark; within one, English, then the target language, then other languages as seen.

    Raises:
        SweepError: An asked-for benchmark has no results.
    """
    seen = list(dict.fromkeys(k[2] for k in cells))
    unknown = [b for b in benchmarks or () if b not in seen]
    if unknown:
        raise SweepError(f"--benchmarks: no results for {', '.join(unknown)}; found {', '.join(seen)}")
    rank = {ENGLISH: 0, target: 1}
    langs = {b: dict.fromkeys(k[3] for k in cells if k[2] == b) for b in benchmarks or seen}
    return [(b, lang) for b in langs for lang in sorted(langs[b], key=lambda x: rank.get(x, len(rank)))]


def markdown_table(cells: dict[Cell, float], backbone: str, columns: Columns, target: str = DEFAULT_TARGET) -> str:
    """One Markdown table: a row per target-language share, a column per benchmark and language.

    Args:
        cells: Scores already multiplied by the metric scale.
        backbone: The backbone whose runs fill the table.
        columns: (benchmark, lang) pairs in column order.
        target: The language whose share the runs sweep; its name heads the share column.

    Returns:
        The table under a ``## backbone`` heading; values with one decimal, missing cells as ``–``.
    """
    header = f"| {language_name(target)} % | " + " | ".join(f"{b} {lang}" for b, lang in columns) + " |"
    lines = [f"## {backbone}", "", header, "|---:|" + "---:|" * len(columns)]
    for share in sorted({k[1] for k in cells if k[0] == backbone}):
        values = [cells.get((backbone, share, b, lang)) for b, lang in columns]
        text = [MISSING if v is None else f"{v:.1f}" for v in values]
        lines.append(f"| {share:g} | " + " | ".join(text) + " |")
    return "\n".join(lines) + "\n"


def build_figure(cells: dict[Cell, float], columns: Columns, ylabel: str = "score (%)",
                 target: str = DEFAULT_TARGET) -> Figure:
    """Builds the grid figure: rows are backbones, columns benchmarks, a line per language.

    Args:
        cells: Scores already multiplied by the metric scale.
        columns: (benchmark, lang) pairs; their benchmarks, in order, are the subplot columns.
        ylabel: Label of the y axes.
        target: The language whose share the runs sweep: the x axis, and the red line.

    Returns:
        A figure with an Agg canvas, not registered with pyplot.
    """
    backbones = list(dict.fromkeys(k[0] for k in cells))
    benchmarks = list(dict.fromkeys(b for b, _ in columns))
    width, height = SUBPLOT_INCHES
    fig = Figure(figsize=(width * len(benchmarks), height * len(backbones)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    # One x scale everywhere, ticked at the shares that were run, so rows and columns line up.
    axes = fig.subplots(len(backbones), len(benchmarks), squeeze=False, sharex=True)
    shares = sorted({k[1] for k in cells})
    styles = {ENGLISH: ENGLISH_STYLE, target: TARGET_STYLE}
    for r, backbone in enumerate(backbones):
        for c, bench in enumerate(benchmarks):
            ax = axes[r][c]
            for lang in (lang for b, lang in columns if b == bench):
                points = sorted((k[1], v) for k, v in cells.items() if k[0] == backbone and k[2:] == (bench, lang))
                if points:
                    colour, marker = styles.get(lang, OTHER_STYLE)
                    xs, ys = zip(*points)
                    ax.plot(xs, ys, color=colour, marker=marker, label=language_name(lang))
            ax.set_title(f"{backbone}\n{bench}" if c == 0 else bench, fontsize=9)
            ax.set_xticks(shares)
            ax.set_xlabel(f"{language_name(target)} multimodal data (%)" if r == len(backbones) - 1 else "")
            ax.set_ylabel(ylabel if c == 0 else "")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8)
    return fig


def draw(cells: dict[Cell, float], columns: Columns, path: Path, ylabel: str = "score (%)",
         target: str = DEFAULT_TARGET) -> None:
    """Draws :func:`build_figure` to a PNG file.

    Args:
        cells: Scores already multiplied by the metric scale.
        columns: (benchmark, lang) pairs in column order.
        path: Where to write the PNG.
        ylabel: Label of the y axes.
        target: The language whose share the runs sweep.
    """
    build_figure(cells, columns, ylabel, target).savefig(path, format="png", dpi=DPI)


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Command-line entry point; returns (and prints) the paths written."""
    parser = argparse.ArgumentParser(prog="python -m lightning_mllm.sweep_report", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="result JSON files written by the evaluate command")
    parser.add_argument("--out", required=True, type=Path, help="folder for sweep.png and sweep.md")
    parser.add_argument("--metric-scale", type=float, default=100.0,
                        help="factor from scores in [0, 1] to the unit shown (default 100: percent)")
    parser.add_argument("--benchmarks", default=None, help="comma-separated benchmarks: selects and orders columns")
    args = parser.parse_args(argv)
    benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()] if args.benchmarks else None
    try:
        runs = load_runs(args.results)
        target = target_language(runs)
        cells = collect_cells(runs)
        columns = select_columns(cells, benchmarks, target)
    except SweepError as err:
        parser.error(str(err))
    wanted = {b for b, _ in columns}
    cells = {k: v * args.metric_scale for k, v in cells.items() if k[2] in wanted}
    args.out.mkdir(parents=True, exist_ok=True)
    png, md = args.out / "sweep.png", args.out / "sweep.md"
    draw(cells, columns, png, "score (%)" if args.metric_scale == 100 else f"score x {args.metric_scale:g}", target)
    backbones = list(dict.fromkeys(k[0] for k in cells))
    md.write_text("\n".join(markdown_table(cells, b, columns, target) for b in backbones), encoding="utf-8")
    print(png, md, sep="\n")
    return [png, md]


if __name__ == "__main__":
    main()
