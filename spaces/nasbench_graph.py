"""NAS-Bench-Graph (Qin et al. 2022) as a symbolic search space with a tabular evaluator.

NAS-Bench-Graph tabulates 26,206 graph-network architectures per dataset with
their validation and test accuracy, latency and parameter count (the PyPI
package `nas-bench-graph` ships the tables in its wheel). An architecture is a
*link pattern* (which earlier node feeds each of the 4 computing nodes; 9
non-isomorphic patterns) and 4 operations out of 9 GNN layer types. Many of the
9 x 9**4 = 59,049 (link, ops) choices are isomorphic; `Arch.valid_hash()` maps
each one to its table entry. The all-``skip`` architecture (no GNN layer at all)
is not in the table: it is infeasible.

No training happens here and Keras is never imported: the evaluator looks the
architecture up in the table (loaded once per dataset), so a search over this
space measures the search algorithm alone.

Example::

    import pyglove as pg
    import symbolic_automl
    from symbolic_automl import algorithms as sa
    from symbolic_automl.spaces import nasbench_graph as nbg

    space = nbg.nasbench_graph_space("cora")
    result = symbolic_automl.search(space, algorithm=sa.regularized_evolution(seed=1),
                                    evaluator=nbg.TabularEvaluator("cora"), max_trials=100)
    result.best.metrics["test_accuracy"]
"""

import functools
import itertools
from typing import Dict, List, Sequence, Tuple

import pyglove as pg

from symbolic_automl.errors import InfeasibleError

try:
    import nas_bench_graph as _nbg
except ImportError:  # pragma: no cover - exercised only without the extra
    _nbg = None

# The 9 link patterns of NAS-Bench-Graph: entry i is the node feeding computing
# node i+1 (0 = the input node). Copied from `nas_bench_graph.link_list` so the
# space can be built (and its DNA spec inspected) without the package.
LINKS: Tuple[Tuple[int, ...], ...] = (
    (0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3),
    (0, 1, 1, 1), (0, 1, 1, 2), (0, 1, 2, 2), (0, 1, 2, 3),
)

# GNN layer types, in `nas_bench_graph.gnn_list` order (the table hash uses it).
OPS: Tuple[str, ...] = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")

# ogbn-proteins was benchmarked with a smaller set of layer types.
PROTEINS_OPS: Tuple[str, ...] = ("gcn", "sage", "arma", "fc", "skip")

DATASETS: Tuple[str, ...] = ("cora", "citeseer", "pubmed", "cs", "physics", "photo",
                             "computers", "arxiv", "proteins")

NUM_NODES = 4


def ops_for(dataset: str) -> Tuple[str, ...]:
    """The layer types benchmarked on `dataset`."""
    _check_dataset(dataset)
    return PROTEINS_OPS if dataset == "proteins" else OPS


@pg.members([
    ("link", pg.typing.List(pg.typing.Int(min_value=0, max_value=NUM_NODES - 1),
                            size=NUM_NODES),
     "Link pattern: link[i] is the node feeding computing node i+1 (0 = input)."),
    ("ops", pg.typing.List(pg.typing.Str(), size=NUM_NODES),
     "The GNN layer type of each computing node."),
])
class NasBenchGraphArch(pg.Object):
    """One NAS-Bench-Graph architecture (a search space while it holds hyper-values).

    Example::

        arch = NasBenchGraphArch(link=[0, 1, 2, 3], ops=["gcn", "gcn", "gcn", "gcn"])
        arch.table_key()       # the key of its entry in every dataset's table
    """

    def _on_bound(self):
        super()._on_bound()
        if self.sym_abstract:  # A search space: values are checked once chosen.
            return
        if tuple(self.link) not in LINKS:
            raise ValueError(f"link {list(self.link)!r} is not a NAS-Bench-Graph link "
                             f"pattern; expected one of {[list(l) for l in LINKS]}.")
        unknown = [op for op in self.ops if op not in OPS]
        if unknown:
            raise ValueError(f"ops {unknown!r} are not NAS-Bench-Graph layer types; "
                             f"expected ops from {list(OPS)}.")

    @property
    def is_all_skip(self) -> bool:
        """True for the architecture without any GNN layer (not in the tables)."""
        return all(op == "skip" for op in self.ops)

    def table_key(self) -> int:
        """The key of this architecture in the tables (`Arch(link, ops).valid_hash()`).

        Raises:
            InfeasibleError: for the all-``skip`` architecture, which was never
                benchmarked.
        """
        if self.is_all_skip:
            raise InfeasibleError(
                f"ops {list(self.ops)!r}: an architecture whose 4 layers are all 'skip' "
                "has no GNN layer and is not in NAS-Bench-Graph.")
        return _table_key(tuple(self.link), tuple(self.ops))


