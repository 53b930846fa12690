"""The statistics of the human evaluation report, written out with numpy and no other library.

* ``wilson_interval``: the Wilson score interval of a proportion. Win rates count a tie as half a
  win, so "successes" may be fractional; the interval then treats each judgment as one trial scored
  0, 1/2 or 1 (an approximation: a tie is less variable than a coin flip, so the interval is
  slightly conservative).
* ``cohen_kappa`` (two raters) and ``fleiss_kappa`` (a fixed number of raters per item).
* ``bradley_terry``: strengths by Hunter's (2004) MM algorithm, ties as half a win each way.
* ``spearman``: rank correlation with average ranks for ties.

Undefined values (an empty sample, a kappa whose chance agreement is already 1, a correlation of a
constant series) come back as None rather than as a number that would look meaningful.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Hashable, Sequence

import numpy as np

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(successes: float, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of ``successes / trials``.

    Args:
        successes: Wins, with ties counted as 0.5.
        trials: Number of judgments, at least 1.
        z: Normal quantile; the default gives a 95% interval.

    Returns:
        (low, high), clipped to [0, 1].
    """
    if trials <= 0:
        raise ValueError("a Wilson interval needs at least one trial")
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
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second)) / n
    counts_a, counts_b = Counter(first), Counter(second)
    expected = sum(counts_a[c] * counts_b[c] for c in counts_a) / (n * n)
    return None if expected >= 1 else (observed - expected) / (1 - expected)


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


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n of ``values`` (ascending), tied values sharing their average rank."""
    array = np.asarray(values, dtype=float)
    order = np.argsort(array, kind="stable")
    ranks = np.empty(len(array))
    i = 0
    while i < len(array):
        j = i
        while j + 1 < len(array) and array[order[j + 1]] == array[order[i]]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the average ranks; None below 2 points or when constant."""
    if len(first) != len(second):
        raise ValueError("both series need the same length")
    if len(first) < 2:
        return None
    a, b = average_ranks(first), average_ranks(second)
    a, b = a - a.mean(), b - b.mean()
    norm = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return None if norm == 0 else float((a * b).sum()) / norm
