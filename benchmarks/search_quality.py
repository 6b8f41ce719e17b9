"""Search quality on NAS-Bench-Graph: our algorithms beside Optuna's samplers.

Every algorithm searches `spaces.nasbench_graph` (5 categorical decisions,
59,049 DNAs, 26,206 distinct architectures) on cora, citeseer and pubmed, with
the table's validation accuracy as reward, for several seeds. A cell is the mean
regret ± standard error over seeds, in accuracy points:

    regret = (best test accuracy in the table)
             - (test accuracy of the best-by-validation architecture found)

The "floor" row is the regret of the table's own best-by-validation
architecture: what a search that found the best validation accuracy would get.
It is not a lower bound: where validation and test accuracy disagree at the top
of the table (pubmed), architectures found by a short search can generalize
better than the table's best-by-validation one.

How the runs are driven (the same rules as `symbolic_automl.search`, without
its per-trial store, which is measured by `benchmarks/overhead.py`):

* each algorithm is a `pg.DNAGenerator`: `setup(dna_spec)`, then `propose()`
  and `feedback(dna, reward)`; a proposal that is not in the table (the
  all-``skip`` architecture) is infeasible: it gets `feedback_infeasible(dna)`
  if the algorithm has that method, else nothing;
* every proposal, feasible or not (duplicates too), counts against the budget;
* multi-objective algorithms (NSGA-II, Pareto tournament evolution) get the
  1-tuple `(val_accuracy,)`;
* Optuna's samplers use ask/tell with one `suggest_categorical` per decision;
  an infeasible trial is told with the state `FAIL` (TPE then ignores it);
* validation accuracies are rounded to 6 decimals (the tables hold means of
  runs whose float noise, ~1e-16, would otherwise break ties); among equally
  good architectures found, the first one found is kept (as `Result.best`);
  the floor averages the test accuracy of the table's tied best ones;
* one run of the largest budget per (algorithm, dataset, seed); the result at a
  smaller budget is its prefix. No algorithm is told the budget, so this is the
  same as a separate run with that budget;
* "repeats" counts proposals of a DNA the same run had already proposed: trials
  wasted on a tabular benchmark (and on any deterministic evaluation).

Seeds are `first_seed .. first_seed + seeds - 1` (default 0..19). Defaults of
algorithms are chosen on other seeds (`--first_seed 1000`) than the reported
ones, so the reported table is not tuned on its own seeds. Ablation rows
(`EXTRA_ROWS`: PyGlove's evolution with one of dedupe / changing mutation, and
our factories with `dedupe=False`) run only when named with `--algorithms`.

    python benchmarks/search_quality.py                   # 20 seeds, budgets 100 and 300
    python benchmarks/search_quality.py --seeds 5 --budgets 50 --datasets cora
    python benchmarks/search_quality.py --first_seed 1000 --output '' \\
        --algorithms "sa.random = pg.geno.Random" sa.pyglove_algorithms.regularized_evolution \\
        "sa.pyglove_algorithms.regularized_evolution(dedupe=False)"
"""

import argparse
import collections
import importlib.util
import json
import math
import multiprocessing
import os
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pyglove as pg

from symbolic_automl.spaces import nasbench_graph as nbg

DEFAULT_DATASETS = ("cora", "citeseer", "pubmed")
DEFAULT_BUDGETS = (100, 300)
DEFAULT_SEEDS = 20
RESULTS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "results", "search_quality.md")
VAL_DECIMALS = 6

# Rows whose proposals do not depend on the seed: run once, the same regret for every seed.
DETERMINISTIC_ROWS = ("sa.grid",)

OPTUNA_TPE = "optuna.TPESampler"
OPTUNA_RANDOM = "optuna.RandomSampler"

# PyGlove's regularized evolution as it comes: seeded plain `Uniform` mutation,
# no duplicate avoidance, the same population and tournament sizes as
# `sa.regularized_evolution`'s defaults.
RAW_RE = "pg.evolution.regularized_evolution (plain Uniform, no dedupe)"
# PyGlove's, as `sa.pyglove_algorithms` exposes it (`UniformChange`, `no_duplicates`).
PYGLOVE_RE = "sa.pyglove_algorithms.regularized_evolution"


