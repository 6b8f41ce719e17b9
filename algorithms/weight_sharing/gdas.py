"""GDAS (Dong & Yang 2019): one sampled candidate per choice, α by straight-through.

Example::

    from symbolic_automl.algorithms.weight_sharing import GDAS
    outcome = GDAS(epochs=20, tau_max=10.0, tau_min=0.1).search(space, evaluator)
"""

import keras
import numpy as np
import pyglove as pg

from symbolic_automl.algorithms.weight_sharing.darts_recipe import DARTSRecipe


@pg.members([
    ("tau_max", pg.typing.Float(min_value=1e-3, default=10.0),
     "Gumbel-softmax temperature at the start (annealed linearly)."),
    ("tau_min", pg.typing.Float(min_value=1e-3, default=0.1),
     "Temperature at the end of training."),
])
class GDAS(DARTSRecipe):
    """Gumbel-softmax with hard, straight-through sampling.

    Each forward pass uses the one-hot of argmax((α + g) / τ), g ~ Gumbel(0, 1);
    the backward pass uses the gradient of softmax((α + g) / τ). τ goes
    linearly from `tau_max` to `tau_min`. Derivation: argmax of α.
    """

    arch_order = 1

    def sample_noise(self, rng, alphas, progress):
        tau = self.tau_max - (self.tau_max - self.tau_min) * progress
        noise = []
        for a in alphas:
            gumbel = -np.log(-np.log(rng.uniform(1e-10, 1.0, a.shape)))
            # Row 0: the Gumbel sample; row 1: 1/τ, so that one compiled step serves
            # every temperature.
            noise.append(np.stack([gumbel, np.full(a.shape, 1.0 / tau)]).astype("float32"))
        return noise

    def mixing(self, alphas, noise):
        weights = []
        for a, n in zip(alphas, noise):
            soft = keras.ops.softmax((a + n[0]) * n[1])
            hard = keras.ops.one_hot(keras.ops.argmax(soft), a.shape[-1], dtype=soft.dtype)
            weights.append(hard - keras.ops.stop_gradient(soft) + soft)
        return weights
