"""Tuning regularized evolution's own settings with a nested search, on NAS-Bench-Graph.

The outer search (`symbolic_automl.flows.tune_algorithm`) runs over the
settings of `sa.Evolution` (population size, tournament size, mutation rate):
each outer trial is one setting, scored by the mean negative regret of
`--tune-seeds` inner searches of `--budget` trials on `--dataset` (tabular:
no training). Outer and inner are both symbolic searches, recorded in one store
(`--root-dir`, or memory).

The tuned setting and the defaults (`sa.regularized_evolution()`: population
50, tournament 10, no extra mutation) are then compared on *held-out* seeds
(0 .. `--held-out-seeds` - 1; tuning uses seeds from 1000) of the same dataset,
and of `--also` datasets never tuned on, with `benchmarks/search_quality.py`'s
driver and regret (the same rules as the search loop). The margin is reported,
not asserted: regret in accuracy points, paired over seeds, mean ± standard error.

    python benchmarks/algorithm_tuning.py                          # cora; also citeseer, pubmed
    python benchmarks/algorithm_tuning.py --tune-seeds 2 --held-out-seeds 5 --output ''
"""

import argparse
import math
import os
import sys
import time

import pyglove as pg

from symbolic_automl import algorithms as sa
from symbolic_automl import flows
from symbolic_automl.spaces import nasbench_graph as nbg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import search_quality  # noqa: E402  pylint: disable=wrong-import-position

RESULTS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                            "algorithm_tuning.md")
TUNING_FIRST_SEED = 1000
DEFAULTS = dict(population_size=50, tournament_size=10, mutation_rate=0.0)


def settings_space(first_seed: int = TUNING_FIRST_SEED) -> sa.Evolution:
    """Regularized evolution with hyper-values in its settings: the outer search space."""
    return sa.Evolution(population_size=pg.oneof([5, 10, 20, 50]),
                        tournament_size=pg.oneof([2, 5, 10]),
                        mutation_rate=pg.oneof([0.0, 0.25]), seed=first_seed)


class NegativeRegret:
    """Score of an inner search: minus the regret (accuracy points) of its best-by-validation find."""

    def __init__(self, dataset: str):
        self.dataset = dataset

    def __call__(self, inner, algorithm=None) -> float:
        del algorithm
        table = search_quality.get_table(self.dataset)
        if inner.best is None:
            raise ValueError(f"The inner search on {self.dataset} found nothing feasible.")
        return -table.regret(inner.best.metrics["test_accuracy"])


def tune(dataset: str, budget: int, seeds: int, root_dir=None):
    """The nested search: every setting of `settings_space`, `seeds` inner searches each."""
    space = settings_space()
    size = pg.dna_spec(space).space_size
    return flows.tune_algorithm(space, sa.grid(), nbg.nasbench_graph_space(dataset),
                                nbg.TabularEvaluator(dataset), inner_trials=budget,
                                max_trials=size, seeds=seeds, score=NegativeRegret(dataset),
                                root_dir=root_dir, progress=False,
                                max_consecutive_failures=size)


def held_out_regrets(settings: dict, dataset: str, budget: int, seeds: int):
    """Regret per held-out seed (0 .. seeds-1) of `sa.Evolution(**settings)`."""
    table = search_quality.get_table(dataset)
    regrets = []
    for seed in range(seeds):
        history = search_quality.run_generator(sa.Evolution(seed=seed, **settings), table, budget)
        regrets.append(search_quality.regrets_at(history, table, [budget])[budget])
    return regrets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--also", default="citeseer,pubmed",
                        help="Datasets never tuned on, for the held-out comparison too.")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--tune-seeds", type=int, default=5)
    parser.add_argument("--held-out-seeds", type=int, default=20)
    parser.add_argument("--root-dir", default=None)
    parser.add_argument("--output", default=RESULTS_PATH, help="Markdown results ('' to skip).")
    args = parser.parse_args(argv)

    start = time.time()
    result = tune(args.dataset, args.budget, args.tune_seeds, args.root_dir)
    tuning_seconds = time.time() - start
    lines = [f"# Tuning regularized evolution's settings on NAS-Bench-Graph ({args.dataset})", "",
             f"Outer: grid over {len(result.trials)} settings of `sa.Evolution`; inner: "
             f"{args.tune_seeds} searches of {args.budget} trials each (seeds "
             f"{TUNING_FIRST_SEED}..{TUNING_FIRST_SEED + args.tune_seeds - 1}) scored by regret "
             f"(accuracy points); {sum(len(s.trials) for t in result.trials if t.has_reward for s in result.inner_searches(t))} "
             f"inner trials in {tuning_seconds:.0f} s (shared 2-core machine).", "",
             "| population | tournament | mutation rate | tuning regret (mean over seeds) |",
             "|---|---|---|---|"]
    for t in sorted(result.trials, key=lambda t: -(t.reward if t.has_reward else -math.inf)):
        d = t.decisions
        score = f"{-t.reward:.3f}" if t.has_reward else f"{t.status}: {t.error.splitlines()[0][:60]}"
        lines.append(f"| {d['population_size']} | {d['tournament_size']} | "
                     f"{d['mutation_rate']} | {score} |")
    best = result.best.model
    tuned = dict(population_size=best.population_size, tournament_size=best.tournament_size,
                 mutation_rate=best.mutation_rate)
    lines += ["", f"Tuned: {tuned}; defaults: {DEFAULTS}.", "",
              f"Held-out seeds 0..{args.held_out_seeds - 1}, budget {args.budget}: regret "
              "(accuracy points, lower is better), mean ± standard error; margin = defaults - "
              "tuned, paired over seeds (positive: tuned is better).", "",
              "| dataset | defaults | tuned | margin |", "|---|---|---|---|"]
    datasets = [args.dataset] + [d for d in args.also.split(",") if d and d != args.dataset]
    for dataset in datasets:
        default_regrets = held_out_regrets(DEFAULTS, dataset, args.budget, args.held_out_seeds)
        tuned_regrets = held_out_regrets(tuned, dataset, args.budget, args.held_out_seeds)
        d_mean, d_se = search_quality.mean_stderr(default_regrets)
        t_mean, t_se = search_quality.mean_stderr(tuned_regrets)
        m_mean, m_se = search_quality.mean_stderr(
            [a - b for a, b in zip(default_regrets, tuned_regrets)])
        note = " (tuned here)" if dataset == args.dataset else " (never tuned on)"
        lines.append(f"| {dataset}{note} | {d_mean:.3f} ± {d_se:.3f} | {t_mean:.3f} ± {t_se:.3f} "
                     f"| {m_mean:+.3f} ± {m_se:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
        with open(args.output, "w") as f:
            f.write(text)
    return result


if __name__ == "__main__":
    main()