# ------------------------------------------------------------------ algorithms

def algorithm_factories() -> Dict[str, Callable[[int], object]]:
    """Row name -> `make(seed)`: every algorithm of ours that exists, PyGlove's, Optuna's.

    A factory returns a `pg.DNAGenerator`, or the name of an Optuna sampler.
    Rows in `EXTRA_ROWS` are ablations, run only when asked for.
    """
    rows = collections.OrderedDict()
    try:
        from symbolic_automl import algorithms as sa  # pylint: disable=import-outside-toplevel
    except ImportError:
        sa = None
    # sa.random *is* pg.geno.Random(seed): one row for both.
    ours = [
        ("sa.random = pg.geno.Random", "random", {}),
        ("sa.grid", "grid", None),
        # The same Evolution object with the same defaults: one row for both.
        ("sa.regularized_evolution = sa.evolution_with_rejection", "regularized_evolution", {}),
        ("sa.pareto_tournament_evolution", "pareto_tournament_evolution", {}),
        ("sa.hill_climb", "hill_climb", {}),
        ("sa.nsga2", "nsga2", {}),
        ("sa.neat", "neat", {}),
        ("sa.TPE", "TPE", {}),
    ]
    for row, name, kwargs in ours:
        factory = getattr(sa, name, None) if sa is not None else None
        if factory is None:
            continue
        if kwargs is None:  # Deterministic: the seed changes nothing.
            rows[row] = lambda seed, f=factory: f()
        else:
            rows[row] = lambda seed, f=factory: f(seed=seed)
        if name == "regularized_evolution":
            rows[PYGLOVE_RE] = lambda seed, m=sa.pyglove_algorithms: m.regularized_evolution(
                seed=seed)
            rows[RAW_RE] = _raw_regularized_evolution
    if sa is None:
        rows["pg.geno.Random"] = lambda seed: pg.geno.Random(seed=seed)
        rows[RAW_RE] = _raw_regularized_evolution
    if importlib.util.find_spec("optuna") is not None:
        rows[OPTUNA_TPE] = lambda seed: OPTUNA_TPE
        rows[OPTUNA_RANDOM] = lambda seed: OPTUNA_RANDOM
    if sa is not None and hasattr(sa, "no_duplicates"):
        rows.update(_extra_rows(sa))
    return rows


def _raw_regularized_evolution(seed: int) -> pg.DNAGenerator:
    return pg.evolution.regularized_evolution(
        pg.evolution.mutators.Uniform(seed=seed), population_size=50, tournament_size=10,
        seed=seed)


def _extra_rows(sa) -> Dict[str, Callable[[int], object]]:
    """Ablations: which of duplicate avoidance and changing mutation does what."""
    return collections.OrderedDict([
        ("sa.pyglove_algorithms.regularized_evolution(dedupe=False)",
         lambda seed: sa.pyglove_algorithms.regularized_evolution(seed=seed, dedupe=False)),
        ("sa.no_duplicates(pg RE, plain Uniform)",
         lambda seed: sa.no_duplicates(_raw_regularized_evolution(seed), seed=seed)),
        ("sa.hill_climb(dedupe=False)", lambda seed: sa.hill_climb(seed=seed, dedupe=False)),
        ("sa.nsga2(dedupe=False)", lambda seed: sa.nsga2(seed=seed, dedupe=False)),
        ("sa.neat(dedupe=False)", lambda seed: sa.neat(seed=seed, dedupe=False)),
        # TPE's defaults before the joint model: univariate, 24 candidates.
        ("sa.TPE(multivariate=False, n_ei_candidates=24)",
         lambda seed: sa.TPE(seed=seed, multivariate=False, n_ei_candidates=24)),
    ])


# Ablation rows: `run_benchmark` runs them only when they are named.
EXTRA_ROWS = ("sa.pyglove_algorithms.regularized_evolution(dedupe=False)", "sa.no_duplicates(pg RE, plain Uniform)",
              "sa.hill_climb(dedupe=False)", "sa.nsga2(dedupe=False)", "sa.neat(dedupe=False)",
              "sa.TPE(multivariate=False, n_ei_candidates=24)")


