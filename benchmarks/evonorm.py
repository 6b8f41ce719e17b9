"""EvoNorm search: rejection funnel, search throughput, and the held-out transfer table.

Sections (`--sections`, any of them, in this order):

1. `funnel`: `--graphs` random graphs of `graph_space(10)` (the search's initial
   population is random graphs) go through the structural checks (output
   depends on x, finite, not a functional duplicate).
2. `survivors`: a random sample of `--subsample` structural survivors goes on
   through the whole evaluator (stability in each anchor, quality after 100
   steps, training to `--train_steps`), in `--processes` worker processes.
   Prints the fraction rejected by stability and by quality, with counts and
   95% Wilson intervals, and the wall and CPU seconds per candidate of each
   outcome (rejected vs fully trained). Each outcome is appended to `--log`;
   rerunning with the same log evaluates only the survivors it lacks.
3. `throughput`: a real `evonorm.search` run for `--trials` trained candidates
   (or `--max_rejections` rejections): candidates evaluated per CPU-minute of
   this process, and where the wall time goes: inside `fit` (training, its
   tracing estimated apart) and outside it, part by part.
4. `transfer`: the held-out comparison (`spaces.anchors.held_out_comparison`):
   an architecture the search did not use (a NAS-Bench-101 network, conv-BN-ReLU
   cells) trained with BN-ReLU, EvoNorm-B0, EvoNorm-S0 and the found layer (the
   best mean accuracy on the throughput search's Pareto front, or of the
   search stored in `--found_from`), same budget, `--transfer_seeds` seeds,
   mean ± standard error.

    python benchmarks/evonorm.py --sections funnel,survivors --graphs 1000 --subsample 100 \\
        --processes 2 --out /tmp/funnel.md --log /tmp/survivors.jsonl
    python benchmarks/evonorm.py --sections throughput,transfer --trials 3 \\
        --max_rejections 150 --transfer_seeds 5 --out /tmp/search.md

The machine's load average is printed at the start and end of each section:
wall times on a shared machine are inflated; CPU seconds much less.
"""

import argparse
import collections
import concurrent.futures
import json
import math
import multiprocessing
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
from symbolic_automl.spaces.evonorm.graph import LayerGraph, Node  # noqa: E402

SECTIONS = ("funnel", "survivors", "throughput", "transfer")
GROUPS = 4  # The tiny anchors have 8-16 channels.
# Parts of an evaluation the evaluator times (`<part>_seconds` metrics).
PARTS = ("structural", "cleanup", "build", "stability", "quality_fit", "accuracy", "train_on")


def load() -> str:
    return "load average %.1f / %.1f / %.1f (1/5/15 min)" % os.getloadavg()


