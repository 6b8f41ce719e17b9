"""Plots draw what the trials say: checked on the artists' data, not only on a file."""

import numpy as np
import pyglove as pg
import pytest

pytest.importorskip("matplotlib")

import symbolic_automl as sa  # pylint: disable=g-import-not-at-top
from symbolic_automl import trial as trial_lib  # pylint: disable=g-import-not-at-top
from symbolic_automl.reporting import plots  # pylint: disable=g-import-not-at-top


def _trial(i, status, acc=None, decisions=None, curve=(), reward=None):
    return trial_lib.Trial(
        id=i, dna=pg.DNA(0), status=status, metrics={} if acc is None else {"acc": acc},
        reward=acc if reward is None else reward, decisions=decisions,
        measurements=[trial_lib.Measurement(s, {"acc": v}, 0.0) for s, v in curve])


def _result():
    trials = [
        _trial(1, "completed", 0.5, {"units": 32, "act": "relu", "lr": 0.01},
               [(1, 0.3), (2, 0.5)]),
        _trial(2, "failed", None, {"units": 64, "act": "tanh", "lr": 0.02}),
        _trial(3, "completed", 0.7, {"units": 64, "act": "relu", "lr": 0.03},
               [(1, 0.4), (2, 0.6), (3, 0.7)]),
        _trial(4, "stopped", 0.4, {"units": 32, "act": "tanh", "lr": 0.04}, [(1, 0.4)]),
        _trial(5, "completed", 0.6, {"units": 64, "act": "tanh", "lr": 0.05},
               [(1, 0.5), (2, 0.6)]),
    ]
    return trial_lib.Result(trials, ["acc"])


def test_objective_per_trial_and_best_so_far(tmp_path):
    figure = plots.plot_objective(_result(), str(tmp_path / "objective.png"))
    assert (tmp_path / "objective.png").stat().st_size > 1000
    axis = figure.axes[0]
    [best] = axis.lines
    assert list(best.get_xdata()) == [1, 3, 4, 5]
    assert list(best.get_ydata()) == [0.5, 0.7, 0.7, 0.7]
    offsets = {c.get_label(): c.get_offsets().tolist() for c in axis.collections}
    assert offsets["completed"] == [[1, 0.5], [3, 0.7], [5, 0.6]]
    assert offsets["stopped"] == [[4, 0.4]]


def test_best_so_far_follows_a_minimized_objective():
    trials = [_trial(i, "completed", loss, reward=-loss) for i, loss in
              [(1, 0.9), (2, 0.5), (3, 0.8), (4, 0.2)]]
    figure = plots.plot_objective(trial_lib.Result(trials, ["acc"]))
    assert list(figure.axes[0].lines[0].get_ydata()) == [0.9, 0.5, 0.5, 0.2]


def test_pareto_front_is_the_non_dominated_trials():
    points = {1: (1.0, 5.0), 2: (2.0, 4.0), 3: (1.5, 3.0), 4: (3.0, 1.0), 5: (0.5, 0.5)}
    trials = [trial_lib.Trial(id=i, dna=pg.DNA(0), status="completed",
                              metrics={"acc": a, "speed": b}, reward=(a, b))
              for i, (a, b) in points.items()]
    figure = plots.plot_pareto(trial_lib.Result(trials, ["acc", "speed"]))
    axis = figure.axes[0]
    [front] = axis.lines
    assert list(zip(front.get_xdata(), front.get_ydata())) == [(1.0, 5.0), (2.0, 4.0),
                                                               (3.0, 1.0)]
    assert sorted(map(tuple, axis.collections[0].get_offsets().tolist())) == [(0.5, 0.5),
                                                                             (1.5, 3.0)]
    with pytest.raises(ValueError, match="multi-objective"):
        plots.plot_pareto(_result())


