"""EvoNorm search: rejection funnel over random layer graphs, and search throughput.

1. Funnel: `--graphs` random graphs of `graph_space(10)` (the initial
   population of the search is random graphs) go through the structural
   checks (output depends on x, finite, not a functional duplicate); a random
   subsample of `--subsample` survivors goes on through the full evaluator
   (stability on each anchor, quality after 100 steps, training to
   `--train_steps`). Prints the fraction rejected by each stage and the
   seconds per candidate rejected at each stage vs fully trained.
2. Throughput: a real `evonorm.search` run for `--trials` trained candidates:
   candidates evaluated (any outcome) per CPU-minute of this process, and the
   share of the wall time spent outside `fit` (checks, building models, the
   search loop, the store).

    python benchmarks/evonorm.py --graphs 1000 --subsample 8 --trials 3 \
        --out benchmarks/results/evonorm.md
"""

import argparse
import collections
import os
import random
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import symbolic_automl  # noqa: E402
from symbolic_automl.space import Space  # noqa: E402
from symbolic_automl.spaces import evonorm  # noqa: E402
from symbolic_automl.spaces.evonorm import checks  # noqa: E402


def funnel(num_graphs, subsample, train_steps, seed, lines):
    import keras  # pylint: disable=g-import-not-at-top

    space = Space(evonorm.graph_space(10, groups=4))
    rng = random.Random(seed)
    probe, index = checks.Probe(), checks.SignatureIndex()
    stages = collections.Counter()
    survivors, seconds = [], collections.defaultdict(list)
    start = time.time()
    for i in range(num_graphs):
        t = time.time()
        graph = space.materialize_assignment(space.genome.sample(rng))
        stage, _, signature = probe.check(graph)
        if stage is None:
            if index.find(signature) is not None:
                stage = checks.DUPLICATE
            else:
                index.add(i, signature)
                survivors.append(graph)
        stages[stage or "passed"] += 1
        seconds[stage or "passed"].append(time.time() - t)
        if i % 100 == 99:
            keras.backend.clear_session()
            print(f"  {i + 1} graphs, {time.time() - start:.0f} s", file=sys.stderr)
    structural_seconds = time.time() - start
    lines.append(f"## Funnel over {num_graphs} random graphs (10 nodes, all 18 primitives)\n")
    lines.append("| stage | rejected | fraction | s per candidate |")
    lines.append("|---|---|---|---|")
    for stage in checks.STRUCTURAL_STAGES:
        n = stages[stage]
        lines.append(f"| {stage} | {n} | {n / num_graphs:.3f} | "
                     f"{np.mean(seconds[stage]) if n else float('nan'):.3f} |")
    lines.append(f"| passed the structural checks | {stages['passed']} | "
                 f"{stages['passed'] / num_graphs:.3f} | {np.mean(seconds['passed']):.3f} |")
    lines.append(f"\nStructural checks: {structural_seconds:.0f} s for {num_graphs} graphs "
                 f"({structural_seconds / num_graphs * 1000:.0f} ms each, sampling included).\n")

    data = evonorm.searching.load_data("digits", 8)
    evaluator = evonorm.EvoNormEvaluator(evonorm.anchors.tiny_anchors(), data,
                                         train_steps=train_steps)
    sample = random.Random(seed + 1).sample(survivors, min(subsample, len(survivors)))
    outcome = collections.Counter()
    cost = collections.defaultdict(list)
    for graph in sample:
        t = time.time()
        try:
            evaluator(graph, None)
            stage = "trained"
        except symbolic_automl.RejectedError as e:
            stage = e.metrics["stage"]
        outcome[stage] += 1
        cost[stage].append(time.time() - t)
        print(f"  {stage:10s} {time.time() - t:6.1f} s  {graph}", file=sys.stderr)
    n = len(sample)
    lines.append(f"### Stability and quality on a random subsample of {n} structural survivors\n")
    lines.append(f"(a subsample for time: each costs up to 3 anchors × ({train_steps} steps + the "
                 "stability ascent); fractions are of the subsample)\n")
    lines.append("| outcome | candidates | fraction | mean s per candidate |")
    lines.append("|---|---|---|---|")
    for stage in (checks.STABILITY, checks.QUALITY, "trained"):
        k = outcome[stage]
        lines.append(f"| {'rejected: ' + stage if stage != 'trained' else 'fully trained'} | {k} | "
                     f"{k / max(n, 1):.2f} | {np.mean(cost[stage]) if k else float('nan'):.1f} |")
    return stages, outcome


def throughput(trials, max_rejections, train_steps, seed, lines):
    data = evonorm.searching.load_data("digits", 8)
    root = tempfile.mkdtemp(prefix="evonorm_bench_")
    wall, cpu = time.time(), time.process_time()
    result = evonorm.search(evonorm.anchors.tiny_anchors(), data, population_size=4,
                            tournament_size=2, max_trials=trials, root_dir=root, groups=4,
                            train_steps=train_steps, seed=seed, max_rejections=max_rejections)
    wall, cpu = time.time() - wall, time.process_time() - cpu
    evaluated = len(result.trials)
    train = sum(t.metrics.get("train_seconds", 0.0) for t in result.trials)
    lines.append(f"\n## Search throughput (evonorm.search until {trials} trained candidates "
                 f"or {max_rejections} rejections, 3 tiny anchors, digits 8×8)\n")
    lines.append(f"- candidates evaluated: {evaluated} ({result.count('completed')} trained, "
                 f"rejections by stage {result.rejections()})")
    lines.append(f"- wall {wall:.0f} s, process CPU {cpu:.0f} s: "
                 f"**{evaluated / (cpu / 60):.2f} candidates per CPU-minute**, "
                 f"{result.count('completed') / (cpu / 60):.2f} trained per CPU-minute")
    lines.append(f"- time inside `fit` (training, incl. its tracing): {train:.0f} s = "
                 f"{train / wall:.0%} of wall; **outside training (our overhead: checks, "
                 f"model building, stability, accuracy, loop, store): {1 - train / wall:.0%}**")
    lines.append("\nPareto front:\n\n```\n" + result.pareto_table() + "\n```")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=1000)
    parser.add_argument("--subsample", type=int, default=8)
    parser.add_argument("--train_steps", type=int, default=200)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--max_rejections", type=int, default=40,
                        help="Stop the throughput search after this many rejections.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip_throughput", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    lines = ["# EvoNorm benchmark (`benchmarks/evonorm.py`)\n",
             f"Command: `python benchmarks/evonorm.py {' '.join(sys.argv[1:])}`; "
             f"{os.cpu_count()} CPUs shared with other jobs (load varies); Keras backend "
             f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}.\n"]
    funnel(args.graphs, args.subsample, args.train_steps, args.seed, lines)
    if not args.skip_throughput:
        throughput(args.trials, args.max_rejections, args.train_steps, args.seed, lines)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
