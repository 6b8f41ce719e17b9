"""Plots of a weight-sharing search's architecture history (softmax(α) per epoch).

Example::

    outcome = DARTS(epochs=10).search(space, evaluator)
    plot_architecture_history(outcome.history, "alphas.png")
    # or, from a stored search: store.get_meta("architecture_history")
"""

from typing import Any, Dict, Optional, Sequence


def plot_architecture_history(history: Sequence[Dict[str, Any]], path: Optional[str] = None,
                              max_choice_points: int = 16, columns: int = 4):
    """One panel per choice point: each candidate's weight over the epochs.

    Args:
      history: `SearchOutcome.history` (a list of per-epoch dicts with an
        "architecture" entry).
      path: where to save the figure (png, pdf, ...); None: only return it.
      max_choice_points: panels drawn at most (the first ones).
      columns: panels per row.

    Returns:
      The matplotlib `Figure`.
    """
    import matplotlib  # pylint: disable=g-import-not-at-top
    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

    if not history or "architecture" not in history[0]:
        raise ValueError(
            "Expected a weight-sharing history: a non-empty list of per-epoch dicts with "
            f"an 'architecture' entry; got {str(history)[:200]!r}.")
    keys = list(history[0]["architecture"])[:max_choice_points]
    rows = (len(keys) + columns - 1) // columns
    figure, axes = plt.subplots(rows, min(columns, len(keys)), squeeze=False,
                                figsize=(3.2 * min(columns, len(keys)), 2.4 * rows))
    epochs = [entry["epoch"] for entry in history]
    for index, key in enumerate(keys):
        axis = axes[index // columns][index % columns]
        candidates = history[0]["architecture"][key]["candidates"]
        for c, label in enumerate(candidates):
            axis.plot(epochs, [entry["architecture"][key]["weights"][c] for entry in history],
                      label=label)
        axis.set_title(key, fontsize=8)
        axis.set_xlabel("epoch", fontsize=7)
        axis.tick_params(labelsize=6)
        if index == 0 or len(candidates) <= 4:
            axis.legend(fontsize=5)
    for index in range(len(keys), rows * axes.shape[1]):
        axes[index // columns][index % columns].axis("off")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
        plt.close(figure)
    return figure
