"""Sweep report: Markdown values, figure data and size, and input checks, from fixture result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from lightning_mllm.sweep_report import (
    DPI,
    SUBPLOT_INCHES,
    SweepError,
    build_figure,
    collect_cells,
    load_runs,
    main,
    select_columns,
    target_language,
)

LLAMA, LATXA = "llama-3.1-8b-instruct", "latxa-3.1-8b-instruct"
# (backbone, share) -> {(benchmark, lang): score}; llama at 100% has no English MMBench, latxa at 100% no EusTrivia.
SCORES = {
    (LLAMA, 100): {("mmbench", "eu"): 0.644, ("eus_trivia", "eu"): 0.452},
    (LLAMA, 0): {("mmbench", "en"): 0.713, ("mmbench", "eu"): 0.512, ("eus_trivia", "eu"): 0.401},
    (LLAMA, 20): {("mmbench", "en"): 0.705, ("mmbench", "eu"): 0.598, ("eus_trivia", "eu"): 0.433},
    (LATXA, 0): {("mmbench", "en"): 0.688, ("mmbench", "eu"): 0.551, ("eus_trivia", "eu"): 0.527},
    (LATXA, 100): {("mmbench", "en"): 0.652, ("mmbench", "eu"): 0.667},
    (LATXA, 20): {("mmbench", "en"): 0.681, ("mmbench", "eu"): 0.623, ("eus_trivia", "eu"): 0.538},
}


def _result_file(folder: Path, backbone: str, share, scores: dict, drop: str | None = None) -> Path:
    run = {"name": f"{backbone}-eu{share}", "backbone": backbone, "basque_share": share, "checkpoint": "x.ckpt"}
    run.pop(drop, None)  # a run key the evaluate command was not given
    rows = [{"benchmark": b, "lang": lang, "kind": "mc", "metric": "accuracy", "score": s, "count": 100}
            for (b, lang), s in scores.items()]
    path = folder / f"{backbone}-eu{share}.json"
    path.write_text(json.dumps({"format": "lightning-mllm-eval/1", "run": run, "results": rows}))
    return path


@pytest.fixture
def result_files(tmp_path) -> list[Path]:
    # Shares out of order on purpose: the report must sort them.
    return [_result_file(tmp_path, bb, share, scores) for (bb, share), scores in SCORES.items()]


def _scaled_cells(paths) -> dict:
    return {k: v * 100 for k, v in collect_cells(load_runs(paths)).items()}


def test_markdown_has_expected_values(result_files, tmp_path, capsys):
    out = tmp_path / "report"
    written = main([*map(str, result_files), "--out", str(out)])
    assert written == [out / "sweep.png", out / "sweep.md"]
    assert capsys.readouterr().out.split() == [str(out / "sweep.png"), str(out / "sweep.md")]
    md = (out / "sweep.md").read_text(encoding="utf-8")
    llama, latxa = md.split(f"## {LATXA}")
    assert llama.startswith(f"## {LLAMA}")
    header = "| Basque % | mmbench en | mmbench eu | eus_trivia eu |"
    assert [line for line in llama.splitlines() if line.startswith("| ")] == [
        header, "| 0 | 71.3 | 51.2 | 40.1 |", "| 20 | 70.5 | 59.8 | 43.3 |", "| 100 | – | 64.4 | 45.2 |"]
    assert [line for line in latxa.splitlines() if line.startswith("| ")] == [
        header, "| 0 | 68.8 | 55.1 | 52.7 |", "| 20 | 68.1 | 62.3 | 53.8 |", "| 100 | 65.2 | 66.7 | – |"]


def test_png_exists_with_two_rows(result_files, tmp_path):
    main([*map(str, result_files), "--out", str(tmp_path / "report")])
    with Image.open(tmp_path / "report" / "sweep.png") as image:
        image.verify()
    with Image.open(tmp_path / "report" / "sweep.png") as image:
        assert image.format == "PNG"
        # 2 benchmarks (columns) x 2 backbones (rows).
        assert image.size == (round(2 * SUBPLOT_INCHES[0] * DPI), round(2 * SUBPLOT_INCHES[1] * DPI))


def test_figure_lines_hold_sorted_shares_and_percent_scores(result_files):
    cells = _scaled_cells(result_files)
    fig = build_figure(cells, select_columns(cells))
    axes = fig.axes
    assert len(axes) == 4  # row-major: (llama, mmbench), (llama, eus_trivia), (latxa, mmbench), (latxa, eus_trivia)
    latxa_mmbench = {line.get_label(): line for line in axes[2].lines}
    assert set(latxa_mmbench) == {"English", "Basque"}
    basque = latxa_mmbench["Basque"]
    assert list(basque.get_xdata()) == [0, 20, 100]
    assert list(basque.get_ydata()) == pytest.approx([55.1, 62.3, 66.7])
    assert basque.get_color() != latxa_mmbench["English"].get_color()
    assert basque.get_marker() != latxa_mmbench["English"].get_marker()
    # Basque-only benchmark: one line; the missing 100% point is left out, not drawn as zero.
    (trivia,) = axes[3].lines
    assert trivia.get_label() == "Basque"
    assert list(trivia.get_xdata()) == [0, 20]
    assert list(trivia.get_ydata()) == pytest.approx([52.7, 53.8])
    llama_english = {line.get_label(): line for line in axes[0].lines}["English"]
    assert list(llama_english.get_xdata()) == [0, 20]
    assert LLAMA in axes[0].get_title() and LATXA in axes[2].get_title()
    assert axes[2].get_legend() is not None
    assert axes[3].get_xlim() == axes[2].get_xlim()  # one x scale, even where a line stops at 20%


def test_benchmarks_option_selects_and_orders_columns(result_files, tmp_path):
    out = tmp_path / "report"
    main([*map(str, result_files), "--out", str(out), "--benchmarks", "eus_trivia", "--metric-scale", "1"])
    md = (out / "sweep.md").read_text(encoding="utf-8")
    assert "| Basque % | eus_trivia eu |" in md and "mmbench" not in md
    assert "| 20 | 0.4 |" in md  # scale 1: 0.433 shown as 0.4
    with Image.open(out / "sweep.png") as image:
        assert image.size == (round(SUBPLOT_INCHES[0] * DPI), round(2 * SUBPLOT_INCHES[1] * DPI))
    cells = collect_cells(load_runs(result_files))
    assert select_columns(cells, ["eus_trivia", "mmbench"]) == [
        ("eus_trivia", "eu"), ("mmbench", "en"), ("mmbench", "eu")]
    with pytest.raises(SweepError, match="no results for vqav2"):
        select_columns(cells, ["vqav2"])


def test_missing_run_tags_name_the_file_and_the_option(tmp_path):
    no_share = _result_file(tmp_path, LLAMA, 20, {("mmbench", "en"): 0.5}, drop="basque_share")
    with pytest.raises(SweepError) as err:
        load_runs([no_share])
    assert str(no_share) in str(err.value) and "--basque_share" in str(err.value)
    no_backbone = _result_file(tmp_path, LATXA, 0, {("mmbench", "en"): 0.5}, drop="backbone")
    with pytest.raises(SweepError) as err:
        load_runs([no_backbone])
    assert str(no_backbone) in str(err.value) and "--backbone" in str(err.value)


def test_duplicate_cell_names_both_files(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    first = _result_file(tmp_path / "a", LLAMA, 20, {("mmbench", "en"): 0.5})
    second = _result_file(tmp_path, LLAMA, 20, {("mmbench", "eu"): 0.4, ("mmbench", "en"): 0.6})
    with pytest.raises(SweepError) as err:
        collect_cells(load_runs([first, second]))
    assert str(first) in str(err.value) and str(second) in str(err.value)
    assert "mmbench en" in str(err.value)
    # Through the CLI: a usage error (exit 2) with the same message, and nothing written.
    with pytest.raises(SystemExit) as exit_info:
        main([str(first), str(second), "--out", str(tmp_path / "report")])
    assert exit_info.value.code == 2
    assert str(first) in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_malformed_files_are_rejected_by_name(tmp_path):
    not_json = tmp_path / "broken.json"
    not_json.write_text("{not json")
    wrong_format = tmp_path / "other.json"
    wrong_format.write_text(json.dumps({"format": "something-else/2", "run": {}, "results": []}))
    bad_row = _result_file(tmp_path, LLAMA, 0, {})
    data = json.loads(bad_row.read_text())
    data["results"] = [{"benchmark": "mmbench", "lang": "en"}]
    bad_row.write_text(json.dumps(data))
    for path, message in [(not_json, "JSON"), (wrong_format, "lightning-mllm-eval/1"), (bad_row, r"results\[0\]")]:
        with pytest.raises(SweepError, match=message) as err:
            load_runs([path])
        assert str(path) in str(err.value)


def _galician_file(folder: Path, gl_share: float, scores: dict) -> Path:
    """A result file as the evaluate command now writes it: target language and every share from the run."""
    run = {"name": f"gl{gl_share}", "backbone": LLAMA, "target_lang": "gl", "basque_share": round(100 * gl_share, 4),
           "language_shares": {"en": round(1 - gl_share, 4), "gl": gl_share}, "checkpoint": "x.ckpt"}
    if gl_share == 0:
        run["language_shares"].pop("gl")  # a run without the language: its share is 0, not missing
    rows = [{"benchmark": b, "lang": lang, "kind": "mc", "metric": "accuracy", "score": s, "count": 100}
            for (b, lang), s in scores.items()]
    path = folder / f"gl{gl_share}.json"
    path.write_text(json.dumps({"format": "lightning-mllm-eval/1", "run": run, "results": rows}))
    return path


def test_galician_target_labels_the_axis_table_and_lines(tmp_path):
    files = [_galician_file(tmp_path, share, {("mmbench", "eu"): 0.3 + share / 10, ("mmbench", "gl"): 0.4 + share / 2,
                                              ("mmbench", "en"): 0.7})
             for share in (0.5, 0.0, 0.2)]
    runs = load_runs(files)
    assert [(r["target_lang"], r["share"]) for r in runs] == [("gl", 50.0), ("gl", 0.0), ("gl", 20.0)]
    out = tmp_path / "report"
    main([*map(str, files), "--out", str(out)])
    rows = [line for line in (out / "sweep.md").read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    # English, then the target language, then the others; a row per Galician share.
    assert rows == ["| Galician % | mmbench en | mmbench gl | mmbench eu |",
                    "| 0 | 70.0 | 40.0 | 30.0 |", "| 20 | 70.0 | 50.0 | 32.0 |", "| 50 | 70.0 | 65.0 | 35.0 |"]
    cells = _scaled_cells(files)
    (ax,) = build_figure(cells, select_columns(cells, target="gl"), target="gl").axes
    lines = {line.get_label(): line for line in ax.lines}
    assert list(lines) == ["English", "Galician", "Basque"]
    assert ax.get_xlabel() == "Galician multimodal data (%)"
    assert list(lines["Galician"].get_ydata()) == pytest.approx([40.0, 50.0, 65.0])
    # The target's red is Galician's here; Basque is just another benchmark language.
    assert lines["Galician"].get_color() == "tab:red" and lines["Basque"].get_color() not in ("tab:red", "tab:blue")


def test_runs_of_two_target_languages_are_refused(tmp_path):
    galician = _galician_file(tmp_path, 0.2, {("mmbench", "gl"): 0.5})
    basque = _result_file(tmp_path, LLAMA, 20, {("mmbench", "eu"): 0.5})  # older file: basque_share, no target_lang
    with pytest.raises(SweepError, match="different languages") as err:
        target_language(load_runs([galician, basque]))
    assert str(galician) in str(err.value) and str(basque) in str(err.value)
