"""The book layer: finding results and verdicts, statistics, the scorecard, charts, tables and
the methods pages' measured prose and check lists."""
from . import findings, plots, report, scorecard, statistics, tables

__all__ = ["findings", "plots", "report", "scorecard", "statistics", "tables"]
