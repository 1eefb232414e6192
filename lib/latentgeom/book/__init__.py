"""The book layer: finding results and verdicts, statistics, the scorecard, and charts."""
from . import findings, plots, scorecard, statistics

__all__ = ["findings", "plots", "scorecard", "statistics"]
