"""Plots of a search, from a `Result` or a stored experiment (matplotlib).

Each function takes a `Result`, an experiment directory (`root_dir`) or a
`StoreView`, draws on a new `matplotlib.figure.Figure` (no pyplot state, safe in
a server thread), saves it when given a `path`, and returns it.

Example::

    from symbolic_automl.reporting import plots
    plots.plot_objective("runs/exp", "objective.png")      # per trial, best so far
    plots.plot_decision_effects(result)                    # one panel per decision
    plots.plot_learning_curves(result, metric="val_accuracy")
"""

import collections
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from symbolic_automl import trial as trial_lib
from symbolic_automl.reporting import readable

# Colours: completed, stopped early, the best / front.
_COLORS = {"completed": "#4c72b0", "stopped": "#dd8452", "best": "#c44e52"}


def as_result(source: Any) -> trial_lib.Result:
    """A `Result` from a `Result`, a `StoreView` or an experiment directory."""
    if isinstance(source, trial_lib.Result):
        return source
    from symbolic_automl.reporting import store_view  # pylint: disable=g-import-not-at-top

    if isinstance(source, store_view.StoreView):
        return source.result()
    if isinstance(source, str):
        view = store_view.StoreView.in_dir(source)
        try:
            return view.result()
        finally:
            view.close()
    raise TypeError(f"Expected a Result, a StoreView or an experiment directory, got "
                    f"{type(source).__name__}: {source!r:.100}")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

    return Figure(figsize=(width, height), dpi=100)


def _finish(figure, path: Optional[str]):
    figure.tight_layout()
    if path is not None:
        figure.savefig(path)
    return figure


def objective_value(trial: trial_lib.Trial, name: str) -> Optional[float]:
    value = trial.metrics.get(name)
    return float(value) if trial_lib.is_finite_number(value) else None


def _is_min(result: trial_lib.Result, index: int = 0) -> bool:
    """Whether objective `index` was minimized (its reward is the negated metric)."""
    name = result.objective[index]
    for t in result.rewarded:
        value = objective_value(t, name)
        reward = t.reward[index] if isinstance(t.reward, tuple) else t.reward
        if value is not None and value != 0:
            return reward == -value
    return False


def objective_series(result: trial_lib.Result) -> Tuple[List[int], List[float], List[float]]:
    """(trial ids, objective values, best-so-far values) of the rewarded trials, in id order."""
    name = result.objective[0]
    minimize = _is_min(result)
    ids, values, best = [], [], []
    for t in sorted(result.rewarded, key=lambda t: t.id):
        value = objective_value(t, name)
        if value is None:
            continue
        ids.append(t.id)
        values.append(value)
        if not best:
            best.append(value)
        else:
            best.append(min(best[-1], value) if minimize else max(best[-1], value))
    return ids, values, best


def plot_objective(source, path: Optional[str] = None):
    """The objective of each trial (dots; early-stopped ones orange) and the best so far (line)."""
    result = as_result(source)
    ids, values, best = objective_series(result)
    status = {t.id: t.status for t in result.trials}
    figure = _figure(6.4, 3.6)
    axis = figure.add_subplot(1, 1, 1)
    for kind in ("completed", "stopped"):
        chosen = [(i, v) for i, v in zip(ids, values) if status[i] == kind]
        if chosen:
            axis.scatter([i for i, _ in chosen], [v for _, v in chosen], s=14,
                         color=_COLORS[kind], label=kind, zorder=2)
    axis.step(ids, best, where="post", color=_COLORS["best"], label="best so far", zorder=3)
    failed = len(result.trials) - len(result.rewarded)
    axis.set_title(f"{result.objective[0]} per trial ({len(ids)} rewarded, {failed} without "
                   "reward)", fontsize=9)
    axis.set_xlabel("trial")
    axis.set_ylabel(result.objective[0])
    if ids:
        axis.legend(fontsize=7)
    return _finish(figure, path)


