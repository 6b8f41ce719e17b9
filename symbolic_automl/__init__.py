"""symbolic_automl: search over Keras models by symbolic programming.

    import pyglove as pg
    import symbolic_automl as sa
    from symbolic_automl import keras

    space = keras.Sequential([...keras.layers.Dense(pg.oneof([32, 64]))...])
    result = sa.search(space, algorithm=pg.evolution.regularized_evolution(),
                       evaluator=sa.KerasEvaluator(x, y, validation_data=(xv, yv)),
                       max_trials=20, root_dir="runs/demo")
"""

from symbolic_automl import export
from symbolic_automl import keras
from symbolic_automl.errors import (
    DNAMismatchError,
    InfeasibleError,
    RejectedError,
    SearchSpaceError,
    StoreError,
    SymbolicAutoMLError,
    TooManyFailuresError,
)
from symbolic_automl.evaluators import KerasEvaluator, Trainable, Training
from symbolic_automl.experiment import search
from symbolic_automl.space import Space
from symbolic_automl.storage import TrialStore
from symbolic_automl.trial import Measurement, Result, Trial, TrialContext

__version__ = "0.1.0"
