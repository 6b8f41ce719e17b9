"""Weight-sharing search on the same spaces as black-box search.

`build_supernet(space)` turns a space's choices among layers into mixed ops
with shared weights; a `WeightSharingAlgorithm` (DARTS, GDAS, REINFORCE, SPOS
in `symbolic_automl.algorithms.weight_sharing`) trains it and derives a DNA.

Modules, leaves first (imports only go up this list): `choice` (choice points,
the mixed op), `network` (the `Supernet` base), `define_by_run` and `supernet`
(building supernets), `stepper` (`BaseStepper`), `backend_tensorflow` /
`backend_jax` (the hand-written steps, one per backend), `run` (the training
loop), `base` (the algorithm contract).
"""

from symbolic_automl.oneshot.base import (
    SearchOutcome,
    SupernetOptimizers,
    WeightSharingAlgorithm,
)
from symbolic_automl.oneshot.choice import ChoicePoint, MixedOp, active_mixing
from symbolic_automl.oneshot.define_by_run import (
    ChoiceSpec,
    DefineByRunSupernet,
    SupernetContext,
    supernet_mode,
)
from symbolic_automl.oneshot.network import Supernet
from symbolic_automl.oneshot.plotting import plot_architecture_history
from symbolic_automl.oneshot.run import SupernetRun, backend_module
from symbolic_automl.oneshot.supernet import (
    FunctionalSupernet,
    SequentialSupernet,
    build_supernet,
    register_supernet_builder,
)

__all__ = [
    "ChoicePoint", "ChoiceSpec", "DefineByRunSupernet", "FunctionalSupernet", "MixedOp",
    "SearchOutcome", "SequentialSupernet", "Supernet", "SupernetContext", "SupernetOptimizers",
    "SupernetRun", "WeightSharingAlgorithm", "active_mixing", "backend_module",
    "build_supernet", "plot_architecture_history", "register_supernet_builder",
    "supernet_mode",
]
