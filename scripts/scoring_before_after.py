"""Scores the reference tables of the tests with whichever scoring code is on ``sys.path``.

    PYTHONPATH=<checkout> python scripts/scoring_before_after.py [--tests tests]

Run it once with an older checkout on ``PYTHONPATH`` and once with this one to compare scoring
rules on the same inputs (BENCHMARKS.md, issue 16). The tables and the reference ports (VLMEvalKit's
``can_infer``, the official VQA evaluation) are read from this checkout's test files, without
importing them, so an older checkout's ``lightning_mllm`` can be scored too.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path


def _section(path: Path, start: str, end: str) -> dict:
    """Executes the part of a test file between two markers and returns its names."""
    text = path.read_text(encoding="utf-8")
    names: dict = {"re": re}
    exec(compile(text[text.index(start):text.index(end)], str(path), "exec"), names)  # our own test file
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", default=str(Path(__file__).resolve().parent.parent / "tests"))
    tests = Path(parser.parse_args().tests)
    mc = _section(tests / "test_mc_reference_table.py", "# --- Reference", "def test_the_table_is_large")
    vqa = _section(tests / "test_vqa_metric.py", "# --- REFERENCE", "@pytest.mark.parametrize")
    from lightning_mllm.evaluation import vqa_metric as metric
    from lightning_mllm.evaluation.mc_extraction import extract_choice

    with_lang = "lang" in inspect.signature(extract_choice).parameters
    for lang in ("en", "eu"):
        rows = [row for row in mc["TABLE"] if row[1] == lang]
        options = mc["OPTIONS"][lang]
        ours = sum((extract_choice(r[0], options, lang) if with_lang else extract_choice(r[0], options)) == r[2]
                   for r in rows)
        reference = sum(mc["vlmevalkit_can_infer"](r[0], dict(options)) == r[2] for r in rows)
        print(f"MC table {lang}: ours {ours}/{len(rows)}, VLMEvalKit {reference}/{len(rows)}")
    agree = sum(abs(metric.vqa_soft_accuracy(p, a) - vqa["reference_vqa_accuracy"](p, a)) < 1e-9 for p, a in vqa["TEN"])
    print(f"VQA ten-answer cases equal to the official evaluation: {agree}/{len(vqa['TEN'])}")
    score = (lambda p, a: metric.vqa_score(p, a)[0]) if hasattr(metric, "vqa_score") else metric.vqa_soft_accuracy
    few = [("Dog.", ["dog"]), ("the dog", ["dog"]), ("Two", ["2"]), ("yes", ["yes", "no", "maybe"])]
    print("right answers with 1-3 human answers:", [round(score(p, a), 2) for p, a in few])
    basque = {"lang": "eu"} if hasattr(metric, "vqa_score") else {}
    eu = [("bi", ["2"] * 10), ("2,5", ["2.5"] * 10), ("hogeita bat", ["21"] * 10)]
    print("right Basque answers, ten human answers:", [round(metric.vqa_soft_accuracy(p, a, **basque), 2) for p, a in eu])


if __name__ == "__main__":
    main()
