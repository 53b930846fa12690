"""REFERENCE IMPLEMENTATIONS and tables for the scoring tests, written from the references' logic.

Nothing here is our scoring code, and nothing here imports it, so ``scripts/scoring_before_after.py``
can score these tables with any checkout's ``lightning_mllm``:

- ``vlmevalkit_can_infer``: VLMEvalKit's ``vlmeval/utils/matching_util.py`` (``can_infer``,
  ``can_infer_option``, ``can_infer_text``; open-compass/VLMEvalKit at commit e8e78f05), without
  its GPT fallback: the "exact matching" policy its MMBench numbers use when no judge model is set.
- ``reference_vqa_accuracy``: the official VQA evaluation (GT-Vision-Lab/VQA
  PythonEvaluationTools/vqaEvaluation/vqaEval.py: ``evaluate``, ``processPunctuation``,
  ``processDigitArticle``) with the prediction first put through the EvalAI answer processor that
  LLaVA and lmms-eval apply (lmms_eval/tasks/_task_utils/vqa_eval_metric.py).
- ``TABLE``: 87 multiple-choice replies, half Basque, with the letter a careful reader takes and,
  where VLMEvalKit reads the reply differently, why (``REASONS``); ``TEN``: ten-answer VQA cases.
"""

from __future__ import annotations

import re

# --- Reference: VLMEvalKit's matching rules (see the module docstring) -------------------------
_VLM_REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
                 "I'm sorry, but without the image provided", "Cannot determine the answer")
_VLM_VERBOSE = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")


def _vlm_option(answer: str, choices: dict[str, str]) -> str | bool:
    if "Failed to obtain answer via API" in answer:
        return False
    if any(refusal in answer for refusal in _VLM_REFUSALS):
        return "Z"
    answer_mod = answer
    for char in ".()[],:;!*#{}":
        answer_mod = answer_mod.replace(char, " ")
    splits = [x.strip() for x in answer_mod.split()]
    count = sum(letter in splits for letter in choices)
    if count == 1:
        for letter in choices:
            # A lone letter counts only among the last five words.
            if letter in splits and splits.index(letter) > len(splits) - 5:
                return letter
    elif count == 0 and "Z" in splits:
        return "Z"
    match = _VLM_VERBOSE.search(answer)
    if match and match.group(1).upper() in choices:
        return match.group(1).upper()
    return False


def _vlm_text(answer: str, choices: dict[str, str]) -> str | bool:
    answer = answer.lower()
    if len(answer) > 2 * sum(len(str(v)) for v in choices.values()):
        return False
    found = [letter for letter, text in choices.items() if str(text).lower() in answer]
    return found[0] if len(found) == 1 else False


def vlmevalkit_can_infer(answer: str, choices: dict[str, str]) -> str | None:
    """VLMEvalKit's ``can_infer``; its "Z" (refused) and False (no match) both read as None here."""
    found = _vlm_option(str(answer), choices) or _vlm_text(str(answer), choices)
    return None if found in (False, "Z") else found


# --- The table ----------------------------------------------------------------------------------
EN = {"A": "a blue ball", "B": "a red ball", "C": "a green box", "D": "a dog"}
EU = {"A": "pilota urdina", "B": "pilota gorria", "C": "kaxa berdea", "D": "txakurra"}

REASONS = {
    "capitals": "VLMEvalKit reads only capital letters as option labels",
    "last5": "VLMEvalKit takes a lone letter only among the reply's last five words",
    "article": "VLMEvalKit matches option text verbatim, so a changed English article misses",
    "determiner": "VLMEvalKit matches option text verbatim, so a changed Basque determiner (-a, bat) misses",
    "verbose": "VLMEvalKit's 'answer is X' pattern takes the first of two named letters",
}

