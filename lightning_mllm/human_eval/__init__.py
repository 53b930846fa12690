"""Open-ended evaluation with people: blind pairwise rating sets, a rating web app and a report.

``prepare`` builds a rating set from the evaluate command's ``predictions.jsonl`` files, ``invite``
gives each rater a private link, ``serve`` shows the set to invited raters one item at a time, and
``report`` turns the judgments into win rates, a Bradley-Terry ranking, rater agreement and
agreement with the LLM judge (``python -m lightning_mllm.human_eval --help``).
"""
