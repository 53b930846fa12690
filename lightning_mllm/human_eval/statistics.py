"""The statistics of the human evaluation report.

From libraries:

* ``cohen_kappa``: scikit-learn's ``cohen_kappa_score``.
* ``spearman``: SciPy's ``spearmanr`` (average ranks for ties).
* The normal quantile of ``wilson_interval``: SciPy's ``norm.ppf``.

Our own, where no well-kept light library does what the report needs:

* ``wilson_interval``: SciPy has the Wilson interval (``binomtest(k, n).proportion_ci("wilson")``)
  but only for a whole number of successes; win rates count a tie as half a win, so successes may
  be fractional. The formula below treats each judgment as one trial scored 0, 1/2 or 1 (slightly
  conservative: a tie varies less than a coin flip) and equals SciPy's for whole numbers (tested).
* ``fleiss_kappa``: neither scikit-learn nor SciPy has it; statsmodels does, but would bring
  statsmodels and patsy into the environment for a five-line formula. Tested against the textbook
  example and, for two raters with equal label frequencies (where it equals Cohen's kappa), against
  scikit-learn.
* ``bradley_terry``: Hunter's (2004) MM algorithm with ties as half a win each way. The one
  maintained Python package for it (``choix``) takes whole (winner, loser) pairs, has no ties, and
  without regularisation gives no finite strength to a model that never won (ours gives it 0 and
  keeps the others at their maximum-likelihood values); regularising would change the figures.
  Tested against a direct maximum-likelihood fit with SciPy's optimiser.

Undefined values (an empty sample, a kappa whose chance agreement is already 1, a correlation of a
constant series) come back as None rather than as a number that would look meaningful.
"""

from __future__ import annotations

import math
import warnings
from typing import Hashable, Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import cohen_kappa_score


def wilson_interval(successes: float, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of ``successes / trials``.

    Args:
        successes: Wins, with ties counted as 0.5.
        trials: Number of judgments, at least 1.
        confidence: Two-sided confidence level.

    Returns:
        (low, high), clipped to [0, 1].
    """
    if trials <= 0:
        raise ValueError("a Wilson interval needs at least one trial")
    z = float(stats.norm.ppf((1 + confidence) / 2))
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items (position i = item i).

    Returns:
        (p_o - p_e) / (1 - p_e), with p_o the observed agreement and p_e the agreement expected
        from each rater's own label frequencies; None when there are no items or p_e is 1.
    """
    if len(first) != len(second):
        raise ValueError("both raters need a label for every item")
    if not first:
        return None
    labels = sorted(set(first) | set(second), key=str)
    with warnings.catch_warnings():
        # p_e = 1 (both raters always chose one same label): scikit-learn warns and returns NaN,
        # which becomes None here; the warning would only repeat that.
        warnings.simplefilter("ignore")
        kappa = float(cohen_kappa_score(list(first), list(second), labels=labels))
    return None if math.isnan(kappa) else kappa


def fleiss_kappa(counts: np.ndarray | Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from an items x categories table of how many raters chose each category.

    Every item must have the same number of ratings (at least two).

    Returns:
        (P_bar - P_e) / (1 - P_e); None when there are no items or P_e is 1.
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim != 2 or table.shape[0] == 0:
        return None
    raters = table.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings for every item")
    n = raters[0]
    agreement = ((table * table).sum(axis=1) - n) / (n * (n - 1))  # P_i per item
    shares = table.sum(axis=0) / table.sum()  # p_j per category
    expected = float((shares * shares).sum())
    return None if expected >= 1 else (float(agreement.mean()) - expected) / (1 - expected)


def bradley_terry(wins: np.ndarray | Sequence[Sequence[float]], max_iterations: int = 10_000,
                  tolerance: float = 1e-12) -> np.ndarray:
    """Bradley-Terry strengths p (sum 1) with P(i beats j) = p_i / (p_i + p_j).

    Hunter's MM update p_i <- W_i / sum_j n_ij / (p_i + p_j), W_i the wins of i and n_ij the
    comparisons of i and j, repeated until no strength moves by more than ``tolerance``.

    Args:
        wins: Square matrix; wins[i][j] is how often i beat j, a tie adding 0.5 to both cells.
        max_iterations: Cap on the updates.
        tolerance: Convergence threshold on the change of any strength.

    Returns:
        The strengths; NaN for a model without comparisons. A model that never won gets 0. When
        the models fall into groups never compared with each other, the scale between groups is
        arbitrary (the report says when this happens).
    """
    w = np.asarray(wins, dtype=float)
    games = w + w.T
    np.fill_diagonal(games, 0.0)
    compared = games.sum(axis=1) > 0
    strengths = np.where(compared, 1.0 / max(int(compared.sum()), 1), np.nan)
    won = w.sum(axis=1) - np.diag(w)
    for _ in range(max_iterations if compared.any() else 0):
        current = strengths[compared]
        pair_sums = current[:, None] + current[None, :]
        sub_games = games[np.ix_(compared, compared)]
        with np.errstate(divide="ignore", invalid="ignore"):
            denominators = np.where(sub_games > 0, sub_games / pair_sums, 0.0).sum(axis=1)
        updated = won[compared] / denominators
        updated /= updated.sum()
        change = float(np.max(np.abs(updated - current)))
        strengths[compared] = updated
        if change < tolerance:
            break
    return strengths


def spearman(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Spearman's rho (SciPy); None below 2 points or when a series is constant."""
    if len(first) != len(second):
        raise ValueError("both series need the same length")
    if len(first) < 2:
        return None
    with warnings.catch_warnings():
        # A constant series has no ranks to correlate: SciPy warns and returns NaN, None here.
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rho = float(stats.spearmanr(first, second).statistic)
    return None if math.isnan(rho) else rho
