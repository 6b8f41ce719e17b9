"""A search inside a search: input resolution and a latency-like budget around an architecture search.

The outer search picks a deployment setting: the input resolution the images
are captured at, and a compute budget (thousands of multiply-accumulates per
image, kMACs: what latency tracks on small devices). Each outer trial runs an
inner architecture search on digits at that resolution, whose space the budget
prunes (first-layer widths that cannot fit are not offered) and whose
evaluator turns away over-budget candidates before training them. The outer
reward is the best validation accuracy found under the budget. Everything is
recorded in one store: `symbolic-automl show --root_dir=DIR` lists the outer
trials and their inner searches.

Swapping either level's algorithm is one argument (`--outer-algorithm`,
`--inner-algorithm`). Offline: scikit-learn's bundled 8x8 digits, resized.

    python demos/search_flow.py                        # about 10 minutes on 2 CPU cores
    python demos/search_flow.py --outer-algorithm random --outer-trials 4
    python demos/search_flow.py --inner-trials 3 --epochs 1 --resolutions 8 --budgets 20,320
"""

import argparse
import functools
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402

import symbolic_automl as sa  # noqa: E402
from symbolic_automl import algorithms  # noqa: E402
from symbolic_automl import data  # noqa: E402
from symbolic_automl import errors  # noqa: E402
from symbolic_automl import flows  # noqa: E402
from symbolic_automl import keras as sk  # noqa: E402
from symbolic_automl.evaluators import KerasEvaluator, Training  # noqa: E402

WIDTHS = (4, 8, 16, 32)


def cost_kmacs(resolution: int, width1: int, kernel1: int, width2: int, flatten: bool) -> float:
    """The kMACs per image of one architecture of `inner_space` (as `kmacs` counts them)."""
    half = resolution // 2
    return (resolution * resolution * kernel1 * kernel1 * width1
            + half * half * 9 * width1 * width2
            + (half * half if flatten else 1) * width2 * 10) / 1000.0


def inner_space(outer):
    """The architecture space at the outer resolution, pruned by the outer budget.

    Each decision keeps the candidates that fit the budget with the cheapest
    choices elsewhere; what still exceeds it the evaluator turns away untrained.
    """
    r, cap = outer.resolution, outer.max_kmacs
    cheapest = dict(width1=WIDTHS[0], kernel1=3, width2=WIDTHS[0], flatten=False)

    def fits(**choice):
        return cost_kmacs(r, **{**cheapest, **choice}) <= cap

    widths1 = [w for w in WIDTHS if fits(width1=w)] or [WIDTHS[0]]
    kernels = [k for k in (3, 5) if fits(kernel1=k)] or [3]
    widths2 = [w for w in WIDTHS if fits(width2=w)] or [WIDTHS[0]]
    heads = [sk.layers.GlobalAveragePooling2D()] + (
        [sk.layers.Flatten()] if fits(flatten=True) else [])
    return sk.Sequential([
        sk.Input(shape=(r, r, 1)),
        sk.layers.Conv2D(pg.oneof(widths1, name="width1"), pg.oneof(kernels, name="kernel1"),
                         padding="same", activation="relu"),
        sk.layers.MaxPooling2D(2),
        sk.layers.Conv2D(pg.oneof(widths2, name="width2"), 3, padding="same",
                         activation="relu"),
        pg.oneof(heads, name="head"),
        sk.layers.Dense(10, activation="softmax"),
    ])


def kmacs(keras_model) -> float:
    """Multiply-accumulates per image of the convolutions and dense layers, in thousands."""
    total = 0
    for layer in keras_model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * c * kh * kw * layer.input.shape[-1]
        elif kind == "Dense":
            total += layer.input.shape[-1] * layer.units
    return total / 1000.0


@functools.lru_cache(maxsize=None)
def digits_at(resolution: int):
    """Digits resized (bilinear) from 8x8 to `resolution` x `resolution`."""
    from scipy import ndimage  # pylint: disable=g-import-not-at-top

    (x, y), (x_val, y_val) = data.load("digits")
    if resolution != 8:
        zoom = (1, resolution / 8, resolution / 8, 1)
        x = ndimage.zoom(x, zoom, order=1).astype("float32")
        x_val = ndimage.zoom(x_val, zoom, order=1).astype("float32")
    return (x, y), (x_val, y_val)


class BudgetedEvaluator:
    """Trains on digits at one resolution; turns away candidates over the compute budget."""

    objective = "val_accuracy"

    def __init__(self, resolution: int, max_kmacs: float, epochs: int):
        (x, y), validation = digits_at(resolution)
        self.max_kmacs = max_kmacs
        self.keras = KerasEvaluator(x, y, validation, training=Training(epochs=epochs,
                                                                       batch_size=64))

    def __call__(self, model, context):
        cost = kmacs(sk.to_keras(model))
        if cost > self.max_kmacs:  # Rejected trials do not count towards the budget.
            raise errors.RejectedError(f"{cost:.1f} kMACs > budget {self.max_kmacs:g}",
                                       metrics={"kmacs": cost})
        metrics = self.keras(model, context)
        metrics["kmacs"] = cost
        return metrics


def budget(outer):
    return outer.max_kmacs


OUTER_ALGORITHMS = {
    "grid": lambda seed: algorithms.grid(),
    "random": lambda seed: algorithms.random(seed=seed),
    "evolution": lambda seed: algorithms.regularized_evolution(
        population_size=3, tournament_size=2, seed=seed),
}
INNER_ALGORITHMS = {
    "evolution": lambda seed: algorithms.regularized_evolution(
        population_size=4, tournament_size=2, seed=seed),
    "random": lambda seed: algorithms.random(seed=seed),
    "tpe": lambda seed: algorithms.TPE(seed=seed),
}


