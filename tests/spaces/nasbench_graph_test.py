"""NAS-Bench-Graph tabular space and evaluator, and a tiny run of the search-quality benchmark."""

import importlib.util
import math
import os
import random
import sys

import pyglove as pg
import pytest

pytest.importorskip("nas_bench_graph")

import symbolic_automl as sa  # noqa: E402
from symbolic_automl import errors  # noqa: E402
from symbolic_automl.spaces import nasbench_graph as nbg  # noqa: E402

_BENCHMARK = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks",
                          "search_quality.py")


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("search_quality_benchmark", _BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # multiprocessing/pickling look it up by name
    spec.loader.exec_module(module)
    return module


ALL_SKIP = [0, 8, 8, 8, 8]  # link [0,0,0,0], 4 x "skip"
ALL_GAT = [0, 0, 0, 0, 0]  # link [0,0,0,0], 4 x "gat"


# -------------------------------------------------------------------- space

def test_space_has_link_and_four_op_decisions():
    spec = pg.dna_spec(nbg.nasbench_graph_space("cora"))
    assert len(spec.decision_points) == 5
    assert [len(p.candidates) for p in spec.decision_points] == [9, 9, 9, 9, 9]
    assert spec.space_size == 9 * 9 ** 4


def test_proteins_space_offers_its_five_layer_types():
    spec = pg.dna_spec(nbg.nasbench_graph_space("proteins"))
    assert [len(p.candidates) for p in spec.decision_points] == [9, 5, 5, 5, 5]


def test_sampled_dnas_map_to_table_entries_with_the_same_metrics():
    space = nbg.nasbench_graph_space("citeseer")
    spec = pg.dna_spec(space)
    table = nbg.load_table("citeseer")
    by_dna = nbg.dna_table("citeseer")
    rng = random.Random(0)
    for _ in range(50):
        dna = pg.random_dna(spec, rng)
        arch = pg.materialize(space, dna)
        if arch.is_all_skip:
            continue
        assert arch.table_key() in table
        metrics = nbg.lookup(arch, "citeseer")
        assert by_dna[tuple(dna.to_numbers())] == (metrics["val_accuracy"],
                                                   metrics["test_accuracy"])


def test_dna_table_covers_every_architecture_once_per_isomorphism_class():
    by_dna = nbg.dna_table("cora")
    assert len(by_dna) == 9 * 9 ** 4 - 9  # every DNA but the 9 all-skip ones
    # 59,040 DNAs land on the 26,206 distinct table entries.
    test_accuracies = {test for _, test in by_dna.values()}
    table_tests = {float(e["perf"]) for e in nbg.load_table("cora").values()}
    assert test_accuracies == table_tests


def test_isomorphic_architectures_share_a_key():
    # Two parallel branches in either order are the same network.
    a = nbg.NasBenchGraphArch(link=[0, 0, 1, 2], ops=["gcn", "gat", "sage", "gin"])
    b = nbg.NasBenchGraphArch(link=[0, 0, 1, 2], ops=["gat", "gcn", "gin", "sage"])
    assert a.table_key() == b.table_key()
    c = nbg.NasBenchGraphArch(link=[0, 1, 2, 3], ops=["gcn", "gat", "sage", "gin"])
    assert a.table_key() != c.table_key()


def test_bad_link_op_and_dataset_are_named_in_the_error():
    with pytest.raises(ValueError, match=r"link \[0, 0, 0, 2\].*expected one of"):
        nbg.NasBenchGraphArch(link=[0, 0, 0, 2], ops=["gcn"] * 4)
    with pytest.raises(ValueError, match=r"'mlp'.*expected ops from"):
        nbg.NasBenchGraphArch(link=[0, 0, 0, 0], ops=["gcn", "mlp", "gcn", "gcn"])
    with pytest.raises(ValueError, match=r"'imagenet'.*expected one of"):
        nbg.TabularEvaluator("imagenet")
    with pytest.raises(ValueError, match="search space"):
        nbg.lookup(nbg.nasbench_graph_space("cora"), "cora")


# ---------------------------------------------------------------- evaluator

def test_evaluator_returns_the_table_values_of_a_known_architecture():
    # Entry 0 of the cora table: link [0,0,0,0] with four GAT layers.
    arch = nbg.NasBenchGraphArch(link=[0, 0, 0, 0], ops=["gat"] * 4)
    metrics = nbg.TabularEvaluator("cora")(arch, None)
    assert set(metrics) == {"val_accuracy", "test_accuracy", "latency", "params"}
    assert metrics["val_accuracy"] == pytest.approx(0.7733333, abs=1e-6)
    assert metrics["test_accuracy"] == pytest.approx(0.797, abs=1e-9)
    assert metrics["params"] == pytest.approx(1.736711, abs=1e-6)
    assert metrics["latency"] > 0
    # The same architecture scores differently on another dataset.
    assert nbg.TabularEvaluator("pubmed")(arch, None) != metrics


def test_all_skip_is_infeasible_with_a_reason():
    arch = pg.materialize(nbg.nasbench_graph_space("cora"), pg.DNA(ALL_SKIP))
    assert arch.is_all_skip
    with pytest.raises(errors.InfeasibleError, match="all 'skip'"):
        nbg.TabularEvaluator("cora")(arch, None)


@pg.members([("numbers", pg.typing.List(pg.typing.List(pg.typing.Int())))])
class _ProposeList(pg.DNAGenerator):
    """Proposes the given DNAs (as number lists) in order."""

    def _on_bound(self):
        super()._on_bound()
        self.infeasible = []

    def _propose(self):
        if self.num_proposals >= len(self.numbers):
            raise StopIteration()
        return pg.DNA(list(self.numbers[self.num_proposals]))

    def feedback_infeasible(self, dna):
        self.infeasible.append(dna)


def test_search_records_all_skip_as_infeasible_and_goes_on(tmp_path):
    algorithm = _ProposeList([ALL_SKIP, ALL_GAT])
    result = sa.search(nbg.nasbench_graph_space("cora"), algorithm=algorithm,
                       evaluator=nbg.TabularEvaluator("cora"), max_trials=2,
                       root_dir=str(tmp_path), progress=False)
    first, second = result.trials
    assert first.status == "infeasible" and "all 'skip'" in first.error
    assert second.status == "completed"
    assert second.metrics["test_accuracy"] == pytest.approx(0.797)
    assert result.best is second
    assert [d.to_numbers() for d in algorithm.infeasible] == [ALL_SKIP]


# ---------------------------------------------------------------- benchmark

def test_regrets_at_keeps_the_first_best_by_validation():
    bench = _load_benchmark()
    table = bench.get_table("cora")
    history = [(0.5, 0.70), None, (0.8, 0.75), (0.8, 0.80), (0.6, 0.83)]
    regrets = bench.regrets_at(history, table, [1, 2, 4, 5])
    assert regrets[1] == pytest.approx(100 * (table.best_test - 0.70))
    assert regrets[2] == regrets[1]  # an infeasible proposal uses budget, finds nothing
    assert regrets[4] == pytest.approx(100 * (table.best_test - 0.75))  # tie: first kept
    assert regrets[5] == regrets[4]  # better test, worse validation: not selected
    assert math.isnan(bench.regrets_at([None, None], table, [2])[2])


def test_infeasible_proposals_count_against_the_budget():
    bench = _load_benchmark()
    table = bench.get_table("cora")
    algorithm = _ProposeList([ALL_SKIP] * 3 + [ALL_GAT] * 5)
    history = bench.run_generator(algorithm, table, budget=4)
    assert history[:3] == [None, None, None] and history[3] is not None
    assert len(history) == 4 and len(algorithm.infeasible) == 3


def test_tiny_benchmark_run():
    bench = _load_benchmark()
    factories = bench.algorithm_factories()
    rows = [next(r for r in factories if r.startswith("sa.random")),
            next(r for r in factories if r.startswith("sa.regularized_evolution")),
            "sa.TPE", "sa.grid"]
    if bench.OPTUNA_TPE in factories:
        rows.append(bench.OPTUNA_TPE)
    results = bench.run_benchmark(datasets=["cora"], budgets=[10, 20], seeds=2,
                                  rows=rows, processes=1)
    table = bench.get_table("cora")
    assert results["floor"]["cora"] == pytest.approx(table.floor)
    assert 0 <= table.floor < 2.0  # selecting by validation loses a little test accuracy
    for row in rows:
        at10, at20 = (results["regrets"][b][row]["cora"] for b in (10, 20))
        # Regret is measured against the best test accuracy in the table.
        assert len(at20) == 2 and all(0 <= r < 100 for r in at10 + at20)
    # Seeded runs are reproducible; grid search does not depend on the seed.
    again = bench.run_benchmark(datasets=["cora"], budgets=[20], seeds=2, rows=rows[:3],
                                processes=1)
    for row in rows[:3]:
        assert again["regrets"][20][row]["cora"] == results["regrets"][20][row]["cora"]
    grid = results["regrets"][20]["sa.grid"]["cora"]
    assert grid[0] == grid[1]
    text = bench.format_tables(results)
    assert "floor" in text and "Budget 20" in text and "±" in text
