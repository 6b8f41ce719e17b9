"""symbolic_automl: search over Keras models by symbolic programming.

    import pyglove as pg
    import symbolic_automl as sa
    from symbolic_automl import keras

    space = keras.Sequential([...keras.layers.Dense(pg.oneof([32, 64]))...])
    result = sa.search(space, algorithm=pg.evolution.regularized_evolution(),
                       evaluator=sa.KerasEvaluator(x, y, validation_data=(xv, yv)),
                       max_trials=20, root_dir="runs/demo")

Keras (and so TensorFlow) is imported on first use of a Keras-facing name, so
the search loop, the store and the CLI's `show` start fast.
"""

import importlib

from symbolic_automl import sharing  # noqa: F401  (first: keeps shared hyper-values one decision)
from symbolic_automl import decisions
from symbolic_automl import export
from symbolic_automl.errors import (
    DNAMismatchError,
    InfeasibleError,
    LeaseLostError,
    RejectedError,
    SearchSpaceError,
    StoreError,
    SymbolicAutoMLError,
    TooManyFailuresError,
)
from symbolic_automl.experiment import search
from symbolic_automl.space import Space
from symbolic_automl.storage import TrialStore
from symbolic_automl.trial import Measurement, Result, Trial, TrialContext

__version__ = "0.1.0"

# Public name -> module that defines it; imported on first access.
_LAZY = {
    "keras": "symbolic_automl.keras",
    "evaluators": "symbolic_automl.evaluators",
    "data": "symbolic_automl.data",
    "oneshot": "symbolic_automl.oneshot",
    "flows": "symbolic_automl.flows",
    "KerasEvaluator": "symbolic_automl.evaluators",
    "Training": "symbolic_automl.evaluators",
    "Trainable": "symbolic_automl.evaluators",
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'symbolic_automl' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if module.__name__.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