def trade_off(result):
    """The Pareto front of (kMACs, val_accuracy) over every trained inner architecture."""
    points = []
    for outer in result.trials:
        if outer.status != "completed":
            continue
        for t in result.inner(outer).rewarded:
            points.append((t.metrics["kmacs"], t.metrics["val_accuracy"], outer, t))
    points.sort(key=lambda p: (p[0], -p[1]))
    front, best = [], -1.0
    for point in points:
        if point[1] > best:
            front.append(point)
            best = point[1]
    return front


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outer-algorithm", default="grid", choices=sorted(OUTER_ALGORITHMS))
    parser.add_argument("--inner-algorithm", default="evolution",
                        choices=sorted(INNER_ALGORITHMS))
    parser.add_argument("--resolutions", default="8,12,16")
    parser.add_argument("--budgets", default="20,80,320", help="kMACs per image.")
    parser.add_argument("--outer-trials", type=int, default=None,
                        help="Default: every (resolution, budget) pair.")
    parser.add_argument("--inner-trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root-dir", default=None,
                        help="Where the one store goes (default: a temporary folder).")
    parser.add_argument("--plot", default=None, help="Save the trade-off curve to this PNG.")
    args = parser.parse_args(argv)

    resolutions = [int(r) for r in args.resolutions.split(",")]
    budgets = [float(b) for b in args.budgets.split(",")]
    outer_space = pg.Dict(resolution=pg.oneof(resolutions), max_kmacs=pg.oneof(budgets))
    inner = flows.InnerSearch(
        space=inner_space,
        algorithm=INNER_ALGORITHMS[args.inner_algorithm](args.seed + 1),
        evaluator=lambda outer: BudgetedEvaluator(outer.resolution, outer.max_kmacs,
                                                  args.epochs),
        max_trials=args.inner_trials,
        reward=flows.best_under("kmacs", budget))
    root_dir = args.root_dir or tempfile.mkdtemp(prefix="search_flow_")
    start = time.time()
    result = flows.nested(outer_space, OUTER_ALGORITHMS[args.outer_algorithm](args.seed), inner,
                          max_trials=args.outer_trials or len(resolutions) * len(budgets),
                          root_dir=root_dir, progress=False)
    elapsed = time.time() - start

    print(f"\nOuter trials (outer: {args.outer_algorithm}, inner: {args.inner_algorithm}, "
          f"{args.inner_trials} trained inner trials each); store {root_dir}")
    print(f"{'#':>4} {'res':>4} {'budget':>7} {'val_acc':>8} {'kMACs':>7} {'params':>7} "
          f"{'inner':>9}  best inner architecture")
    for outer in sorted(result.trials, key=lambda t: (t.decisions["max_kmacs"],
                                                      t.decisions["resolution"])):
        res, cap = outer.decisions["resolution"], outer.decisions["max_kmacs"]
        search = result.inner(outer)
        counts = f"{search.count('completed')}+{search.count('rejected')}r"
        if outer.status != "completed":
            print(f"{outer.id:>4} {res:>4} {cap:>7g} {'-':>8} {'-':>7} {'-':>7} {counts:>9}  "
                  f"{outer.status}: {(outer.error or '').splitlines()[0][:60]}")
            continue
        best = next(t for t in search.trials if t.id == outer.metrics["inner_best_trial"])
        print(f"{outer.id:>4} {res:>4} {cap:>7g} {outer.reward:>8.4f} "
              f"{best.metrics['kmacs']:>7.1f} {best.metrics['params']:>7.0f} {counts:>9}  "
              f"{best.describe_decisions(70)}")
    print("\nTrade-off curve: best validation accuracy per budget (over resolutions)")
    for cap in sorted(budgets):
        done = [t for t in result.trials
                if t.decisions["max_kmacs"] == cap and t.status == "completed"]
        if done:
            top = max(done, key=lambda t: t.reward)
            print(f"  <= {cap:>6g} kMACs: {top.reward:.4f} at resolution "
                  f"{top.decisions['resolution']}")
    front = trade_off(result)
    print("Pareto front over every trained inner architecture (kMACs -> val_accuracy):")
    for cost, accuracy, outer, t in front:
        print(f"  {cost:>7.1f} kMACs  {accuracy:.4f}  (res {outer.decisions['resolution']}, "
              f"trial #{t.id} of outer #{outer.id}: {t.describe_decisions(60)})")
    if args.plot:
        import matplotlib  # pylint: disable=g-import-not-at-top
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

        figure, axes = plt.subplots(figsize=(6, 4))
        for res in resolutions:
            points = [(t.metrics["kmacs"], t.metrics["val_accuracy"])
                      for o in result.trials if o.decisions["resolution"] == res
                      for t in result.inner(o).rewarded]
            if points:
                axes.scatter(*zip(*points), s=12, label=f"{res}x{res}")
        axes.step([p[0] for p in front], [p[1] for p in front], where="post", color="k",
                  label="Pareto front")
        axes.set_xscale("log")
        axes.set_xlabel("kMACs per image")
        axes.set_ylabel("validation accuracy")
        axes.legend()
        figure.tight_layout()
        figure.savefig(args.plot)
        print(f"Saved the trade-off plot to {args.plot}")
    inner_total = sum(len(result.inner(t).trials) for t in result.trials)
    print(f"\n{len(result.trials)} outer trials, {inner_total} inner trials in one store; "
          f"{elapsed:.0f} s. symbolic-automl show --root_dir={root_dir}")
    return result


if __name__ == "__main__":
    main()