# ---------------------------------------------------------------------- tables

class Table:
    """One dataset's lookup: DNA tuple -> (rounded val accuracy, test accuracy)."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.space = nbg.nasbench_graph_space(dataset)
        self.dna_spec = pg.dna_spec(self.space)
        self.entries = {dna: (round(val, VAL_DECIMALS), test)
                        for dna, (val, test) in nbg.dna_table(dataset).items()}
        raw = [(round(float(e["valid_perf"]), VAL_DECIMALS), float(e["perf"]))
               for e in nbg.load_table(dataset).values()]
        self.best_test = max(test for _, test in raw)
        best_val = max(val for val, _ in raw)
        tied = [test for val, test in raw if val == best_val]
        self.floor = 100.0 * (self.best_test - sum(tied) / len(tied))

    def regret(self, test_accuracy: float) -> float:
        """Regret in accuracy points of selecting an architecture with this test accuracy."""
        return 100.0 * (self.best_test - test_accuracy)


_TABLES: Dict[str, Table] = {}


def get_table(dataset: str) -> Table:
    if dataset not in _TABLES:
        _TABLES[dataset] = Table(dataset)
    return _TABLES[dataset]


# --------------------------------------------------------------------- drivers

History = List[Optional[Tuple[float, float]]]  # per proposal: (val, test), None if infeasible


def run_generator(algorithm: pg.DNAGenerator, table: Table, budget: int,
                  proposed: Optional[List[Tuple]] = None) -> History:
    """Drives a `pg.DNAGenerator` for `budget` proposals with the search loop's rules.

    When `proposed` is a list, each proposal's DNA numbers are appended to it.
    """
    algorithm.setup(table.dna_spec)
    multi_objective = bool(getattr(algorithm, "multi_objective", False))
    tell_infeasible = getattr(algorithm, "feedback_infeasible", None)
    history: History = []
    for _ in range(budget):
        try:
            dna = algorithm.propose()
        except StopIteration:
            break
        key = tuple(dna.to_numbers())
        if proposed is not None:
            proposed.append(key)
        entry = table.entries.get(key)
        history.append(entry)
        if entry is None:
            if tell_infeasible is not None:
                tell_infeasible(dna)
        else:
            algorithm.feedback(dna, (entry[0],) if multi_objective else entry[0])
    return history


def run_optuna(sampler_name: str, seed: int, table: Table, budget: int,
               proposed: Optional[List[Tuple]] = None) -> History:
    """Optuna's sampler through ask/tell; infeasible trials are told as FAIL."""
    import optuna  # pylint: disable=import-outside-toplevel
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler_name == OPTUNA_TPE:
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    decisions = [(f"d{i}", len(point.candidates))
                 for i, point in enumerate(table.dna_spec.decision_points)]
    history: History = []
    for _ in range(budget):
        trial = study.ask()
        key = tuple(trial.suggest_categorical(name, list(range(n))) for name, n in decisions)
        if proposed is not None:
            proposed.append(key)
        entry = table.entries.get(key)
        history.append(entry)
        if entry is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, entry[0])
    return history


def regrets_at(history: History, table: Table, budgets: Sequence[int]) -> Dict[int, float]:
    """Regret of the best-by-validation architecture among the first `b` proposals."""
    result = {}
    best = None
    budgets = sorted(budgets)
    next_budget = 0
    for step, entry in enumerate(history, start=1):
        if entry is not None and (best is None or entry[0] > best[0]):
            best = entry
        while next_budget < len(budgets) and budgets[next_budget] == step:
            result[budgets[next_budget]] = table.regret(best[1]) if best else math.nan
            next_budget += 1
    for budget in budgets[next_budget:]:  # The algorithm stopped early.
        result[budget] = table.regret(best[1]) if best else math.nan
    return result


def _run_one(task):
    row, dataset, seed, budgets = task
    make = algorithm_factories()[row]
    table = get_table(dataset)
    start = time.process_time()  # CPU time: the machine may be shared
    algorithm = make(seed)
    proposed = []
    if isinstance(algorithm, str):
        history = run_optuna(algorithm, seed, table, max(budgets), proposed)
    else:
        history = run_generator(algorithm, table, max(budgets), proposed)
    elapsed = time.process_time() - start
    infeasible = sum(entry is None for entry in history)
    repeats = len(proposed) - len(set(proposed))
    return row, dataset, seed, regrets_at(history, table, budgets), elapsed, infeasible, repeats


