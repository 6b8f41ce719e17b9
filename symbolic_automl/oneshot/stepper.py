"""`BaseStepper`: what the hand-written supernet steps of every backend share.

A stepper holds a built supernet, its α, the loss and the algorithm's
optimizers, and does one search's steps with compiled functions: one
`Stepper` subclass per Keras backend (`backend_tensorflow.py`,
`backend_jax.py`), the only backend-specific code of weight-sharing search.
This base keeps the settings, counts each compiled function's traces
(`traces`: under `tf.function` or `jax.jit` the Python body runs once per
trace, so tests can assert that every order of a step reuses one trace of each
gradient), and holds the architecture-gradient rules an algorithm adds for
orders above 1 (`arch_rules`: `{order: factory}`, `factory(stepper) -> rule`,
built once per stepper; each backend module states a rule's signature).

Example::

    stepper = backend_module().Stepper(net, alphas, loss_fn, sgd, adam, mixing_fn,
                                       grad_clip=5.0, w_weight_decay=3e-4,
                                       a_weight_decay=1e-3)
    stepper.step(x, y, x_val, y_val, noise, noise, order=1)
    stepper.traces        # {"grad_alphas": 1, "apply_alphas": 1, "grad_weights": 1, ...}
"""

import abc
import functools
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np


def counting_traces(counts: Dict[str, int], name: str, fn: Callable) -> Callable:
    """`fn`, counting in `counts[name]` each time it runs: under a compiler, each trace."""

    # wraps: TF's retracing warning keys on the code found through __wrapped__;
    # without it every function wrapped here would count as one.
    @functools.wraps(fn)
    def traced(*args):
        counts[name] = counts.get(name, 0) + 1
        return fn(*args)

    return traced


class BaseStepper(abc.ABC):
    """Supernet + α + their optimizers; subclasses step them on one backend.

    Args:
      net: a built `Supernet`.
      alphas: one `keras.Variable` per choice point.
      loss_fn: `(y_true, y_pred) -> loss` (per sample or mean).
      w_optimizer, a_optimizer: Keras optimizers for weights and α.
      mixing_fn: `(alphas, noise) -> mixing weights`, in `keras.ops`.
      grad_clip: global-norm clip of the weights' gradients (None: no clip).
      w_weight_decay, a_weight_decay: L2 weight decay added to the gradients.
      arch_rules: `{order: factory}` for the orders above 1 the algorithm
        supplies; see the module docstring.
    """

    def __init__(self, net, alphas, loss_fn, w_optimizer, a_optimizer,
                 mixing_fn: Callable, grad_clip: Optional[float], w_weight_decay: float,
                 a_weight_decay: float, arch_rules: Optional[Dict[int, Callable]] = None):
        self.net = net
        self.alphas = list(alphas)
        self.loss_fn = loss_fn
        self.w_optimizer = w_optimizer
        self.a_optimizer = a_optimizer
        self.mixing_fn = mixing_fn
        self.grad_clip = grad_clip
        self.w_weight_decay = w_weight_decay
        self.a_weight_decay = a_weight_decay
        self.traces: Dict[str, int] = {}
        self._rule_factories = dict(arch_rules or {})
        self._rules: Dict[int, Callable] = {}

    def compiled(self, name: str, fn: Callable) -> Callable:
        """`fn` compiled for this backend, its traces counted in `traces[name]`."""
        return self._compile(counting_traces(self.traces, name, fn))

    def build_rules(self):
        """Builds the algorithm's rules; a subclass calls it once its state is ready."""
        self._rules = {order: factory(self) for order, factory in self._rule_factories.items()}

    def rule(self, order: int) -> Callable:
        """The architecture-gradient rule of `order` (above 1)."""
        if order not in self._rules:
            raise ValueError(
                f"Architecture-gradient order {order!r} needs a rule from the algorithm; "
                f"this one supplies order 1 and {sorted(self._rules) or 'no other'}.")
        return self._rules[order]

    @abc.abstractmethod
    def _compile(self, fn: Callable) -> Callable:
        """`tf.function(fn)`, `jax.jit(fn)`, ..."""

    @abc.abstractmethod
    def step(self, x_tr, y_tr, x_val, y_val, noise_arch, noise_weights, *, order: int,
             **options):
        """One architecture update (unless `order` is 0), then one weight update.

        `options` go to the architecture-gradient rule of `order` (DARTS'
        unrolled step takes `unrolled_lr` and `learning_rate`); order 1 needs none.

        Returns:
          (training loss, validation loss; 0.0 for order 0), as floats.
        """

    @abc.abstractmethod
    def arch_gradients(self, x_tr, y_tr, x_val, y_val, noise, *, order: int,
                       **options) -> List[np.ndarray]:
        """∇α of the validation loss (first order or a rule's), without any update."""

    @abc.abstractmethod
    def predict(self, x, mixing: Sequence[np.ndarray]) -> np.ndarray:
        """The supernet's inference-mode outputs under fixed mixing weights."""

    @abc.abstractmethod
    def forward_train(self, x, mixing: Sequence[np.ndarray]):
        """A training-mode forward pass: updates batch-norm statistics, not weights."""

    @abc.abstractmethod
    def non_trainable_values(self, indices: Sequence[int]) -> List[np.ndarray]:
        """Values of `net.non_trainable_variables[i]` for each index."""

    @abc.abstractmethod
    def assign_non_trainable(self, indices: Sequence[int], values: Sequence[np.ndarray]):
        """Sets `net.non_trainable_variables[i]` for each index."""

    @abc.abstractmethod
    def apply_arch_gradients(self, grads: Sequence[np.ndarray]):
        """One α update of `a_optimizer` with these gradients (plus α's weight decay)."""

    @abc.abstractmethod
    def alpha_values(self) -> List[np.ndarray]:
        """α now, one array per choice point."""

    @abc.abstractmethod
    def sync(self):
        """Writes the stepper's state back into the Keras variables."""
