"""The book layer: finding results and verdicts, statistics, the scorecard, and charts."""
from . import findings, plots, provenance, scorecard, statistics, tables

__all__ = ["findings", "plots", "provenance", "scorecard", "statistics", "tables"]
