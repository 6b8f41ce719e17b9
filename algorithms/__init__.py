"""Search algorithms, installed as `symbolic_automl.algorithms`.

Every algorithm is a `pg.DNAGenerator`: it sees only the space's `pg.DNASpec`
and proposes `pg.DNA`s. Example::

    from symbolic_automl import algorithms as sa
    result = symbolic_automl.search(space, algorithm=sa.TPE(seed=1), ...)

Early-stopping policies live in `sa.early_stopping`; `sa.conformance` checks a
new algorithm (see docs/algorithms.md). Weight-sharing algorithms (`sa.DARTS`,
`sa.GDAS`, `sa.REINFORCE`, `sa.SPOS`) run on the same spaces; they need Keras,
so they are imported on first use.
"""

import importlib

from symbolic_automl.genome import Genome

from . import conformance
from . import early_stopping
from . import pyglove_algorithms
from .base import Algorithm, dominates, pareto_front
from .dedupe import NoDuplicates, no_duplicates
from .evolution import (
    Evolution,
    ParetoTournamentEvolution,
    evolution_with_rejection,
    pareto_tournament_evolution,
    regularized_evolution,
)
from .pyglove_algorithms import (
    UniformChange,
    grid,
    hill_climb,
    neat,
    nsga2,
    random,
)
from .rejection import Rejection, keras_proxy_check, with_rejection
from .tpe import TPE

_WEIGHT_SHARING = ("DARTS", "GDAS", "REINFORCE", "SPOS", "WeightSharingAlgorithm",
                   "weight_sharing")


def __getattr__(name):
    if name not in _WEIGHT_SHARING:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.weight_sharing")
    value = module if name == "weight_sharing" else getattr(module, name)
    globals()[name] = value
    return value
