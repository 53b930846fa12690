"""Scores the reference tables of the tests with whichever scoring code is on ``sys.path``.

    PYTHONPATH=<checkout> python scripts/scoring_before_after.py [--tests tests]

Run it once with an older checkout on ``PYTHONPATH`` and once with this one to compare scoring
rules on the same inputs (BENCHMARKS.md, issue 16). The tables and the reference ports (VLMEvalKit's
``can_infer``, the official VQA evaluation) come from this checkout's ``tests/reference_scoring.py``,
which imports nothing of ``lightning_mllm``, so an older checkout's scoring can be measured too.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", default=str(Path(__file__).resolve().parent.parent / "tests"))
    # Loaded from its file, not through sys.path: only the scoring code comes from PYTHONPATH.
    spec = importlib.util.spec_from_file_location("reference_scoring",
                                                  Path(parser.parse_args().tests) / "reference_scoring.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)

    mc = {"TABLE": ref.TABLE, "OPTIONS": ref.OPTIONS, "vlmevalkit_can_infer": ref.vlmevalkit_can_infer}
    vqa = {"TEN": ref.TEN, "reference_vqa_accuracy": ref.reference_vqa_accuracy}
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
