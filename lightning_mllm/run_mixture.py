"""The language mixture a checkpoint was trained with, read from its run's saved config.

``train.py fit`` (LightningCLI) saves the run's whole resolved config as ``config.yaml`` in the run
folder (``runs/NAME/version_N/``), and checkpoints go to its ``checkpoints/`` folder. The share of
each language among the multimodal training sources follows from ``data.train_sources``,
``data.weights`` and ``data.mixture`` through the same ``mixture_weights.source_weights`` the
datamodule draws with, so evaluation labels its results with the share the run really had instead
of one typed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lightning_mllm.mixture_weights import MixtureShares, Source, source_weights

DEFAULT_TARGET = MixtureShares().target_lang  # the language a run's share is about, unless it says


@dataclass(frozen=True)
class RunMixture:
    """The multimodal language mixture of one run.

    Attributes:
        config: The run's ``config.yaml``.
        target_lang: The language whose share the sweep is about (``data.mixture.target_lang``).
        shares: Share of each language among the multimodal (``image``) training samples, summing to 1.
    """

    config: Path
    target_lang: str
    shares: dict[str, float]

    @property
    def target_share(self) -> float:
        """The fraction of ``target_lang`` among the multimodal samples (0.0 when it had none)."""
        return self.shares.get(self.target_lang, 0.0)


class RunConfigError(ValueError):
    """A run config whose mixture cannot be read; the message names the file and the key."""


def run_config(checkpoint: str | Path) -> Path | None:
    """The ``config.yaml`` of the run that wrote ``checkpoint`` (``RUN/checkpoints/x.ckpt`` or
    ``RUN/x.ckpt``), or None when there is none."""
    folder = Path(checkpoint).resolve().parent
    for candidate in (folder.parent / "config.yaml", folder / "config.yaml"):
        if candidate.is_file():
            return candidate
    return None


def language_shares(data: dict[str, Any], path: Path) -> tuple[str, dict[str, float]]:
    """The target language and each language's share of the multimodal samples of ``data`` (the
    datamodule's ``init_args``): the datamodule's own sampling probabilities, summed per language
    over the ``image`` sources and normalised over them."""
    sources = data.get("train_sources") or []
    if not isinstance(sources, list) or not sources:
        raise RunConfigError(f"{path}: data.init_args.train_sources is missing, so the run's mixture is unknown")
    try:
        listed = [Source(name=s["name"], weight=float(s.get("weight", 1.0)), lang=s.get("lang"),
                         modality=s.get("modality", "image")) for s in sources]
        mixture = MixtureShares(**(data.get("mixture") or {}))
        chances = source_weights(listed, mixture if data.get("mixture") else None, data.get("weights"))
    except (KeyError, TypeError, ValueError) as error:
        raise RunConfigError(f"{path}: the run's data.init_args cannot be read as a mixture ({error!r})") from error
    image = [(s.lang, p) for s, p in zip(listed, chances) if s.modality == "image" and p > 0]
    if any(lang is None for lang, _ in image):
        raise RunConfigError(f"{path}: a multimodal source without 'lang' (its samples name their language), "
                             f"so the language shares cannot be read from the config")
    total = sum(p for _, p in image)
    if total <= 0:
        raise RunConfigError(f"{path}: every multimodal source has weight 0")
    shares: dict[str, float] = {}
    for lang, p in image:
        shares[lang] = shares.get(lang, 0.0) + p / total
    if mixture.target_share is not None:
        shares.setdefault(mixture.target_lang, 0.0)  # a 0% run is still a point of the sweep
    return mixture.target_lang, shares


def read_run_mixture(checkpoint: str | Path) -> RunMixture | None:
    """The mixture of ``checkpoint``'s run, or None when its run folder has no ``config.yaml``.

    Raises:
        RunConfigError: The config exists but does not state a readable multimodal mixture.
    """
    path = run_config(checkpoint)
    if path is None:
        return None
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise RunConfigError(f"{path}: cannot read the run's config: {error}") from error
    data = config.get("data") if isinstance(config, dict) else None
    data = data.get("init_args", data) if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise RunConfigError(f"{path}: no 'data' section, so the run's mixture is unknown")
    target, shares = language_shares(data, path)
    return RunMixture(config=path, target_lang=target, shares=shares)


def mixture_labels(checkpoint: str | None, basque_share: float | None, target_lang: str | None) -> dict[str, Any]:
    """The run's mixture labels for the results: ``basque_share`` (percent of the target language),
    ``target_lang``, ``language_shares`` (fractions) and ``mixture_config`` (the file read).

    The checkpoint's run config decides; ``basque_share`` given by the user must agree with it
    (within 0.5 percentage points) and is used as given only where there is no run config.
    """
    try:
        mixture = read_run_mixture(checkpoint) if checkpoint else None
    except RunConfigError as error:
        if basque_share is None:
            raise SystemExit(f"error: {error}; give --basque_share (percent) to label the results") from None
        print(f"warning: {error}; the results are labelled with --basque_share {basque_share:g}")
        mixture = None
    if mixture is None:
        return {"basque_share": basque_share, "target_lang": target_lang, "language_shares": None,
                "mixture_config": None}
    lang = target_lang or mixture.target_lang
    percent = round(100 * mixture.shares.get(lang, 0.0), 4)
    if basque_share is not None and abs(basque_share - percent) > 0.5:
        shares = ", ".join(f"{code} {100 * share:.4g}%" for code, share in sorted(mixture.shares.items()))
        raise SystemExit(f"error: --basque_share {basque_share:g} disagrees with the run's mixture in "
                         f"{mixture.config} ({shares}; {lang!r} is {percent:g}%); leave --basque_share out to use "
                         f"the run's share (it is a percentage, not a fraction)")
    print(f"run mixture (multimodal data, {mixture.config}): "
          + ", ".join(f"{code} {100 * share:.4g}%" for code, share in sorted(mixture.shares.items())))
    return {"basque_share": percent, "target_lang": lang, "language_shares": mixture.shares,
            "mixture_config": str(mixture.config)}