# ------------------------------------------------------------------- benchmark

def run_benchmark(datasets: Sequence[str] = DEFAULT_DATASETS,
                  budgets: Sequence[int] = DEFAULT_BUDGETS,
                  seeds: int = DEFAULT_SEEDS,
                  rows: Optional[Sequence[str]] = None,
                  processes: int = 2,
                  first_seed: int = 0) -> dict:
    """Runs every (algorithm, dataset, seed) and returns the summary.

    Seeds are `first_seed + i` for `i < seeds`; results are indexed by `i`.

    Returns:
        {"regrets": {budget: {row: {dataset: [regret per seed]}}},
         "floor": {dataset: regret}, "best_test": {dataset: accuracy},
         "seconds": {row: total run time}, "infeasible": {row: count},
         "repeats": {row: count}, ...}.
    """
    factories = algorithm_factories()
    rows = (list(rows) if rows is not None
            else [row for row in factories if row not in EXTRA_ROWS])
    unknown = [row for row in rows if row not in factories]
    if unknown:
        raise ValueError(f"Unknown algorithm rows {unknown}; expected some of {list(factories)}.")
    budgets = sorted(set(int(b) for b in budgets))
    if not budgets or budgets[0] < 1:
        raise ValueError(f"budgets must be positive ints, got {budgets}.")
    tasks = [(row, dataset, first_seed + seed, budgets)
             for row in rows for dataset in datasets
             for seed in range(1 if row in DETERMINISTIC_ROWS else seeds)]
    regrets = {b: {row: {d: [None] * seeds for d in datasets} for row in rows} for b in budgets}
    seconds = collections.Counter()
    infeasible = collections.Counter()
    repeats = collections.Counter()
    for dataset in datasets:  # Loaded once here; forked workers inherit them.
        get_table(dataset)
    start = time.perf_counter()
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            outcomes = list(pool.imap_unordered(_run_one, tasks, chunksize=4))
    else:
        outcomes = [_run_one(task) for task in tasks]
    for row, dataset, seed, by_budget, elapsed, num_infeasible, num_repeats in outcomes:
        copies = seeds if row in DETERMINISTIC_ROWS else 1
        for budget, regret in by_budget.items():
            for copy in range(copies):
                regrets[budget][row][dataset][seed - first_seed + copy] = regret
        seconds[row] += elapsed * copies
        infeasible[row] += num_infeasible * copies
        repeats[row] += num_repeats * copies
    tables = {d: get_table(d) for d in datasets}
    return {
        "datasets": list(datasets), "budgets": budgets, "seeds": seeds, "rows": rows,
        "first_seed": first_seed, "repeats": dict(repeats),
        "regrets": regrets,
        "floor": {d: t.floor for d, t in tables.items()},
        "best_test": {d: t.best_test for d, t in tables.items()},
        "seconds": dict(seconds), "infeasible": dict(infeasible),
        "wall_seconds": time.perf_counter() - start,
    }


def mean_stderr(values: Sequence[float]) -> Tuple[float, float]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(variance / n)


def summarize(results: dict) -> dict:
    """{budget: {row: {dataset: (mean, stderr)}, "_average": {row: mean over datasets}}}."""
    summary = {}
    for budget in results["budgets"]:
        cells = {row: {d: mean_stderr(results["regrets"][budget][row][d])
                       for d in results["datasets"]}
                 for row in results["rows"]}
        summary[budget] = cells
    return summary


def _dataset_average(cells: Dict[str, Tuple[float, float]]) -> Tuple[float, float]:
    """Mean over datasets of the mean regrets, with its standard error."""
    n = len(cells)
    mean = sum(m for m, _ in cells.values()) / n
    return mean, math.sqrt(sum(se ** 2 for _, se in cells.values())) / n


