"""EvoNorm (Liu, Brock, Simonyan & Le, NeurIPS 2020): evolving normalization-activation layers.

* `graph_space(num_nodes)`: the layer-graph space (a `LayerGraph` of `Node`s
  whose ops and inputs are `pg.oneof`s); a `LayerGraph` is a `NormActivation`
  and prints as its formula.
* `bn_relu()`, `evonorm_b0()`, `evonorm_s0()`: known layers as graphs.
* `EvoNormB0`, `EvoNormS0`: the reference layers as Keras layers; `EvoNormGraph`
  the Keras layer of any graph.
* `search(anchors, data, ...)`: the paper's search (rejection, K anchors,
  Pareto tournaments) on `symbolic_automl.search`; `anchors` has tiny anchor
  architectures.

Example::

    from symbolic_automl.spaces import evonorm
    result = evonorm.search(anchors=evonorm.anchors.tiny_anchors(), data=data,
                            population_size=16, max_trials=40, root_dir="runs/evonorm")
    for trial in result.pareto_front(): print(trial.model, trial.metrics)

Importing the package imports Keras (through the `NormActivation` base); the
search's modules (evaluator, checks, search) load on first use.
"""

import importlib

from .graph import DEFAULT_NUM_NODES, LayerGraph, Node, graph_space
from .known import KNOWN, bn_relu, evonorm_b0, evonorm_s0
from .primitives import (ALL_OPS, BATCH_INDEPENDENT_OPS, INITIAL_NODES, PRIMITIVES,
                         Primitive, fallback_groups)

# Public name -> submodule; imported (with Keras) on first access.
_LAZY = {
    "EvoNormB0": "layers", "EvoNormS0": "layers", "EvoNormGraph": "graph_layer",
    "anchors": None, "checks": None, "evolution": None, "evaluator": None,
    "searching": None,
    "GraphEvolution": "evolution", "graph_evolution": "evolution",
    "EvoNormEvaluator": "evaluator", "search": "searching", "pareto_table": "searching",
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_LAZY[name] or name}")
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value