def nasbench_graph_space(dataset: str = "cora") -> NasBenchGraphArch:
    """The NAS-Bench-Graph search space: 5 decisions (link pattern + 4 layer types).

    Args:
        dataset: the dataset whose layer types to offer (all datasets share
            `OPS` except "proteins", which has `PROTEINS_OPS`).

    Example::

        space = nasbench_graph_space("cora")
        pg.dna_spec(space)        # 9 links x 9**4 op choices
    """
    ops = list(ops_for(dataset))
    return NasBenchGraphArch(
        link=pg.oneof([list(link) for link in LINKS], name="link"),
        # One independent decision per node (not one object repeated 4 times).
        ops=[pg.oneof(ops, name=f"op{i}") for i in range(NUM_NODES)])


def load_table(dataset: str) -> Dict[int, dict]:
    """The raw table of `dataset`: valid_hash -> {'valid_perf', 'perf', 'latency', 'para'}.

    Read from the `nas-bench-graph` wheel once per dataset and cached.
    """
    _check_dataset(dataset)
    return _load_table(dataset)


@functools.lru_cache(maxsize=None)
def _load_table(dataset: str) -> Dict[int, dict]:
    if _nbg is None:
        raise ImportError("The NAS-Bench-Graph tables need the `nas-bench-graph` package: "
                          "pip install nas-bench-graph (or symbolic_automl[benchmarks]).")
    return _nbg.light_read(dataset)


def lookup(arch: NasBenchGraphArch, dataset: str) -> Dict[str, float]:
    """The table's metrics of `arch` on `dataset`.

    Returns:
        {"val_accuracy", "test_accuracy" (fractions), "latency" (seconds),
        "params" (millions, the table's `para`)}.

    Raises:
        InfeasibleError: `arch` is all-``skip`` or otherwise not in the table.
    """
    if not isinstance(arch, NasBenchGraphArch):
        raise TypeError(f"Expected a NasBenchGraphArch, got {type(arch).__name__}: {arch!r}")
    if arch.sym_abstract:
        raise ValueError(f"Expected a concrete architecture, got a search space: {arch!r}")
    key = arch.table_key()
    table = load_table(dataset)
    if key not in table:
        raise InfeasibleError(
            f"link {list(arch.link)!r} ops {list(arch.ops)!r} (key {key}) is not in "
            f"NAS-Bench-Graph's {dataset!r} table; its layer types are {list(ops_for(dataset))}.")
    return _metrics(table[key])


class TabularEvaluator:
    """Evaluator that reads an architecture's metrics from the NAS-Bench-Graph table.

    Follows the evaluator contract `(model, context) -> metrics`; its objective
    is the validation accuracy (the test accuracy is for reporting only).

    Example::

        evaluator = TabularEvaluator("citeseer")
        symbolic_automl.search(nasbench_graph_space("citeseer"), evaluator=evaluator, ...)
    """

    objective = "val_accuracy"

    def __init__(self, dataset: str = "cora"):
        _check_dataset(dataset)
        self.dataset = dataset

    def __call__(self, model: NasBenchGraphArch, context=None) -> Dict[str, float]:
        metrics = lookup(model, self.dataset)
        if context is not None:
            # One measurement, as if the architecture had been trained to the end.
            context.report(1, metrics)
        return metrics

    def __repr__(self):
        return f"TabularEvaluator({self.dataset!r})"


def dna_table(dataset: str) -> Dict[Tuple[int, ...], Tuple[float, float]]:
    """Every DNA of `nasbench_graph_space(dataset)` -> (val_accuracy, test_accuracy).

    The DNA is the tuple `dna.to_numbers()` (link index, then 4 op indices).
    Infeasible DNAs (all-``skip``) are left out. Precomputed once per dataset
    (~0.5 s) so that benchmarks can evaluate a proposal with one dict lookup.
    """
    _check_dataset(dataset)
    return _dna_table(dataset)


@functools.lru_cache(maxsize=None)
def _dna_table(dataset: str) -> Dict[Tuple[int, ...], Tuple[float, float]]:
    table = load_table(dataset)
    ops = ops_for(dataset)
    result = {}
    for link_index, link in enumerate(LINKS):
        for op_indices in itertools.product(range(len(ops)), repeat=NUM_NODES):
            names = tuple(ops[i] for i in op_indices)
            if all(op == "skip" for op in names):
                continue
            entry = table.get(_table_key(link, names))
            if entry is not None:
                result[(link_index,) + op_indices] = (float(entry["valid_perf"]),
                                                      float(entry["perf"]))
    return result


def _table_key(link: Sequence[int], ops: Sequence[str]) -> int:
    if _nbg is None:
        raise ImportError("Computing NAS-Bench-Graph keys needs the `nas-bench-graph` "
                          "package: pip install nas-bench-graph.")
    return _nbg.Arch(list(link), list(ops)).valid_hash()


def _metrics(entry: dict) -> Dict[str, float]:
    return {"val_accuracy": float(entry["valid_perf"]),
            "test_accuracy": float(entry["perf"]),
            "latency": float(entry["latency"]),
            "params": float(entry["para"])}


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"Unknown NAS-Bench-Graph dataset {dataset!r}; "
                         f"expected one of {list(DATASETS)}.")