def paired_difference(results: dict, budget: int, row_a: str, row_b: str) -> Tuple[float, float]:
    """Mean over datasets of the regret difference a - b, and its standard error.

    Differences are taken per (dataset, seed) before averaging: runs with the
    same seed share randomness (PyGlove's evolution starts from
    `pg.geno.Random(seed)`, the same DNAs as `sa.random(seed)`), so the paired
    error is the honest one, and smaller than the unpaired one when they do.
    """
    per_dataset = []
    for dataset in results["datasets"]:
        pairs = zip(results["regrets"][budget][row_a][dataset],
                    results["regrets"][budget][row_b][dataset])
        per_dataset.append(mean_stderr([a - b for a, b in pairs
                                        if a is not None and b is not None]))
    return _dataset_average(dict(enumerate(per_dataset)))


def _compare(results: dict, budget: int, name_a: str, row_a: str, name_b: str,
             row_b: str) -> str:
    summary = summarize(results)
    mean_a = _dataset_average(summary[budget][row_a])[0]
    mean_b = _dataset_average(summary[budget][row_b])[0]
    difference, se = paired_difference(results, budget, row_a, row_b)
    verdict = "met" if difference < 0 else "NOT met"
    if abs(difference) < 2 * se:
        verdict += " (within 2 standard errors: not significant)"
    return (f"budget {budget}: {name_a} {mean_a:.3f} {'<' if difference < 0 else '>='} "
            f"{name_b} {mean_b:.3f} (paired difference {difference:+.3f} ± {se:.3f}): "
            f"{verdict}")


def goal_checks(results: dict) -> List[str]:
    """The issue's goals, one line each: met or not, with the dataset-averaged regrets.

    "Our best" is picked after the fact among all our rows, which favours it;
    the like-for-like line (our TPE against Optuna's) has no such bias.
    """
    summary = summarize(results)
    lines = []
    rows = results["rows"]
    ours = [row for row in rows if row.startswith("sa.")]
    random_row = _row_starting(rows, "sa.random")
    evolution_rows = [row for row in rows if "regularized_evolution" in row]
    for budget in results["budgets"]:
        average = {row: _dataset_average(summary[budget][row]) for row in rows}
        if OPTUNA_TPE in average:
            if ours:
                best = min(ours, key=lambda row: average[row][0])
                lines.append(_compare(results, budget, f"our best ({best})", best,
                                      OPTUNA_TPE, OPTUNA_TPE))
            if "sa.TPE" in average:
                lines.append(_compare(results, budget, "sa.TPE", "sa.TPE",
                                      OPTUNA_TPE, OPTUNA_TPE))
        if random_row:
            if "sa.TPE" in average:  # The model-based algorithm must beat random.
                lines.append(_compare(results, budget, "sa.TPE", "sa.TPE", "random", random_row))
            for row in evolution_rows:
                lines.append(_compare(results, budget, row, row, "random", random_row))
    return lines


def _row_starting(rows: Sequence[str], prefix: str) -> Optional[str]:
    return next((row for row in rows if row.split(" ")[0] == prefix), None)


