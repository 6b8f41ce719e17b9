"""Seeing a search: progress bar, readable decisions, TensorBoard HParams, plots,
the HTML report and the live read-only dashboard.

Only the light pieces are imported here (the search loop imports this package);
plots need matplotlib, `tensorboard` needs the `tensorboard` package::

    from symbolic_automl.reporting import plots, tensorboard, report, dashboard
    plots.plot_objective(result, "objective.png")
    search(..., callbacks=[tensorboard.HParamsLogger("runs/tb")])
"""

from symbolic_automl.reporting.progress import Progress
from symbolic_automl.reporting.readable import decisions_of_assignment, format_decisions

__all__ = ["Progress", "decisions_of_assignment", "format_decisions"]