def test_decision_effects_show_values_means_and_spread():
    figure = plots.plot_decision_effects(_result(), max_categories=3)
    by_title = {a.get_title(): a for a in figure.axes}
    assert set(by_title) == {"units", "act", "lr"}
    act = by_title["act"]
    assert [t.get_text() for t in act.get_xticklabels()] == ["relu", "tanh"]
    # Rewarded trials: relu -> 0.5, 0.7; tanh -> 0.4, 0.6 (trial 2 failed: not drawn).
    dots = sorted(tuple(p) for c in act.collections[:2] for p in c.get_offsets().tolist())
    assert dots == [(0, 0.5), (0, 0.7), (1, 0.4), (1, 0.6)]
    means = act.lines[0]
    assert list(means.get_ydata()) == pytest.approx([0.6, 0.5])
    bars = [c for c in act.collections if c.__class__.__name__ == "LineCollection"][0]
    segments = bars.get_segments()
    assert [s[:, 1].tolist() for s in segments] == [pytest.approx([0.5, 0.7]),
                                                     pytest.approx([0.4, 0.6])]
    lr = by_title["lr"]  # 4 distinct floats > max_categories: a scatter.
    assert sorted(map(tuple, lr.collections[0].get_offsets().tolist())) == [
        (0.01, 0.5), (0.03, 0.7), (0.04, 0.4), (0.05, 0.6)]


def test_parallel_coordinates_of_the_top_trials():
    axes, lines, labels = plots.parallel_coordinates(_result(), top=3)
    assert axes == ["units", "act", "lr", "acc"]
    assert [trial_id for trial_id, _ in lines] == [3, 5, 1]
    by_id = dict(lines)
    # units: 32 -> 0, 64 -> 1; act relu -> 0, tanh -> 1; lr and acc min-max scaled.
    assert by_id[3] == pytest.approx([1.0, 0.0, 0.5, 1.0])
    assert by_id[1] == pytest.approx([0.0, 0.0, 0.0, 0.0])
    assert labels[1] == ["relu", "tanh"]
    figure = plots.plot_parallel_coordinates(_result(), top=3)
    drawn = {line.get_gid(): list(line.get_ydata()) for line in figure.axes[0].lines
             if line.get_gid()}
    assert drawn["trial-5"] == pytest.approx(by_id[5])


def test_learning_curves_mark_early_stopped_trials():
    figure = plots.plot_learning_curves(_result())
    axis = figure.axes[0]
    curves = {line.get_gid(): (list(line.get_xdata()), list(line.get_ydata()))
              for line in axis.lines}
    assert curves["trial-3"] == ([1, 2, 3], [0.4, 0.6, 0.7])
    assert curves["trial-4"] == ([1], [0.4])
    assert "trial-2" not in curves
    [marks] = axis.collections
    assert marks.get_offsets().tolist() == [[1, 0.4]]
    assert axis.get_ylabel() == "acc"


def test_architecture_history_moved_and_old_import_works():
    from symbolic_automl.oneshot import plot_architecture_history as old

    assert old is plots.plot_architecture_history
    history = [{"epoch": e, "architecture": {"cell": {"candidates": ["conv", "pool"],
                                                      "weights": [w, 1 - w]}}}
               for e, w in enumerate([0.5, 0.7, 0.9])]
    figure = old(history)
    conv, pool = figure.axes[0].lines
    assert list(conv.get_ydata()) == [0.5, 0.7, 0.9]
    assert list(pool.get_ydata()) == pytest.approx([0.5, 0.3, 0.1])


def test_plots_from_a_store(tmp_path):
    space = pg.Dict(x=pg.oneof([1, 2, 3]), y=pg.floatv(0.0, 1.0))

    def evaluate(model, context):
        context.report(1, {"reward": model.x / 2})
        return {"reward": model.x + model.y}

    result = sa.search(space, algorithm=pg.geno.Random(seed=1), evaluator=evaluate,
                       max_trials=6, root_dir=str(tmp_path), progress=False)
    figure = plots.plot_objective(str(tmp_path))
    ids, values, _ = plots.objective_series(result)
    assert figure.axes[0].lines[0].get_xdata().tolist() == ids
    scattered = np.concatenate([c.get_offsets() for c in figure.axes[0].collections])
    assert sorted(scattered[:, 1].tolist()) == pytest.approx(sorted(values))
    assert set(plots.standard_plots(plots.as_result(str(tmp_path)))) == {
        "objective", "decisions", "parallel", "curves"}
