"""The DARTS paper's supernet training recipe, shared by DARTS, GDAS, REINFORCE and SPOS.

Weights: SGD, learning rate 0.025 cosine-decayed to 0.001 over the search,
momentum 0.9, weight decay 3e-4, gradients clipped to global norm 5, on the
weights' half of the training data. α: Adam, learning rate 3e-4, betas
(0.5, 0.999), weight decay 1e-3 (added to the gradient, as PyTorch's Adam
does), on the other half; α starts as 1e-3 × N(0, 1). These are the
reference's `train_search.py` settings; each is a symbolic field, so a search
changes one by an argument (`DARTS(a_learning_rate=3e-3)`).

Example::

    class MyMixing(DARTSRecipe):        # a new algorithm with the paper's optimizers
        def mixing(self, alphas, noise):
            return [keras.ops.sigmoid(a) for a in alphas]
"""

import keras
import numpy as np
import pyglove as pg

from symbolic_automl.oneshot import SupernetOptimizers, WeightSharingAlgorithm


@pg.members([
    ("w_learning_rate", pg.typing.Float(min_value=0.0, default=0.025),
     "SGD learning rate of the weights (cosine decay to `w_learning_rate_min`)."),
    ("w_learning_rate_min", pg.typing.Float(min_value=0.0, default=0.001), ""),
    ("w_momentum", pg.typing.Float(min_value=0.0, default=0.9), ""),
    ("w_weight_decay", pg.typing.Float(min_value=0.0, default=3e-4), ""),
    ("grad_clip", pg.typing.Float(min_value=0.0, default=5.0),
     "Global-norm clip of the weights' gradients."),
    ("a_learning_rate", pg.typing.Float(min_value=0.0, default=3e-4),
     "Adam learning rate of the architecture parameters."),
    ("a_beta_1", pg.typing.Float(default=0.5), ""),
    ("a_beta_2", pg.typing.Float(default=0.999), ""),
    ("a_weight_decay", pg.typing.Float(min_value=0.0, default=1e-3),
     "L2 weight decay of α (added to the gradient, as PyTorch's Adam does)."),
    ("init_scale", pg.typing.Float(min_value=0.0, default=1e-3),
     "α starts as init_scale × N(0, 1), as in the reference."),
])
class DARTSRecipe(WeightSharingAlgorithm):
    """A weight-sharing algorithm trained with the DARTS paper's optimizers."""

    def optimizers(self, total_steps: int) -> SupernetOptimizers:
        schedule = keras.optimizers.schedules.CosineDecay(
            self.w_learning_rate, decay_steps=total_steps,
            alpha=(self.w_learning_rate_min / self.w_learning_rate
                   if self.w_learning_rate else 0.0))
        return SupernetOptimizers(
            weights=keras.optimizers.SGD(schedule, momentum=self.w_momentum),
            learning_rate=schedule,
            architecture=keras.optimizers.Adam(self.a_learning_rate, beta_1=self.a_beta_1,
                                               beta_2=self.a_beta_2),
            grad_clip=self.grad_clip, weight_decay=self.w_weight_decay,
            arch_weight_decay=self.a_weight_decay)

    def initial_alpha(self, rng: np.random.Generator, num_candidates: int) -> np.ndarray:
        return (self.init_scale * rng.standard_normal(num_candidates)).astype("float32")