def wilson(k: int, n: int, z: float = 1.96):
    """95% Wilson score interval of a fraction k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, center - half), min(1.0, center + half)


# ------------------------------------------------------------------ 1. funnel


def funnel(num_graphs, seed, lines):
    import keras  # pylint: disable=g-import-not-at-top

    lines.append(f"## Funnel over {num_graphs} random graphs (10 nodes, all 18 primitives)\n")
    lines.append(f"Start: {load()}.\n")
    space = Space(evonorm.graph_space(10, groups=GROUPS))
    rng = random.Random(seed)
    probe, index = checks.Probe(), checks.SignatureIndex()
    stages = collections.Counter()
    survivors, seconds = [], collections.defaultdict(list)
    start, cpu = time.time(), time.process_time()
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
    wall, cpu = time.time() - start, time.process_time() - cpu
    lines.append("| stage | rejected | fraction | s per candidate (wall) |")
    lines.append("|---|---|---|---|")
    for stage in checks.STRUCTURAL_STAGES:
        n = stages[stage]
        lines.append(f"| {stage} | {n} | {n / num_graphs:.3f} | "
                     f"{np.mean(seconds[stage]) if n else float('nan'):.3f} |")
    lines.append(f"| passed the structural checks | {stages['passed']} | "
                 f"{stages['passed'] / num_graphs:.3f} | {np.mean(seconds['passed']):.3f} |")
    lines.append(f"\nStructural checks: {wall:.0f} s wall, {cpu:.0f} s CPU for {num_graphs} "
                 f"graphs ({cpu / num_graphs * 1000:.0f} ms CPU each, sampling included). "
                 f"End: {load()}.\n")
    return survivors, stages


# --------------------------------------------------------------- 2. survivors

_WORKER = {}


def _init_worker(train_steps, seed):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    data = evonorm.searching.load_data("digits", 8)
    _WORKER["evaluator"] = evonorm.EvoNormEvaluator(
        evonorm.anchors.tiny_anchors(), data, train_steps=train_steps, seed=seed)


def _evaluate_survivor(nodes):
    """One survivor through the whole evaluator: its outcome and costs (plain data)."""
    graph = LayerGraph(nodes=[Node(op=op, inputs=[a, b]) for op, a, b in nodes], groups=GROUPS)
    wall, cpu = time.time(), time.process_time()
    try:
        metrics = _WORKER["evaluator"](graph, None)
        reason = ""
    except symbolic_automl.RejectedError as e:
        metrics, reason = e.metrics, str(e)
    return {"formula": graph.formula(), "nodes": nodes, "stage": metrics["stage"],
            "reason": reason, "wall": time.time() - wall, "cpu": time.process_time() - cpu,
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))}}


def survivors_section(survivors, subsample, processes, train_steps, seed, log, lines):
    sample = random.Random(seed + 1).sample(survivors, min(subsample, len(survivors)))
    jobs = [g.node_list() for g in sample]
    lines.append(f"### Stability and quality on a random sample of {len(jobs)} of the "
                 f"{len(survivors)} structural survivors\n")
    # An existing --log resumes: the survivors it holds are not evaluated again.
    done = []
    if log and os.path.exists(log):
        key = lambda nodes: json.dumps([list(node) for node in nodes])  # noqa: E731
        with open(log) as f:
            logged = {key(o["nodes"]): o for o in map(json.loads, filter(str.strip, f))}
        done = [logged[key(j)] for j in jobs if key(j) in logged]
        jobs = [j for j in jobs if key(j) not in logged]
        lines.append(f"{len(done)} of them come from the log {log} of an earlier run.\n")
    lines.append(f"Each survivor goes through the whole evaluator: per anchor (3) the "
                 f"stability ascent, 100 steps and the quality check, then training to "
                 f"{train_steps} steps in every anchor; {processes} worker process(es). "
                 f"Start: {load()}.\n")
    outcomes = list(done)
    start = time.time()
    log_file = open(log, "a") if log else None
    try:
        if processes <= 1:
            _init_worker(train_steps, seed)
            results = map(_evaluate_survivor, jobs)
        else:
            pool = concurrent.futures.ProcessPoolExecutor(
                processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(train_steps, seed))
            results = pool.map(_evaluate_survivor, jobs)
        for outcome in results:
            outcomes.append(outcome)
            print(f"  {len(outcomes):4d} {outcome['stage']:10s} {outcome['wall']:6.1f} s "
                  f"({outcome['cpu']:5.1f} CPU)  {outcome['formula']}", file=sys.stderr)
            if log_file:
                log_file.write(json.dumps(outcome) + "\n")
                log_file.flush()
    finally:
        if log_file:
            log_file.close()
        if processes > 1:
            pool.shutdown(cancel_futures=True)
    survivors_table(outcomes, lines)
    lines.append(f"\n{time.time() - start:.0f} s wall for the sample. End: {load()}.\n")
    return outcomes


def mean_accuracy(outcome) -> float:
    return float(np.mean([v for k, v in outcome["metrics"].items() if k.startswith("acc_")]))


def survivors_table(outcomes, lines):
    """The outcome table of evaluated survivors (also from a `--log` file: `--from_log`)."""
    n = len(outcomes)
    by_stage = collections.defaultdict(list)
    for o in outcomes:
        by_stage[o["stage"]].append(o)
    lines.append("| outcome | candidates | fraction (95% interval) | s per candidate: wall | "
                 "CPU |")
    lines.append("|---|---|---|---|---|")
    for stage in (checks.STABILITY, checks.QUALITY, "trained") + tuple(
            s for s in by_stage if s not in (checks.STABILITY, checks.QUALITY, "trained")):
        group = by_stage.get(stage, [])
        k = len(group)
        low, high = wilson(k, n)
        label = "fully trained" if stage == "trained" else f"rejected: {stage}"
        wall = np.mean([o["wall"] for o in group]) if k else float("nan")
        cpu = np.mean([o["cpu"] for o in group]) if k else float("nan")
        lines.append(f"| {label} | {k} | {k / max(n, 1):.2f} ({low:.2f}-{high:.2f}) | "
                     f"{wall:.1f} | {cpu:.1f} |")
    # In which anchor the rejections happened (the checks stop at the first failure).
    anchors = collections.Counter()
    for o in outcomes:
        if o["stage"] in (checks.STABILITY, checks.QUALITY):
            anchors[(o["stage"], o["reason"].rsplit("in anchor ", 1)[-1])] += 1
    if anchors:
        lines.append("\nRejections by the anchor they happened in: " + ", ".join(
            f"{stage} in {anchor}: {k}" for (stage, anchor), k in sorted(anchors.items())) + ".")
    trained = by_stage.get("trained", [])
    if trained:
        best = sorted(trained, key=lambda o: -mean_accuracy(o))[:3]
        lines.append("\nBest fully trained survivors (mean validation accuracy over the "
                     "anchors): " + "; ".join(f"`{o['formula']}` {mean_accuracy(o):.3f}"
                                              for o in best) + ".")


# -------------------------------------------------------------- 3. throughput


def throughput(trials, max_rejections, train_steps, seed, lines):
    data = evonorm.searching.load_data("digits", 8)
    root = tempfile.mkdtemp(prefix="evonorm_bench_")
    lines.append(f"\n## Search throughput (evonorm.search until {trials} trained candidates "
                 f"or {max_rejections} rejections, 3 tiny anchors, digits 8×8, "
                 f"{train_steps} steps)\n")
    lines.append(f"Start: {load()}.\n")
    wall, cpu = time.time(), time.process_time()
    result = evonorm.search(evonorm.anchors.tiny_anchors(), data, population_size=4,
                            tournament_size=2, max_trials=trials, root_dir=root, groups=GROUPS,
                            train_steps=train_steps, seed=seed, max_rejections=max_rejections)
    wall, cpu = time.time() - wall, time.process_time() - cpu
    throughput_report(result, wall, cpu, train_steps, lines)
    lines.append(f"\nEnd: {load()}.")
    return result


def throughput_report(result, wall, cpu, train_steps, lines):
    """Candidates per CPU-minute and where the wall time went, part by part."""
    trials = [t for t in result.trials if t.status != "running"]
    evaluated, trained = len(trials), sum(t.status == "completed" for t in trials)
    parts = {p: sum(t.metrics.get(f"{p}_seconds", 0.0) for t in trials) for p in PARTS}
    fit = parts["quality_fit"] + parts["train_on"]
    rejections = collections.Counter(t.metrics.get("stage") for t in trials
                                     if t.status == "rejected")
    lines.append(f"- candidates evaluated: {evaluated} ({trained} trained, rejections by "
                 f"stage {dict(rejections)})")
    lines.append(f"- wall {wall:.0f} s, process CPU {cpu:.0f} s: "
                 f"**{evaluated / (cpu / 60):.1f} candidates per CPU-minute**, "
                 f"{trained / (cpu / 60):.2f} trained per CPU-minute")
    lines.append(f"- inside `fit` (training, its tracing included): {fit:.0f} s = "
                 f"{fit / wall:.0%} of wall; **outside training: {1 - fit / wall:.0%}**")
    # Tracing inside fit: the first fit of each model traces; `train_on` fits do not.
    completed = [t for t in trials if t.status == "completed"]
    quality_runs = sum(len([k for k in t.metrics if k.startswith("quality_acc_")])
                       for t in trials)
    if completed and train_steps > 100:
        per_step = (sum(t.metrics["train_on_seconds"] for t in completed)
                    / (len(completed) * 3 * (train_steps - 100)))
        tracing = parts["quality_fit"] - per_step * 100 * quality_runs
        lines.append(f"- of the time inside `fit`, tracing the train step (estimated as the "
                     f"first fit's time minus 100 steps at the traced step's {per_step * 1e3:.1f}"
                     f" ms): {tracing:.0f} s ({tracing / wall:.0%} of wall) for "
                     f"{quality_runs} models")
    loop = wall - sum(parts.values())
    lines.append("\n| part | s | share of wall |\n|---|---|---|")
    for part in PARTS:
        lines.append(f"| {part} | {parts[part]:.1f} | {parts[part] / wall:.1%} |")
    lines.append(f"| search loop, store, materializing, algorithm | {loop:.1f} | "
                 f"{loop / wall:.1%} |")
    lines.append("\nPareto front:\n\n```\n" + result.pareto_table() + "\n```")


def stored_result(root_dir):
    store = symbolic_automl.TrialStore.in_dir(root_dir)
    try:
        return evonorm.searching.EvoNormResult(store.trials(), store.get_meta("objectives"),
                                               root_dir)
    finally:
        store.close()


# ---------------------------------------------------------------- 4. transfer


def found_layer(result):
    front = result.pareto_front()
    if not front:
        return None, None
    best = max(front, key=lambda t: np.mean([t.metrics[m] for m in result.objective]))
    return best.model, best


def transfer(found, source, seeds, steps, lines):
    from symbolic_automl.spaces import anchors  # pylint: disable=g-import-not-at-top

    (x, y), (x_val, y_val) = evonorm.searching.load_data("digits", 8)
    network = evonorm.anchors.held_out_network(input_shape=x.shape[1:])
    lines.append(f"\n## Transfer to a held-out architecture ({steps} steps, {len(seeds)} seeds)"
                 "\n")
    lines.append(f"Held out: a NAS-Bench-101 network (Inception-like cell: 1×1, three 3×3 "
                 f"conv-BN-ReLU, a max-pool; stem 16, 2 stacks of 1 cell; "
                 f"{network.to_keras().count_params()} parameters with BN-ReLU), not one of "
                 f"the search's anchors, on digits 8×8 ({len(x)} train / {len(x_val)} val). "
                 f"Every BN-ReLU place gets each layer (`held_out_comparison`: Adam 0.01, "
                 f"batch 32, same seeds for every layer). Found layer: `{found}` ({source}). "
                 f"S0 with {GROUPS} groups, as in the search. Start: {load()}.\n")
    start = time.time()
    table = anchors.held_out_comparison(network, found, (x, y), (x_val, y_val), steps=steps,
                                        seeds=tuple(seeds), groups=GROUPS)
    lines.append("| layer | validation accuracy, mean ± s.e. | per seed |\n|---|---|---|")
    for row in table.rows:
        lines.append(f"| {row.name} | {row.mean:.4f} ± {row.stderr:.4f} | "
                     + ", ".join(f"{a:.3f}" for a in row.accuracies) + " |")
    lines.append(f"\n{time.time() - start:.0f} s wall. End: {load()}.\n")
    return table


# ---------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"Comma-separated, of {SECTIONS}.")
    parser.add_argument("--graphs", type=int, default=1000)
    parser.add_argument("--subsample", type=int, default=100)
    parser.add_argument("--processes", type=int, default=1,
                        help="Worker processes for the survivors section.")
    parser.add_argument("--train_steps", type=int, default=200)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--max_rejections", type=int, default=150,
                        help="Stop the throughput search after this many rejections.")
    parser.add_argument("--transfer_seeds", type=int, default=5)
    parser.add_argument("--transfer_steps", type=int, default=100)
    parser.add_argument("--found_from", default=None,
                        help="Root dir of an evonorm search whose best front layer transfers "
                             "(default: the throughput search's).")
    parser.add_argument("--throughput_from", default=None,
                        help="Only report the throughput of the search stored there "
                             "(with --throughput_cpu, its process CPU seconds).")
    parser.add_argument("--throughput_cpu", type=float, default=float("nan"))
    parser.add_argument("--from_log", default=None,
                        help="Only print the survivors table of an earlier --log file.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", default=None, help="JSON lines, one per evaluated survivor.")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    sections = args.sections.split(",")
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; expected some of {SECTIONS}")
    lines = ["# EvoNorm benchmark (`benchmarks/evonorm.py`)\n",
             f"Command: `python benchmarks/evonorm.py {' '.join(sys.argv[1:])}`; "
             f"{os.cpu_count()} CPUs shared with other jobs; Keras backend "
             f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}.\n"]
    if args.from_log:
        with open(args.from_log) as f:
            survivors_table([json.loads(line) for line in f if line.strip()], lines)
        print("\n".join(lines))
        return
    if args.throughput_from:
        # A search stopped early: its finished trials, wall from their timestamps,
        # CPU as measured outside (e.g. /proc/<pid>/stat at the stop, less start-up).
        result = stored_result(args.throughput_from)
        finished = [t for t in result.trials if t.status != "running"]
        wall = max(t.finished for t in finished) - min(t.created for t in result.trials)
        lines.append(f"\n## Search throughput (the stored search {args.throughput_from}, "
                     f"stopped after {len(finished)} finished candidates; CPU "
                     f"{args.throughput_cpu:.0f} s measured from /proc at the stop)\n")
        throughput_report(result, wall, args.throughput_cpu, args.train_steps, lines)
        print("\n".join(lines))
        return
    survivors, result = [], None
    if "funnel" in sections or "survivors" in sections:
        survivors, _ = funnel(args.graphs, args.seed, lines)
    if "survivors" in sections:
        survivors_section(survivors, args.subsample, args.processes, args.train_steps,
                          args.seed, args.log, lines)
    if "throughput" in sections:
        result = throughput(args.trials, args.max_rejections, args.train_steps, args.seed,
                            lines)
    if "transfer" in sections:
        if args.found_from:
            found, trial = found_layer(stored_result(args.found_from))
            source = f"trial {trial.id} of {args.found_from}" if trial else ""
        elif result is not None:
            found, trial = found_layer(result)
            source = f"trial {trial.id} of the throughput search" if trial else ""
        else:
            parser.error("the transfer section needs the throughput section or --found_from")
        if found is None:
            lines.append("\n## Transfer: no trained candidate to transfer.\n")
        else:
            transfer(found, source, range(args.transfer_seeds), args.transfer_steps, lines)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