# (reply, language, the letter a careful reader takes, why VLMEvalKit differs or None)
TABLE = [
    # English: bare letters and brackets.
    ("B", "en", "B", None),
    ("b", "en", "B", "capitals"),
    ("a", "en", "A", "capitals"),
    ("A", "en", "A", None),
    ("A.", "en", "A", None),
    ("(C)", "en", "C", None),
    ("[D]", "en", "D", None),
    ("**B**", "en", "B", None),
    ("D) a dog", "en", "D", None),
    ("B: a red ball", "en", "B", None),
    ("B - a red ball", "en", "B", None),
    # English: the letter after or before the cue.
    ("The answer is B", "en", "B", None),
    ("The answer is B.", "en", "B", None),
    ("Answer: C", "en", "C", None),
    ("Answer: a", "en", "A", "capitals"),
    ("Option D", "en", "D", None),
    ("I think the correct option is (D).", "en", "D", None),
    ("The correct answer is **C**. The box is green.", "en", "C", None),
    ("The ball in the picture is red, so the answer is B.", "en", "B", None),
    ("B is the correct answer.", "en", "B", "last5"),
    ("B, because the ball on the left is red.", "en", "B", "last5"),
    ("I would pick B here", "en", "B", None),
    # English: option text, verbatim and with its article changed.
    ("a red ball", "en", "B", None),
    ("It is a dog.", "en", "D", None),
    ("I can see a green box on the table.", "en", "C", None),
    ("A dog is sitting on the grass.", "en", "D", None),
    ("The red ball.", "en", "B", "article"),
    ("Red ball", "en", "B", "article"),
    ("The green box", "en", "C", "article"),
    # English: hedges.
    ("Probably C.", "en", "C", None),
    ("It could be B, but I'm not sure.", "en", "B", "last5"),
    ("A or B", "en", None, None),
    ("The answer is B or C", "en", None, "verbose"),
    ("Both A and B", "en", None, None),
    ("A and B", "en", None, None),
    ("It looks like a ball, either red or blue.", "en", None, None),
    ("There are two balls, a red ball and a blue ball.", "en", None, None),
    # English: refusals and nothing.
    ("I have no idea.", "en", None, None),
    ("Sorry, I can't help with images of people yet.", "en", None, None),
    ("Cannot determine the answer from the image.", "en", None, None),
    ("I cannot see the image, so I cannot answer.", "en", None, None),
    ("Neither option fits.", "en", None, None),
    ("The answer is E", "en", None, None),
    ("", "en", None, None),
    # Basque: bare letters and brackets.
    ("B", "eu", "B", None),
    ("b", "eu", "B", "capitals"),
    ("a", "eu", "A", "capitals"),
    ("(B)", "eu", "B", None),
    ("C.", "eu", "C", None),
    ("**C**", "eu", "C", None),
    ("D) txakurra", "eu", "D", None),
    # Basque: the letter after or before the cue.
    ("Erantzuna B da.", "eu", "B", None),
    ("Erantzuna A da", "eu", "A", None),
    ("Erantzuna: B", "eu", "B", None),
    ("Erantzuna: (A)", "eu", "A", None),
    ("Erantzun zuzena C da.", "eu", "C", None),
    ("Zuzena: A", "eu", "A", None),
    ("Zuzena B da.", "eu", "B", None),
    ("Aukera zuzena D da.", "eu", "D", None),
    ("Aukera B", "eu", "B", None),
    ("B aukera", "eu", "B", None),
    ("B aukera da zuzena.", "eu", "B", None),
    ("C da.", "eu", "C", None),
    ("Uste dut B dela.", "eu", "B", None),
    ("Nire ustez, erantzun zuzena D da, irudian txakur bat baitago.", "eu", "D", "last5"),
    # Basque: option text, verbatim and with its determiner changed.
    ("pilota gorria", "eu", "B", None),
    ("Kaxa berdea.", "eu", "C", None),
    ("Irudian txakurra dago.", "eu", "D", None),
    ("Pilota gorria da erantzuna.", "eu", "B", None),
    ("Erantzuna pilota gorria da.", "eu", "B", None),
    ("Pilota gorri bat.", "eu", "B", "determiner"),
    ("Txakur bat ikusten da irudian.", "eu", "D", "determiner"),
    ("Pilota urdin bat dago mahai gainean.", "eu", "A", "determiner"),
    # Basque: hedges.
    ("Agian B.", "eu", "B", None),
    ("Ziurrenik C aukera da, baina ez nago ziur.", "eu", "C", "last5"),
    ("B edo C", "eu", None, None),
    ("Erantzuna B edo C da", "eu", None, None),
    ("A eta B", "eu", None, None),
    ("A eta B biak dira zuzenak.", "eu", None, None),
    ("Erantzunak: A eta C", "eu", None, None),
    ("Irudian pilota urdina eta pilota gorria daude.", "eu", None, None),
    ("Ez da pilota gorria, pilota urdina baizik.", "eu", None, None),
    # Basque: refusals and nothing.
    ("Erantzuna", "eu", None, None),
    ("Ez dakit.", "eu", None, None),
    ("Ezin dut irudia ikusi, beraz ezin dut erantzun.", "eu", None, None),
    ("Hori ez dago argi.", "eu", None, None),
    ("Erantzuna E da", "eu", None, None),
]
OPTIONS = {"en": EN, "eu": EU}


