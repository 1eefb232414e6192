"""The book layer: finding results and verdicts, statistics, the scorecard, charts, tables,
the methods pages' measured prose and check lists, and the build's provenance."""
from . import findings, plots, provenance, report, scorecard, statistics, tables

__all__ = ["findings", "plots", "provenance", "report", "scorecard", "statistics", "tables"]