def plot_pareto(source, path: Optional[str] = None, objectives: Sequence[int] = (0, 1)):
    """Two objectives of every rewarded trial, the Pareto front highlighted and joined."""
    result = as_result(source)
    if len(result.objective) < 2:
        raise ValueError(f"A Pareto front needs a multi-objective search; this one has the "
                         f"single objective {result.objective}.")
    i, j = objectives
    names = (result.objective[i], result.objective[j])
    front_ids = {t.id for t in result.pareto_front()}
    points = [(t.id, objective_value(t, names[0]), objective_value(t, names[1]))
              for t in result.rewarded]
    points = [p for p in points if p[1] is not None and p[2] is not None]
    figure = _figure(5.2, 4.0)
    axis = figure.add_subplot(1, 1, 1)
    others = [p for p in points if p[0] not in front_ids]
    front = sorted((p for p in points if p[0] in front_ids), key=lambda p: (p[1], p[2]))
    axis.scatter([p[1] for p in others], [p[2] for p in others], s=12, color="#999999",
                 label="dominated")
    axis.plot([p[1] for p in front], [p[2] for p in front], "o-", color=_COLORS["best"],
              markersize=5, label=f"Pareto front ({len(front)})")
    axis.set_xlabel(names[0])
    axis.set_ylabel(names[1])
    axis.set_title("Pareto front", fontsize=9)
    axis.legend(fontsize=7)
    return _finish(figure, path)


def decision_values(result: trial_lib.Result) -> Dict[str, List[Tuple[Any, float]]]:
    """Decision name -> [(value, objective)] over the rewarded trials with recorded decisions."""
    name = result.objective[0]
    out: Dict[str, List[Tuple[Any, float]]] = collections.OrderedDict()
    for t in result.rewarded:
        value = objective_value(t, name)
        if value is None or not t.decisions:
            continue
        for decision, chosen in t.decisions.items():
            out.setdefault(decision, []).append((chosen, value))
    return out


