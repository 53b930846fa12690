"""Human evaluation: statistics against hand-computed values and against SciPy and scikit-learn where
our own formula remains, rating-set balance and reproducibility, input errors that name the item,
malformed judgment lines, and concurrent appends to one file."""

from __future__ import annotations

import csv
import json
import multiprocessing
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.metrics import cohen_kappa_score

from lightning_mllm.human_eval.__main__ import main
from lightning_mllm.human_eval.judgments_store import append_judgment, make_judgment, read_judgments
from lightning_mllm.human_eval.rating_set import SET_FORMAT, load_rating_set, public_item
from lightning_mllm.human_eval.statistics import bradley_terry, cohen_kappa, fleiss_kappa, spearman, wilson_interval

LANGS = ("en", "eu")
PROMPTS = {"en": "Describe the image.", "eu": "Deskribatu irudia."}


# --- statistics on textbook examples --------------------------------------------------------------

def test_wilson_interval_textbook_values():
    # 7/10: centre (0.7 + 1.96²/20) / (1 + 1.96²/10) = 0.6445, half width 0.2477 (worked by hand).
    assert wilson_interval(7, 10) == pytest.approx((0.3968, 0.8922), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    # Ties as half wins: 7.5 of 10 -> centre 0.6806, half width 0.2384.
    assert wilson_interval(7.5, 10) == pytest.approx((0.4422, 0.9191), abs=1e-4)


@pytest.mark.parametrize("successes,trials,confidence", [(7, 10, 0.95), (0, 10, 0.95), (13, 13, 0.95),
                                                         (41, 97, 0.95), (3, 20, 0.9), (55, 60, 0.99)])
def test_wilson_interval_equals_scipy_for_whole_successes(successes, trials, confidence):
    # SciPy takes whole successes only; ours must agree there and extend it to half wins.
    reference = stats.binomtest(successes, trials).proportion_ci(confidence, method="wilson")
    assert wilson_interval(successes, trials, confidence) == pytest.approx((reference.low, reference.high), abs=1e-12)


def test_cohen_kappa_textbook_example():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o 0.7, p_e 0.5, kappa 0.4.
    first = ["y"] * 25 + ["n"] * 25
    second = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa(["A", "B"], ["A", "B"]) == pytest.approx(1.0)
    assert cohen_kappa(["A", "A"], ["A", "A"]) is None  # chance agreement is 1: undefined, not 1 or 0


def test_fleiss_kappa_textbook_examples():
    # Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(0.2099, abs=1e-4)
    # 3 raters, 4 items: P_i = 1, 1, 1/3, 1/3 -> P_bar 2/3; p = (1/2, 1/2) -> P_e 1/2; kappa 1/3.
    assert fleiss_kappa([[3, 0], [0, 3], [2, 1], [1, 2]]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        fleiss_kappa([[3, 0], [1, 1]])


def test_fleiss_kappa_equals_scikit_learn_cohen_for_two_raters_with_equal_label_shares():
    # With two raters P_bar is the observed agreement, and when both use each label equally often
    # the chance terms of Fleiss (pooled shares) and Cohen (each rater's own shares) coincide.
    first = ["A", "A", "B", "B", "tie", "A", "both_bad", "B", "A", "tie"]
    second = ["A", "B", "A", "B", "tie", "A", "B", "both_bad", "A", "tie"]
    assert Counter(first) == Counter(second) and first != second
    labels = sorted(set(first))
    table = [[(a == c) + (b == c) for c in labels] for a, b in zip(first, second)]
    assert fleiss_kappa(table) == pytest.approx(cohen_kappa_score(first, second))


def test_bradley_terry_strengths_and_order():
    # Two models, 3 wins to 1: the maximum-likelihood ratio is exactly 3.
    p = bradley_terry([[0, 3], [1, 0]])
    assert p == pytest.approx([0.75, 0.25], abs=1e-9)
    # c beats b beats a, c beats a; b has no comparisons with d (d never compared: NaN).
    wins = np.array([[0, 2, 1, 0], [6, 0, 3, 0], [7, 5, 0, 0], [0, 0, 0, 0]], dtype=float)
    p = bradley_terry(wins)
    assert np.isnan(p[3]) and np.argsort(-p[:3]).tolist() == [2, 1, 0]
    assert p[:3].sum() == pytest.approx(1.0)


def _bradley_terry_by_scipy(wins: np.ndarray) -> np.ndarray:
    """The maximum-likelihood strengths found by a general optimiser on the log-likelihood."""
    def negative_log_likelihood(theta):
        logits = theta[:, None] - np.logaddexp(theta[:, None], theta[None, :])  # log P(i beats j)
        return -float((wins * logits).sum())

    theta = optimize.minimize(negative_log_likelihood, np.zeros(len(wins)), method="BFGS",
                              options={"gtol": 1e-10}).x
    return np.exp(theta) / np.exp(theta).sum()


def test_bradley_terry_is_the_maximum_likelihood_fit_scipy_finds():
    # Four models, uneven numbers of comparisons, ties as half wins both ways, every model both
    # winning and losing somewhere (so the maximum exists).
    wins = np.array([[0, 2.5, 1, 0.5], [6.5, 0, 3, 2], [7, 5, 0, 1.5], [1.5, 4, 2.5, 0]])
    assert bradley_terry(wins) == pytest.approx(_bradley_terry_by_scipy(wins), abs=1e-5)


def test_spearman_by_hand():
    # Ranks (1,2,3) vs (1,3,2): d² sums to 2, rho = 1 - 6*2 / (3*(9-1)) = 0.5.
    assert spearman([0.1, 0.5, 0.9], [0.2, 0.8, 0.7]) == pytest.approx(0.5)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    # Tied values share their average rank: (1, 2.5, 2.5, 4) vs (1, 3, 2, 4) -> 4.5 / sqrt(4.5 * 5).
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / np.sqrt(22.5))
    assert spearman([0.4], [0.7]) is None


# --- prepare --------------------------------------------------------------------------------------

def _write_predictions(folder: Path, name: str, ids: dict[str, list[str]], skip=(), error=(), prompt_of=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps({"run": {"name": name}}))
    lines = [json.dumps({"key": f"mc/en/{i}", "benchmark": "mc", "lang": "en", "id": str(i), "kind": "mc",
                         "question": "?", "prediction": "A", "error": None}) for i in range(3)]
    for lang, keys in ids.items():
        for i in keys:
            key = f"wild/{lang}/{i}"
            if key in skip:
                continue
            failed = key in error
            lines.append(json.dumps({
                "key": key, "benchmark": "wild", "lang": lang, "id": i, "kind": "open",
                "question": (prompt_of or {}).get(key, f"{PROMPTS[lang]} #{i}"), "reference": "",
                "prediction": None if failed else f"{name[::-1]} on {lang} {i}", "error": "image_error" if failed else None,
                "image": f"images/{i}.png"}))
    (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def answer_dirs(tmp_path) -> list[Path]:
    ids = {lang: [f"{n:02d}" for n in range(8)] for lang in LANGS}
    return [_write_predictions(tmp_path / "alpha", "alpha", ids),
            _write_predictions(tmp_path / "beta", "beta", ids, error={"wild/eu/02"}),
            _write_predictions(tmp_path / "gamma", "gamma", ids, skip={"wild/en/05", "wild/eu/07"})]


def _prepare(out: Path, answers: list[str], *extra: str):
    return main(["prepare", "--answers", *answers, "--out", str(out), *extra])


def test_prepare_is_balanced_blind_and_reproducible(answer_dirs, tmp_path, capsys):
    specs = [str(d) for d in answer_dirs]
    summary = _prepare(tmp_path / "a.jsonl", specs, "--seed", "3")
    printed = capsys.readouterr().out
    _prepare(tmp_path / "b.jsonl", specs[::-1], "--seed", "3")  # argument order must not matter
    _prepare(tmp_path / "c.jsonl", specs, "--seed", "4")
    first = (tmp_path / "a.jsonl").read_bytes()
    assert first == (tmp_path / "b.jsonl").read_bytes()
    assert first != (tmp_path / "c.jsonl").read_bytes()
    header, items = load_rating_set(tmp_path / "a.jsonl")
    assert header["format"] == SET_FORMAT and header["models"] == ["alpha", "beta", "gamma"]
    # Smallest cell: beta-gamma in eu loses 02 (beta error) and 07 (gamma missing): 6 items everywhere.
    cells = Counter((tuple(sorted((i["model_a"], i["model_b"]))), i["lang"]) for i in items)
    assert set(cells.values()) == {6} and len(cells) == 6 and summary.per_cell == 6
    left = Counter((tuple(sorted((i["model_a"], i["model_b"]))), i["model_a"]) for i in items)
    assert set(left.values()) == {6}  # each model on the left in exactly half of each pair's items
    assert summary.missing == {"gamma": ["wild/en/05", "wild/eu/07"]} and summary.excluded["beta"] == 1
    assert "gamma: 2 items missing" in printed and "beta: 1 answers excluded" in printed
    assert all(i["key"] != "wild/eu/02" for i in items if "beta" in (i["model_a"], i["model_b"]))
    assert len({i["item_id"] for i in items}) == len(items)
    for item in items:
        page = json.dumps(public_item(item))
        assert not any(name in page for name in ("alpha", "beta", "gamma", item["key"]))
        assert item["answer_a"].startswith(item["model_a"][::-1]) and item["answer_b"].startswith(item["model_b"][::-1])
        assert item["answer_b"].endswith(f"{item['lang']} {item['id']}") and item["prompt"].startswith(PROMPTS[item["lang"]])


def test_prepare_per_pair_splits_languages_equally(answer_dirs, tmp_path):
    specs = [f"x{i}={d}" for i, d in enumerate(answer_dirs)]
    _prepare(tmp_path / "set.jsonl", specs, "--per-pair", "4", "--langs", "en,eu")
    header, items = load_rating_set(tmp_path / "set.jsonl")
    assert header["models"] == ["x0", "x1", "x2"] and header["per_cell"] == 2
    assert Counter(i["lang"] for i in items) == {"en": 6, "eu": 6}
    with pytest.raises(SystemExit, match="multiple of the number of languages"):
        _prepare(tmp_path / "odd.jsonl", specs, "--per-pair", "3")
    _prepare(tmp_path / "eu.jsonl", specs, "--langs", "eu", "--benchmarks", "wild")
    assert {i["lang"] for i in load_rating_set(tmp_path / "eu.jsonl")[1]} == {"eu"}


def test_mismatched_prompts_fail_naming_the_item(tmp_path):
    ids = {"en": ["00", "01"], "eu": ["00"]}
    good = _write_predictions(tmp_path / "a", "a", ids)
    bad = _write_predictions(tmp_path / "b", "b", ids, prompt_of={"wild/en/01": "A different question"})
    with pytest.raises(SystemExit, match=r"item wild/en/01: the prompt differs between a and b"):
        _prepare(tmp_path / "set.jsonl", [str(good), str(bad)])
    assert not (tmp_path / "set.jsonl").exists()


# --- report on a hand-built fixture ---------------------------------------------------------------

# Two models; en items e1-e4 and eu items u1-u4; m1 shown as A on the odd ones.
ITEMS = [(f"{p}{n}", lang) for p, lang in (("e", "en"), ("u", "eu")) for n in range(1, 5)]
CHOICES = {"r1": dict(e1="A", e2="B", e3="A", e4="tie", u1="B", u2="A", u3="both_bad", u4="B"),
           "r2": dict(e1="A", e2="A", e3="tie", e4="tie"),
           "r3": dict(e1="A", e2="B")}
JUDGE = {"m1": {"e1": 8, "e2": 6, "e3": 5, "e4": 7, "u1": 3, "u2": None, "u3": 4, "u4": 9},
         "m2": {"e1": 5, "e2": 6, "e3": 7, "e4": 2, "u1": 6, "u2": 5, "u3": 4}}  # m2 has no u4 rating


def _rating_set(path: Path) -> Path:
    header = {"format": SET_FORMAT, "seed": 0, "models": ["m1", "m2"], "langs": ["en", "eu"], "per_cell": 4}
    rows = [header] + [{"item_id": i, "key": f"wild/{lang}/{i}", "benchmark": "wild", "lang": lang, "id": i,
                        "image": None, "prompt": f"prompt {i}", "answer_a": "x", "answer_b": "y",
                        "model_a": "m1" if int(i[1]) % 2 else "m2", "model_b": "m2" if int(i[1]) % 2 else "m1"}
                       for i, lang in ITEMS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _judgments(path: Path) -> Path:
    lines = [json.dumps({"item_id": i, "rater": r, "choice": c, "comment": "", "time": "t"})
             for r, choices in CHOICES.items() for i, c in choices.items()]
    lines.insert(2, '{"item_id": "e3", "rater": "r1", "choice": ')  # line 3: cut short
    lines.insert(6, json.dumps({"item_id": "e1", "rater": "r9", "choice": "C", "comment": ""}))  # line 7
    lines.append(json.dumps({"item_id": "zz", "rater": "r1", "choice": "A", "comment": ""}))  # not in the set
    lines.append(json.dumps({"item_id": "e1", "rater": "r1", "choice": "B", "comment": "again"}))  # repeated
    path.write_text("\n".join(lines) + "\n")
    return path


def _judge_files(tmp_path: Path) -> list[str]:
    specs = []
    for model, ratings in JUDGE.items():
        rows = [{"key": f"wild/{lang}/{i}", "kind": "open", "rating": ratings[i]} for i, lang in ITEMS if i in ratings]
        path = tmp_path / f"{model}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        specs.append(f"{model}={path}")
    return specs


def test_report_figures_match_hand_computed_values(tmp_path, capsys):
    set_path, judgments = _rating_set(tmp_path / "set.jsonl"), _judgments(tmp_path / "judgments.jsonl")
    out = tmp_path / "report"
    main(["report", "--set", str(set_path), "--judgments", str(judgments), "--out", str(out), "--csv",
          "--judge-ratings", *_judge_files(tmp_path)])
    assert "judgments.jsonl:3: malformed" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["lang"]: r for r in summary["win_rates"]}
    # en: m1 wins r1 e1 e2 e3, r2 e1, r3 e1 e2 (6); m2 wins r2 e2 (1); ties r1 e4, r2 e3 e4 (3): 7.5 / 10.
    assert (rows["en"]["n"], rows["en"]["wins"], rows["en"]["losses"], rows["en"]["ties"]) == (10, 6, 1, 3)
    assert rows["en"]["win_rate"] == pytest.approx(0.75)
    assert (rows["en"]["ci_low"], rows["en"]["ci_high"]) == pytest.approx((0.4422, 0.9191), abs=1e-4)
    # eu: m1 wins u4; m2 wins u1, u2; u3 both bad (a tie): 1.5 / 4. All: 9 / 14.
    assert rows["eu"]["win_rate"] == pytest.approx(0.375) and rows["eu"]["both_bad"] == 1
    assert rows["all"]["win_rate"] == pytest.approx(9 / 14)
    # Bradley-Terry with two models: strengths in the ratio of their scores, 9 : 5.
    ranking = summary["ranking"]["rows"]
    assert [r["model"] for r in ranking] == ["m1", "m2"]
    assert [r["strength"] for r in ranking] == pytest.approx([9 / 14, 5 / 14], abs=1e-6)
    # Raters. r1-r2 on e1-e4: p_o 2/4, p_e (2*2 + 1*2)/16 = 3/8 -> 0.2; r1-r3 agree on both -> 1;
    # r2-r3: p_o 1/2, p_e 1/2 -> 0. Fleiss on e1, e2 (all three): P_bar 2/3, P_e 5/9 -> 0.25.
    kappas = {tuple(c["raters"]): c["kappa"] for c in summary["rater_agreement"]["cohen"]}
    assert kappas == pytest.approx({("r1", "r2"): 0.2, ("r1", "r3"): 1.0, ("r2", "r3"): 0.0})
    assert summary["rater_agreement"]["fleiss"]["items"] == 2
    assert summary["rater_agreement"]["fleiss"]["kappa"] == pytest.approx(0.25)
    # Judge: u2 (null rating) and u4 (m2 unrated) leave; 12 pairs, 5 agree; kappa (60-46)/(144-46) = 1/7.
    judge = summary["judge"]
    assert judge["pairs"] == 12 and judge["excluded"] == {"judge reply unparseable": 1, "item not rated by the judge": 1}
    assert judge["agreement"] == pytest.approx(5 / 12) and judge["kappa"] == pytest.approx(1 / 7)
    assert judge["win_rates"]["m1"] == pytest.approx({"human": 8 / 12, "judge": 7 / 12})
    assert judge["spearman"] == pytest.approx(1.0)
    # Problems: every one listed with its line number.
    problems = summary["problems"]
    assert [p["line"] for p in problems["malformed"]] == [3, 7]
    assert [p["line"] for p in problems["unknown_item"]] == [17] and [p["line"] for p in problems["duplicate"]] == [18]
    md = (out / "report.md").read_text()
    assert "| 3 | malformed | not valid JSON" in md and "| 7 | malformed | choice 'C'" in md
    assert "| m1 | m2 | en | 10 | 6 | 1 | 3 | 0 | 75.0% | 44.2% – 91.9% |" in md
    assert (out / "win_rates.png").read_bytes()[:4] == b"\x89PNG"
    with (out / "judgments.csv").open(newline="") as stream:
        exported = list(csv.DictReader(stream))
    assert len(exported) == 16 and Counter(r["status"] for r in exported) == {"counted": 14, "unknown_item": 1,
                                                                              "duplicate": 1}
    assert exported[0]["preferred"] == "m1" and exported[0]["model_a"] == "m1"
    with (out / "ratingset.csv").open(newline="") as stream:
        assert [r["item_id"] for r in csv.DictReader(stream)] == [i for i, _ in ITEMS]


def test_strict_report_fails_on_malformed_lines(tmp_path):
    set_path, judgments = _rating_set(tmp_path / "set.jsonl"), _judgments(tmp_path / "judgments.jsonl")
    with pytest.raises(SystemExit, match="2 malformed lines"):
        main(["report", "--set", str(set_path), "--judgments", str(judgments), "--out", str(tmp_path / "r"), "--strict"])
    assert (tmp_path / "r" / "report.md").exists()  # written first, so the problems can be read


# --- the judgments file ---------------------------------------------------------------------------

def _writer(path: str, writer: int, count: int, start) -> None:
    comment = f"writer {writer} " + "x" * 3000  # long lines make torn writes likely without the lock
    start.wait(30)  # both writers begin together, so their appends really overlap
    for n in range(count):
        append_judgment(path, make_judgment(f"item{n}", f"rater{writer}", "tie", f"{comment} #{n}"))


def test_concurrent_writers_leave_only_whole_lines(tmp_path):
    path = str(tmp_path / "judgments.jsonl")
    context = multiprocessing.get_context("fork")  # the children reuse the imported modules
    start = context.Event()
    workers = [context.Process(target=_writer, args=(path, w, 300, start)) for w in range(2)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    raw = Path(path).read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 600
    judgments, malformed = read_judgments(path)
    assert malformed == [] and len(judgments) == 600
    for writer in range(2):
        numbers = [int(j["comment"].rsplit("#", 1)[1]) for _, j in judgments if j["rater"] == f"rater{writer}"]
        assert numbers == list(range(300))  # each writer's lines whole and in order


def test_a_torn_last_line_stays_apart_from_the_next_judgment(tmp_path):
    path = tmp_path / "judgments.jsonl"
    path.write_text('{"item_id": "a", "rater": "r", "choice": "A", "comment": ""}\n{"item_id": "b", "ra')
    append_judgment(path, make_judgment("c", "r", "B"))
    judgments, malformed = read_judgments(path)
    assert [j["item_id"] for _, j in judgments] == ["a", "c"] and [m.number for m in malformed] == [2]
    with pytest.raises(ValueError, match="choice"):
        make_judgment("c", "r", "maybe")
