"""`SplitOptimizer`: model weights and XD architecture parameters, two optimizers.

XD-operations train their weights with the model's own optimizer and their
K-matrices with another (the reference uses Adam with its own learning rate).
`SplitOptimizer` is one Keras optimizer that routes each gradient by variable:
XD architecture parameters (`is_arch_variable`, named `arch_*`) to
`arch_optimizer`, everything else to `weights_optimizer`. Being an ordinary
optimizer it works with `compile`/`fit` on TensorFlow (`apply`) and JAX
(`stateless_apply`: its `variables` are both optimizers' state), and is saved in
`.keras` files with its two optimizers.

Example::

    model.compile(optimizer=SplitOptimizer(keras.optimizers.SGD(0.1),
                                           keras.optimizers.Adam(1e-3)), loss=...)
"""

import keras

from symbolic_automl.spaces.xd.layer import is_arch_variable


@keras.saving.register_keras_serializable(package="symbolic_automl.xd")
class SplitOptimizer(keras.optimizers.Optimizer):
    """Applies `weights_optimizer` to model weights, `arch_optimizer` to arch params.

    `learning_rate` reads and sets the weights optimizer's (what Keras callbacks
    such as `LearningRateScheduler` expect); `iterations` counts steps.
    """

    _inner_ready = False  # Until both optimizers exist, learning_rate is the base's.

    def __init__(self, weights_optimizer, arch_optimizer, name="split_optimizer", **kwargs):
        kwargs.pop("learning_rate", None)
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        self.weights_optimizer = keras.optimizers.get(weights_optimizer)
        self.arch_optimizer = keras.optimizers.get(arch_optimizer)
        self._inner_ready = True

    @property
    def learning_rate(self):
        if not getattr(self, "_inner_ready", False):
            return super().learning_rate
        return self.weights_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if not getattr(self, "_inner_ready", False):
            keras.optimizers.Optimizer.learning_rate.fset(self, value)
        else:
            self.weights_optimizer.learning_rate = value

    def build(self, variables):
        super().build(variables)
        weights, arch = _split(variables)
        if weights:
            self.weights_optimizer.build(weights)
        if arch:
            self.arch_optimizer.build(arch)
        self.built = True

    @property
    def variables(self):
        return (self._variables[:] + self.weights_optimizer.variables
                + self.arch_optimizer.variables)

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            if not self.built:
                raise ValueError("SplitOptimizer.apply without variables needs "
                                 "build(trainable_variables) first.")
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                self.build(trainable_variables)
        grads = list(grads)
        if len(grads) != len(trainable_variables):
            raise ValueError(f"SplitOptimizer got {len(grads)} gradients for "
                             f"{len(trainable_variables)} variables.")
        for optimizer, wanted in ((self.weights_optimizer, False), (self.arch_optimizer, True)):
            pairs = [(g, v) for g, v in zip(grads, trainable_variables)
                     if is_arch_variable(v) == wanted]
            if pairs:
                optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
        self._iterations.assign_add(1)

    def get_config(self):
        config = super().get_config()
        config.update(
            weights_optimizer=keras.optimizers.serialize(self.weights_optimizer),
            arch_optimizer=keras.optimizers.serialize(self.arch_optimizer))
        return config


def _split(variables):
    weights = [v for v in variables if not is_arch_variable(v)]
    arch = [v for v in variables if is_arch_variable(v)]
    return weights, arch
