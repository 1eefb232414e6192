"""The book layer: finding results and verdicts, statistics, the scorecard, and charts."""
from . import findings, plots, scorecard, statistics, tables

__all__ = ["findings", "plots", "scorecard", "statistics", "tables"]
