"""Moved: the architecture-history plot lives in `symbolic_automl.reporting.plots`.

Kept so `from symbolic_automl.oneshot import plot_architecture_history` still works.
"""

from symbolic_automl.reporting.plots import plot_architecture_history

__all__ = ["plot_architecture_history"]
