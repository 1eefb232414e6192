"""Statistics behind the verdicts: correlations with bootstrap confidence intervals."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

__all__ = ["Correlation", "bootstrap_correlation"]


@dataclass(frozen=True)
class Correlation:
    """Pearson and Spearman correlation with percentile-bootstrap confidence intervals."""

    n: int
    pearson: float
    pearson_ci: tuple[float, float]
    pearson_p: float
    spearman: float
    spearman_ci: tuple[float, float]
    spearman_p: float
    confidence: float

    def significant_positive(self) -> bool:
        """Both coefficients positive with bootstrap intervals above zero."""
        return self.pearson_ci[0] > 0 and self.spearman_ci[0] > 0

    def as_dict(self) -> dict:
        return asdict(self)


def bootstrap_correlation(x, y, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> Correlation:
    """Pearson and Spearman coefficients of paired samples, with bootstrap intervals.

    Parameters
    ----------
    x, y : array-like, shape [n]
        Paired observations (e.g. curvature gap and test accuracy per model); n >= 4.
    n_boot : int
        Bootstrap resamples of the pairs (with replacement).
    confidence : float in (0, 1)
        Width of the percentile interval.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of equal length, got shapes {x.shape} and {y.shape}")
    if len(x) < 4:
        raise ValueError(f"need at least 4 pairs for a correlation with an interval, got {len(x)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite (found NaN or inf)")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    boot_p, boot_s = [], []
    for row in idx:
        bx, by = x[row], y[row]
        if np.ptp(bx) == 0 or np.ptp(by) == 0:
            continue  # a resample with a constant column has no correlation
        boot_p.append(np.corrcoef(bx, by)[0, 1])
        boot_s.append(stats.spearmanr(bx, by).statistic)
    lo, hi = (1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100
    pr = stats.pearsonr(x, y)
    sr = stats.spearmanr(x, y)
    return Correlation(
        n=len(x),
        pearson=float(pr.statistic),
        pearson_ci=(float(np.percentile(boot_p, lo)), float(np.percentile(boot_p, hi))),
        pearson_p=float(pr.pvalue),
        spearman=float(sr.statistic),
        spearman_ci=(float(np.percentile(boot_s, lo)), float(np.percentile(boot_s, hi))),
        spearman_p=float(sr.pvalue),
        confidence=confidence,
    )