def format_tables(results: dict, markdown: bool = False) -> str:
    """One table per budget: rows = algorithms, columns = datasets, + floor row."""
    summary = summarize(results)
    datasets = results["datasets"]
    out = []
    for budget in results["budgets"]:
        header = ["algorithm"] + datasets + ["mean"]
        body = []
        for row in results["rows"]:
            cells = summary[budget][row]
            mean = sum(cells[d][0] for d in datasets) / len(datasets)
            body.append([row] + [f"{cells[d][0]:.3f} ± {cells[d][1]:.3f}" for d in datasets]
                        + [f"{mean:.3f}"])
        floor = [results["floor"][d] for d in datasets]
        body.append(["floor (table's best by val)"] + [f"{f:.3f}" for f in floor]
                    + [f"{sum(floor) / len(floor):.3f}"])
        title = (f"Budget {budget}: mean regret in test-accuracy points ± stderr over "
                 f"{results['seeds']} seeds (lower is better)")
        if markdown:
            out.append(f"### {title}\n")
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
            out.extend("| " + " | ".join(line) + " |" for line in body)
        else:
            widths = [max(len(str(line[i])) for line in [header] + body)
                      for i in range(len(header))]
            out.append(title)
            out.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
            out.extend("  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in body)
        out.append("")
    return "\n".join(out)


GOALS_NOTE = (
    "A goal is met when the mean regret is lower. Differences are paired per (dataset, "
    "seed); \"not significant\" marks one within 2 standard errors, which these seeds "
    "cannot tell from chance. Regularized evolution against random on other seeds, and "
    "the ablations: docs/algorithms.md.\n\n")


def cost_per_run(results: dict) -> List[Tuple[str, float, float]]:
    """(row, CPU seconds, repeated proposals) per run, averaged over datasets and seeds."""
    runs = results["seeds"] * len(results["datasets"])
    return [(row, results["seconds"][row] / runs, results["repeats"].get(row, 0) / runs)
            for row in results["rows"]]


def write_markdown(results: dict, path: str, argv: Sequence[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    summary = summarize(results)
    json_summary = {
        "budgets": {str(b): {row: {d: {"mean": m, "stderr": s}
                                   for d, (m, s) in cells.items()}
                             for row, cells in summary[b].items()}
                    for b in results["budgets"]},
        "floor": results["floor"], "best_test_accuracy": results["best_test"],
        "seeds": results["seeds"], "first_seed": results["first_seed"],
        "cpu_seconds_per_run": {row: results["seconds"][row]
                            / (results["seeds"] * len(results["datasets"]))
                            for row in results["rows"]},
        "infeasible_proposals": results["infeasible"],
        "repeated_proposals": results["repeats"],
    }
    with open(path, "w") as f:
        f.write("# Search quality on NAS-Bench-Graph\n\n")
        f.write(f"Generated by `python benchmarks/search_quality.py {' '.join(argv)}` "
                f"in {results['wall_seconds']:.0f} s. See the module docstring for the rules "
                "(regret = best test accuracy in the table − test accuracy of the "
                "best-by-validation architecture found, in points). The floor row is "
                "the regret of the table's best-by-validation architecture; it is not a "
                "lower bound (on pubmed that architecture generalizes worse than many "
                "found by short searches).\n\n")
        f.write(format_tables(results, markdown=True))
        f.write(f"\n### Cost per run (one dataset, one seed, budget {max(results['budgets'])})"
                "\n\nRepeats: proposals of a DNA the run had already proposed (a wasted "
                "trial here), mean per run.\n\n| algorithm | CPU s | repeats |\n|---|---:|---:|\n")
        f.writelines(f"| {row} | {cpu:.3f} | {repeats:.1f} |\n"
                     for row, cpu, repeats in cost_per_run(results))
        f.write("\n### Goals\n\n")
        f.write(GOALS_NOTE)
        f.writelines(f"- {line}\n" for line in goal_checks(results))
        f.write("\n### Summary (JSON)\n\n```json\n")
        f.write(json.dumps(json_summary, indent=1, sort_keys=True))
        f.write("\n```\n")


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_DATASETS))
    parser.add_argument("--budgets", nargs="+", type=int, default=list(DEFAULT_BUDGETS))
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS)
    parser.add_argument("--first_seed", type=int, default=0,
                        help="Seeds are first_seed .. first_seed + seeds - 1; explore "
                             "defaults on other seeds than the reported 0..19.")
    parser.add_argument("--algorithms", nargs="+", default=None,
                        help="Rows to run (default: all but EXTRA_ROWS); see "
                             "algorithm_factories().")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--output", default=RESULTS_PATH,
                        help="Markdown file to write; '' to write none.")
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(args_list)
    results = run_benchmark(args.datasets, args.budgets, args.seeds, args.algorithms,
                            args.processes, args.first_seed)
    print(format_tables(results))
    for line in goal_checks(results):
        print(line)
    print("\nCPU seconds and repeated proposals per run (one dataset, one seed, budget "
          f"{max(results['budgets'])}):")
    for row, cpu, repeats in cost_per_run(results):
        print(f"  {row:62s} {cpu:7.3f} {repeats:6.1f}")
    print(f"wall time: {results['wall_seconds']:.1f} s")
    if args.output:
        write_markdown(results, args.output, args_list)
        print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    main()
