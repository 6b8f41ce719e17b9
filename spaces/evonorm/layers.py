"""`EvoNormB0` and `EvoNormS0` as Keras 3 layers, matching the reference implementation.

tensorflow/tpu `models/official/resnet/resnet_model.py` (`evonorm`), NHWC:

* B0: `y = x / max(√(var + ε), v·x + √(Var_{h,w}(x) + ε)) · γ + β`; `var` is the
  batch variance over (N,H,W) in training, which also updates
  `moving_variance ← 0.9·moving_variance + 0.1·var` (initialized to 1), and
  `moving_variance` at inference.
* S0: `y = x·σ(v·x) / √(Var_{h,w,c∈group}(x) + ε) · γ + β`, `groups` lowered
  until it divides C.
* `nonlinearity=False`: the affine map `x·γ + β` only (no `v`).

ε = 1e-5; γ starts at 1 (0 with `init_zero=True`), β at 0, v at 1.

Example::

    y = EvoNormS0(groups=8)(x)
    y = EvoNormB0()(x, training=True)
"""

import keras
from keras import ops

from .moments import batch_moments, group_moments, instance_moments
from .primitives import fallback_groups

EPSILON = 1e-5
MOVING_AVERAGE_DECAY = 0.9


class _EvoNorm(keras.layers.Layer):
    """Shared parameters (γ, β, v) and config of the two layers."""

    def __init__(self, nonlinearity: bool = True, init_zero: bool = False,
                 epsilon: float = EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.nonlinearity = bool(nonlinearity)
        self.init_zero = bool(init_zero)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} takes channels-last 4-D inputs with a "
                             f"known channel count, got shape {input_shape}")
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,),
                                     initializer="zeros" if self.init_zero else "ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")
        if self.nonlinearity:
            self.v = self.add_weight(name="v", shape=(channels,), initializer="ones")

    def get_config(self):
        config = super().get_config()
        config.update(nonlinearity=self.nonlinearity, init_zero=self.init_zero,
                      epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="symbolic_automl.evonorm")
class EvoNormB0(_EvoNorm):
    """EvoNorm-B0 (batch-dependent): `x / max(s_{b,w,h}(x), v·x + s_{w,h}(x)) · γ + β`.

    Args:
        nonlinearity: False gives the affine map `x·γ + β` (no `v`, no statistics).
        init_zero: initialize γ to 0 (the last norm of a residual block).
        epsilon: added to variances.
        momentum: decay of the moving variance (the reference's 0.9).

    Example::

        y = EvoNormB0()(x, training=True)   # batch variance; updates moving_variance
        y = EvoNormB0()(x)                  # inference: moving_variance
    """

    def __init__(self, nonlinearity: bool = True, init_zero: bool = False,
                 epsilon: float = EPSILON, momentum: float = MOVING_AVERAGE_DECAY, **kwargs):
        super().__init__(nonlinearity, init_zero, epsilon, **kwargs)
        self.momentum = float(momentum)

    def build(self, input_shape):
        super().build(input_shape)
        if self.nonlinearity:
            self.moving_variance = self.add_weight(
                name="moving_variance", shape=(input_shape[-1],), initializer="ones",
                trainable=False)

    def call(self, x, training=False):
        if not self.nonlinearity:
            return x * self.gamma + self.beta
        if training:
            _, variance = batch_moments(x)
            self.moving_variance.assign(
                self.moving_variance * self.momentum
                + ops.reshape(variance, (-1,)) * (1.0 - self.momentum))
        else:
            variance = self.moving_variance
        batch_std = ops.sqrt(variance + self.epsilon)
        instance_std = ops.sqrt(instance_moments(x)[1] + self.epsilon)
        return x / ops.maximum(batch_std, self.v * x + instance_std) * self.gamma + self.beta

    def get_config(self):
        config = super().get_config()
        config["momentum"] = self.momentum
        return config


@keras.saving.register_keras_serializable(package="symbolic_automl.evonorm")
class EvoNormS0(_EvoNorm):
    """EvoNorm-S0 (batch-independent): `x·σ(v·x) / s_{w,h,c/g}(x) · γ + β`.

    Args:
        groups: channel groups (default 32), lowered until it divides C as in
            the reference (C=8 with 32 groups uses 8).
        nonlinearity: False gives the affine map `x·γ + β`.
        init_zero: initialize γ to 0.
        epsilon: added to the group variance.

    Example::

        y = EvoNormS0(groups=4)(x)
    """

    def __init__(self, groups: int = 32, nonlinearity: bool = True, init_zero: bool = False,
                 epsilon: float = EPSILON, **kwargs):
        super().__init__(nonlinearity, init_zero, epsilon, **kwargs)
        fallback_groups(groups, groups)  # Validates groups >= 1.
        self.groups = int(groups)

    def call(self, x, training=False):
        del training  # Batch-independent: the same in both modes.
        if not self.nonlinearity:
            return x * self.gamma + self.beta
        groups = fallback_groups(self.groups, x.shape[-1])
        group_std = ops.sqrt(group_moments(x, groups)[1] + self.epsilon)
        return x * ops.sigmoid(self.v * x) / group_std * self.gamma + self.beta

    def get_config(self):
        config = super().get_config()
        config["groups"] = self.groups
        return config
