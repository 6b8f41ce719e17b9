"""Weight-sharing search algorithms: train one supernet, derive one architecture.

Each is a small symbolic object on `symbolic_automl.oneshot.WeightSharingAlgorithm`
(through `DARTSRecipe`, the DARTS paper's optimizers); pass one as `algorithm=`
to `symbolic_automl.search` instead of a black-box algorithm, on the very same
space. DARTS' second-order step is in `darts_unrolled`.
"""

from symbolic_automl.algorithms.weight_sharing.darts import DARTS
from symbolic_automl.algorithms.weight_sharing.darts_recipe import DARTSRecipe
from symbolic_automl.algorithms.weight_sharing.gdas import GDAS
from symbolic_automl.algorithms.weight_sharing.reinforce import REINFORCE
from symbolic_automl.algorithms.weight_sharing.spos import SPOS
from symbolic_automl.oneshot.base import WeightSharingAlgorithm

__all__ = ["DARTS", "DARTSRecipe", "GDAS", "REINFORCE", "SPOS", "WeightSharingAlgorithm"]
