"""Regularized evolution against random search on the NAS-Bench-101 space.

The search space is the NAS-Bench-101 cell (Ying et al. 2019): 21 edge bits and
5 op choices. Each sampled cell is pruned, and cells with no input→output path or
more than 9 edges are recorded as infeasible trials (with the reason) without
training. Feasible cells become a small NAS-Bench-101 network (16-channel stem,
one stack of one cell) trained briefly on scikit-learn's bundled 8x8 digits, so
the demo runs offline in a few minutes on two CPU cores.

Both searches get the same budget of trials; cells isomorphic to one already
trained (the NAS-Bench-101 hash) reuse its metrics instead of training again. The
demo prints the best-so-far validation accuracy after each trial and how many
distinct architectures each search found, and saves a plot of both curves.

    python demos/nasbench101_evolution.py
    python demos/nasbench101_evolution.py --max_trials=60 --epochs=5
"""

import os
import time

from absl import app
from absl import flags
import numpy as np
import pyglove as pg

import symbolic_automl as sa
from symbolic_automl import algorithms
from symbolic_automl import data
from symbolic_automl.spaces import nasbench101

_MAX_TRIALS = flags.DEFINE_integer("max_trials", 30, "Trials per search (infeasible included).")
_EPOCHS = flags.DEFINE_integer("epochs", 3, "Training epochs per feasible cell.")
_STEM_CHANNELS = flags.DEFINE_integer("stem_channels", 16, "Channels of the network.")
_POPULATION = flags.DEFINE_integer("population_size", 8, "Evolution's population.")
_TOURNAMENT = flags.DEFINE_integer("tournament_size", 3, "Evolution's tournament size.")
_SEED = flags.DEFINE_integer("seed", 1, "Seed of both searches.")
_PROGRESS = flags.DEFINE_bool("progress", False, "Show a progress bar per search.")
_ROOT_DIR = flags.DEFINE_string("root_dir", "experiments/nasbench101_evolution",
                                "Where the trial stores and the plot go.")


def best_so_far(result) -> np.ndarray:
    """Best validation accuracy after each trial (NaN before the first feasible one)."""
    curve, best = [], float("nan")
    for trial in sorted(result.trials, key=lambda t: t.id):
        if trial.status == "completed" and trial.reward is not None:
            best = trial.reward if np.isnan(best) else max(best, trial.reward)
        curve.append(best)
    return np.array(curve)


def distinct_architectures(result) -> int:
    """Feasible trials that are not isomorphic to an earlier one (each trained once)."""
    return len({t.model.fingerprint() for t in result.trials if t.status == "completed"})


def save_plot(curves, path: str) -> bool:
    try:
        import matplotlib  # pylint: disable=g-import-not-at-top
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
    except ImportError:
        print("matplotlib is not installed; skipping the plot.")
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, label=name, drawstyle="steps-post")
    ax.set_xlabel("trial")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title("NAS-Bench-101 space on digits")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv):
    del argv
    (x, y), validation = data.load("digits")
    space = nasbench101.small_nasbench101_space(
        input_shape=x.shape[1:], num_classes=int(y.max()) + 1,
        stem_channels=_STEM_CHANNELS.value)
    def make_evaluator():
        # Isomorphic cells are trained once per search and their metrics reused, as
        # a lookup in the NAS-Bench-101 table would.
        return nasbench101.DedupeIsomorphic(sa.KerasEvaluator(
            x, y, validation_data=validation,
            training=sa.Training(epochs=_EPOCHS.value, batch_size=32, learning_rate=3e-3),
            objective="val_accuracy"))
    searches = {
        "regularized evolution": algorithms.regularized_evolution(
            population_size=_POPULATION.value, tournament_size=_TOURNAMENT.value,
            seed=_SEED.value),
        "random search": algorithms.random(seed=_SEED.value),
    }
    os.makedirs(_ROOT_DIR.value, exist_ok=True)
    results, curves = {}, {}
    for name, algorithm in searches.items():
        start = time.time()
        results[name] = sa.search(
            space, algorithm=algorithm, evaluator=make_evaluator(),
            max_trials=_MAX_TRIALS.value,
            root_dir=os.path.join(_ROOT_DIR.value, name.replace(" ", "_")),
            progress=_PROGRESS.value)
        curves[name] = best_so_far(results[name])
        result = results[name]
        print(f"\n{name}: {time.time() - start:.0f} s, "
              f"{result.count('completed')} feasible, of which {distinct_architectures(result)} "
              f"distinct by the NAS-Bench-101 hash (trained once each), "
              f"{result.count('infeasible')} infeasible.")
        reasons = [t.error for t in result.trials if t.status == "infeasible"][:2]
        for reason in reasons:
            print(f"  e.g. infeasible: {reason[:110]}")

    print("\nBest validation accuracy so far, after each trial:")
    print("trial  " + "  ".join(f"{name:>22}" for name in curves))
    for i in range(_MAX_TRIALS.value):
        print(f"{i + 1:5d}  " + "  ".join(f"{curve[i]:22.4f}" for curve in curves.values()))
    for name, result in results.items():
        best = result.best
        if best is not None:
            cell = best.model.cell
            print(f"\n{name}: best trial #{best.id}, val_accuracy "
                  f"{best.metrics['val_accuracy']:.4f}, {int(best.metrics['params'])} params, "
                  f"ops {list(cell.ops)}, {cell.num_edges()} edges, hash {cell.fingerprint()[:12]}")
    plot_path = os.path.join(_ROOT_DIR.value, "best_so_far.png")
    if save_plot(curves, plot_path):
        print(f"\nSaved the plot to {plot_path}.")


if __name__ == "__main__":
    app.run(main)
