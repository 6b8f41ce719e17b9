"""Early-stopping / multi-fidelity policies (`pg.tuning.EarlyStoppingPolicy`s).

Use with any algorithm: `symbolic_automl.search(..., early_stopping=policy)`.
The Keras evaluator reports once per epoch, so steps are epochs.

Example::

    from symbolic_automl import algorithms as sa
    policy = sa.early_stopping.SuccessiveHalving(min_resource=1, eta=3, max_resource=9)
"""

from .base import EarlyStoppingPolicy
from .median import MedianStopping
from .successive_halving import Hyperband, SuccessiveHalving