# --- REFERENCE IMPLEMENTATION, written for this test from the logic of the official VQA evaluation
# (GT-Vision-Lab/VQA PythonEvaluationTools/vqaEvaluation/vqaEval.py: evaluate, processPunctuation,
# processDigitArticle) and of the EvalAI answer processor that LLaVA and lmms-eval apply to
# predictions (lmms_eval/tasks/_task_utils/vqa_eval_metric.py). Its contraction table holds only
# the entries the inputs below touch. Not our code; used nowhere else. ---------------------------
_REF_PUNCT = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
_REF_COMMA = re.compile(r"(\d)(,)(\d)")
_REF_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_REF_MANUAL = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
               "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_REF_CONTRACTIONS = {"dont": "don't", "isnt": "isn't", "whats": "what's", "Im": "I'm", "somebody'd": "somebodyd",
                     "couldnt've": "couldn't've"}


def _ref_punct(text: str) -> str:
    out = text
    for p in _REF_PUNCT:
        if (p + " " in text or " " + p in text) or (re.search(_REF_COMMA, text) is not None):
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _REF_PERIOD.sub("", out, re.UNICODE)


def _ref_digit_article(text: str) -> str:
    out = []
    for word in text.lower().split():
        word = _REF_MANUAL.setdefault(word, word)
        if word not in ["a", "an", "the"]:
            out.append(word)
    return " ".join(_REF_CONTRACTIONS.get(word, word) for word in out)


def _ref_evalai(item: str) -> str:
    item = item.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    item = item.replace("\n", " ").replace("\t", " ").strip()
    return _ref_digit_article(_ref_punct(item))


def reference_vqa_accuracy(prediction: str, answers: list[str]) -> float:
    """The official accuracy of one question, the prediction first put through EvalAI's processor."""
    gts = [{"answer": a.replace("\n", " ").replace("\t", " ").strip(), "answer_id": i} for i, a in enumerate(answers)]
    res = _ref_evalai(prediction).replace("\n", " ").replace("\t", " ").strip()
    if len({g["answer"] for g in gts}) > 1:
        for g in gts:
            g["answer"] = _ref_digit_article(_ref_punct(g["answer"]))
        res = _ref_digit_article(_ref_punct(res))
    accs = []
    for gt in gts:
        others = [g for g in gts if g != gt]
        accs.append(min(1, len([g for g in others if g["answer"] == res]) / 3))
    return sum(accs) / len(accs)


# Ten-answer cases: (prediction, answers).
TEN = [
    ("Two", ["2"] * 10),
    ("two", ["2"] * 3 + ["3"] * 7),
    ("Yes.", ["yes"] * 9 + ["no"]),
    ("The dog", ["dog"] * 4 + ["puppy"] * 6),
    ("10,000", ["10000"] * 2 + ["10,000"] * 8),
    ("black-and-white", ["black and white"] * 5 + ["gray"] * 5),
    ("red, white", ["red white"] * 6 + ["red"] * 4),
    ("Pizza?!", ["pizza"] * 10),
    ("dont", ["don't"] * 3 + ["no"] * 7),
    ("whats up", ["what's up"] * 10),
    ("The man's hat", ["man's hat"] * 6 + ["hat"] * 4),
    ("Im", ["im"] * 3 + ["i'm"] * 7),
    ("2.5", ["2.5"] * 4 + ["2"] * 6),
    ("U.S.A.", ["usa"] * 5 + ["us"] * 5),
    ("A  cat\n", ["cat"] * 2 + ["a cat"] * 3 + ["kitten"] * 5),
    ("none", ["0"] * 2 + ["none"] * 2 + ["zero"] + ["1"] * 5),
    ("(left)", ["left"] * 7 + ["right"] * 3),
]