def _is_numeric(values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _groups(pairs) -> List[Tuple[str, List[float]]]:
    """Objective values grouped by decision label, labels in a stable (sorted) order."""
    groups: Dict[str, List[float]] = {}
    raw = {}
    for chosen, value in pairs:
        label = readable.format_value(chosen)
        groups.setdefault(label, []).append(value)
        raw[label] = chosen
    try:
        order = sorted(groups, key=lambda k: raw[k])
    except TypeError:
        order = sorted(groups)
    return [(label, groups[label]) for label in order]


def plot_decision_effects(source, path: Optional[str] = None, max_decisions: int = 16,
                          columns: int = 4, max_categories: int = 12):
    """One panel per decision: objective against its value, mean and spread (±1 std).

    A float decision (or many distinct numbers) is a scatter; any other shows each
    chosen value's trials (dots) and their mean ± standard deviation (error bar).
    """
    result = as_result(source)
    values = decision_values(result)
    names = list(values)[:max_decisions]
    if not names:
        figure = _figure(4, 2)
        figure.text(0.5, 0.5, "No rewarded trial with recorded decisions yet",
                    ha="center", fontsize=9)
        return _finish(figure, path)
    cols = min(columns, len(names))
    rows = (len(names) + cols - 1) // cols
    figure = _figure(3.2 * cols, 2.5 * rows)
    for index, decision in enumerate(names):
        axis = figure.add_subplot(rows, cols, index + 1)
        pairs = values[decision]
        chosen = [c for c, _ in pairs]
        if _is_numeric(chosen) and (len(set(chosen)) > max_categories or
                                    any(isinstance(c, float) and not c.is_integer()
                                        for c in chosen)):
            axis.scatter(chosen, [v for _, v in pairs], s=8, color=_COLORS["completed"])
        else:
            groups = _groups(pairs)[:max_categories]
            for position, (_, group) in enumerate(groups):
                axis.scatter([position] * len(group), group, s=8, alpha=0.5,
                             color=_COLORS["completed"])
            means = [sum(g) / len(g) for _, g in groups]
            spread = [_std(g) for _, g in groups]
            axis.errorbar(range(len(groups)), means, yerr=spread, fmt="D",
                          color=_COLORS["best"], capsize=3, markersize=4)
            axis.set_xticks(range(len(groups)))
            axis.set_xticklabels([_short(label) for label, _ in groups], fontsize=6,
                                 rotation=30 if len(groups) > 3 else 0)
            axis.set_xlim(-0.5, len(groups) - 0.5)
        axis.set_title(decision, fontsize=8)
        axis.tick_params(labelsize=6)
        if index % cols == 0:
            axis.set_ylabel(result.objective[0], fontsize=7)
    return _finish(figure, path)


def _std(values: Sequence[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _short(label: str, chars: int = 14) -> str:
    return label if len(label) <= chars else label[:chars - 1] + "…"


def parallel_coordinates(result: trial_lib.Result, top: int
                         ) -> Tuple[List[str], List[Tuple[int, List[float]]], List[List[str]]]:
    """(axis names, [(trial id, positions in [0, 1] per axis)], tick labels per axis).

    Axes are the decisions then the objective; a categorical axis spaces its
    values evenly in sorted order, a numeric one scales between its min and max.
    Trials are the `top` best.
    """
    trials = [t for t in result.top(top) if t.decisions]
    name = result.objective[0]
    axes = []
    for t in trials:
        for d in t.decisions:
            if d not in axes:
                axes.append(d)
    columns = [[t.decisions.get(d) for t in trials] for d in axes]
    columns.append([objective_value(t, name) for t in trials])
    axes.append(name)
    positions = [[] for _ in trials]
    labels = []
    for column in columns:
        present = [v for v in column if v is not None]
        if present and _is_numeric(present):
            low, high = min(present), max(present)
            scale = (lambda v, lo=low, hi=high: 0.5 if hi == lo else (v - lo) / (hi - lo))
            labels.append([readable.format_value(low), readable.format_value(high)])
        else:
            order = [label for label, _ in _groups([(v, 0.0) for v in present])]
            spacing = {label: (i / (len(order) - 1) if len(order) > 1 else 0.5)
                       for i, label in enumerate(order)}
            scale = (lambda v, s=spacing: s[readable.format_value(v)])
            labels.append(order)
        for row, value in zip(positions, column):
            row.append(float("nan") if value is None else scale(value))
    return axes, [(t.id, row) for t, row in zip(trials, positions)], labels


def plot_parallel_coordinates(source, path: Optional[str] = None, top: int = 10):
    """The `top` best trials as lines across one vertical axis per decision and the objective."""
    result = as_result(source)
    axes, lines, labels = parallel_coordinates(result, top)
    figure = _figure(max(5.0, 1.1 * len(axes)), 3.8)
    axis = figure.add_subplot(1, 1, 1)
    import matplotlib  # pylint: disable=g-import-not-at-top

    colormap = matplotlib.colormaps["viridis"]
    for rank, (trial_id, row) in enumerate(lines):
        color = colormap(1 - rank / max(1, len(lines) - 1))
        axis.plot(range(len(axes)), row, "-o", color=color, markersize=3, linewidth=1.2,
                  label=f"#{trial_id}" if rank < 5 else None, gid=f"trial-{trial_id}")
    for x, ticks in enumerate(labels):
        axis.axvline(x, color="#cccccc", linewidth=0.8, zorder=0)
        if ticks:
            axis.text(x, -0.08, _short(ticks[0], 10), ha="center", va="top", fontsize=6)
            axis.text(x, 1.08, _short(ticks[-1], 10), ha="center", va="bottom", fontsize=6)
    axis.set_xticks(range(len(axes)))
    axis.set_xticklabels([_short(a, 16) for a in axes], fontsize=7, rotation=20)
    axis.set_yticks([])
    axis.set_ylim(-0.15, 1.15)
    axis.set_title(f"Top {len(lines)} trials (brightest = best)", fontsize=9)
    if lines:
        axis.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _finish(figure, path)


def learning_curve_metric(result: trial_lib.Result) -> Optional[str]:
    """The metric learning curves show: the objective when reported per epoch, else the first."""
    names = []
    for t in result.trials:
        for m in t.measurements:
            names += [k for k in m.metrics if k not in names]
    if not names:
        return None
    return result.objective[0] if result.objective[0] in names else names[0]


def plot_learning_curves(source, path: Optional[str] = None, metric: Optional[str] = None,
                         max_trials: int = 200, trial_ids: Optional[Sequence[int]] = None):
    """Per-epoch `metric` of each trial; early-stopped trials end with an orange ×.

    At most `max_trials` curves (the best ones) unless `trial_ids` picks them.
    """
    result = as_result(source)
    metric = metric or learning_curve_metric(result)
    figure = _figure(6.4, 3.6)
    axis = figure.add_subplot(1, 1, 1)
    if trial_ids is not None:
        wanted = set(trial_ids)
        trials = [t for t in result.trials if t.id in wanted]
    else:
        best = {t.id for t in result.top(max_trials)}
        trials = [t for t in result.trials if t.id in best or
                  (t.status == "running" and len(best) < max_trials)]
    stopped_x, stopped_y = [], []
    for t in trials:
        points = [(m.step, m.metrics[metric]) for m in t.measurements if metric in m.metrics]
        if not points:
            continue
        axis.plot([p[0] for p in points], [p[1] for p in points], linewidth=1, alpha=0.7,
                  color=_COLORS["stopped"] if t.status == "stopped" else _COLORS["completed"],
                  gid=f"trial-{t.id}")
        if t.status == "stopped":
            stopped_x.append(points[-1][0])
            stopped_y.append(points[-1][1])
    if stopped_x:
        axis.scatter(stopped_x, stopped_y, marker="x", s=30, color=_COLORS["stopped"],
                     label=f"stopped early ({len(stopped_x)})", zorder=3)
        axis.legend(fontsize=7)
    axis.set_xlabel("step (epoch)")
    axis.set_ylabel(metric or "")
    axis.set_title("Learning curves" if metric else "No per-epoch measurements yet", fontsize=9)
    return _finish(figure, path)


def plot_architecture_history(history: Sequence[Dict[str, Any]], path: Optional[str] = None,
                              max_choice_points: int = 16, columns: int = 4):
    """A weight-sharing search's history: one panel per choice point, each candidate's weight.

    Args:
      history: `SearchOutcome.history` (a list of per-epoch dicts with an
        "architecture" entry), or `store.get_meta("architecture_history")`.
      path: where to save the figure (png, pdf, ...); None: only return it.
      max_choice_points: panels drawn at most (the first ones).
      columns: panels per row.

    Returns:
      The matplotlib `Figure`.
    """
    if not history or "architecture" not in history[0]:
        raise ValueError(
            "Expected a weight-sharing history: a non-empty list of per-epoch dicts with "
            f"an 'architecture' entry; got {str(history)[:200]!r}.")
    keys = list(history[0]["architecture"])[:max_choice_points]
    cols = min(columns, len(keys))
    rows = (len(keys) + columns - 1) // columns
    figure = _figure(3.2 * cols, 2.4 * rows)
    epochs = [entry["epoch"] for entry in history]
    for index, key in enumerate(keys):
        axis = figure.add_subplot(rows, cols, index + 1)
        candidates = history[0]["architecture"][key]["candidates"]
        for c, label in enumerate(candidates):
            axis.plot(epochs, [entry["architecture"][key]["weights"][c] for entry in history],
                      label=label)
        axis.set_title(key, fontsize=8)
        axis.set_xlabel("epoch", fontsize=7)
        axis.tick_params(labelsize=6)
        if index == 0 or len(candidates) <= 4:
            axis.legend(fontsize=5)
    return _finish(figure, path)


def standard_plots(result: trial_lib.Result) -> Dict[str, Any]:
    """Plot name -> Figure: the plots the dashboard and the report show for this search."""
    figures = {"objective": plot_objective(result)}
    if len(result.objective) > 1:
        figures["pareto"] = plot_pareto(result)
    figures["decisions"] = plot_decision_effects(result)
    figures["parallel"] = plot_parallel_coordinates(result)
    if learning_curve_metric(result) is not None:
        figures["curves"] = plot_learning_curves(result)
    if result.architecture_history:
        figures["architecture"] = plot_architecture_history(result.architecture_history)
    return figures
