"""The cheap checks a candidate layer passes before (and while) it is trained.

In the order the evaluator runs them:

1. `no_input`: the output must depend on `x`, in the graph and numerically
   (changing the probe batch changes the output).
2. `non_finite`: no NaN/inf on a random probe batch, in training or inference mode,
   with the parameters as initialized and with random ones.
3. `duplicate`: a graph computing the same function as an earlier candidate
   (same outputs on a fixed random batch, with fixed random `v0`, `v1`) is
   not trained again (`SignatureIndex`).
4. `stability` (`adversarial_gradient_norm`): the paper's check that a small
   adversarial perturbation of the network's parameters cannot blow up the
   gradient norm.
5. `quality`: below 20% validation accuracy after 100 steps on any anchor
   (run by the evaluator: it is the start of the full training).

Example::

    probe = Probe(channels=16, groups=4)
    stage, reason, signature = probe.check(graph)   # stage None: passed 1-2
"""

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

NO_INPUT, NON_FINITE, DUPLICATE, STABILITY, QUALITY = (
    "no_input", "non_finite", "duplicate", "stability", "quality")
STRUCTURAL_STAGES = (NO_INPUT, NON_FINITE, DUPLICATE)
STAGES = STRUCTURAL_STAGES + (STABILITY, QUALITY)


class Probe:
    """A fixed random batch, and fixed random `v0`/`v1`, to run candidates on.

    Args:
        shape: the probe batch's shape (B, H, W, C).
        seed: of the batch and of the parameter values.
    """

    def __init__(self, shape: Sequence[int] = (8, 6, 6, 16), seed: int = 0):
        rng = np.random.RandomState(seed)
        self.shape = tuple(shape)
        self.x = rng.normal(size=self.shape).astype("float32")
        self.x_changed = (self.x + rng.normal(size=self.shape)).astype("float32")
        channels = self.shape[-1]
        # Parameter values away from their initial 0 and 1, so that `x·v1` and
        # `x` (or `x + v0` and `x`) differ: they do once trained.
        self.v0 = rng.normal(0.0, 0.5, size=channels).astype("float32")
        self.v1 = rng.normal(1.0, 0.5, size=channels).astype("float32")

    def outputs(self, graph, randomize: bool = True) -> np.ndarray:
        """Outputs on the probe batch: training mode, then inference mode (after that
        one training step), then training mode on the changed batch.

        Args:
            randomize: set `v0`, `v1` to the probe's random values (else they keep
                their initial 0 and 1).
        """
        layer = graph.keras_layer()
        layer.build(self.x.shape)
        if randomize and layer.v0 is not None:
            layer.v0.assign(self.v0)
        if randomize and layer.v1 is not None:
            layer.v1.assign(self.v1)
        with np.errstate(all="ignore"):
            return np.stack([np.asarray(layer(self.x, training=True)),
                             np.asarray(layer(self.x, training=False)),
                             np.asarray(layer(self.x_changed, training=True))])

    def check(self, graph) -> Tuple[Optional[str], str, Optional[np.ndarray]]:
        """Runs checks 1-2: `(failed stage or None, reason, signature)`.

        Finiteness is checked with the parameters as initialized (a network
        starts there: `x / v0` is inf) and with random ones (where training may go).
        """
        if not graph.depends_on_input():
            return NO_INPUT, "the output does not depend on x (graph)", None
        for randomize in (False, True):
            train, infer, changed = self.outputs(graph, randomize)
            at = "random v0, v1" if randomize else "initial v0 = 0, v1 = 1"
            for mode, out in (("training", train), ("inference", infer)):
                if not np.all(np.isfinite(out)):
                    return NON_FINITE, f"NaN/inf output on a random batch ({mode} mode, {at})", None
        if np.all(np.isfinite(changed)) and np.allclose(train, changed, rtol=1e-5, atol=1e-6):
            return NO_INPUT, "the output does not change with x (numerically)", None
        return None, "", np.concatenate([train.reshape(-1), infer.reshape(-1)])


class SignatureIndex:
    """Finds earlier candidates computing the same function (same probe outputs).

    Example::

        index.find(signature)        # trial id of a functional duplicate, or None
        index.add(trial_id, signature)
    """

    def __init__(self, rtol: float = 1e-4, atol: float = 1e-5):
        self.rtol, self.atol = rtol, atol
        self._ids: List[int] = []
        self._signatures: List[np.ndarray] = []
        self._heads = np.zeros((0, 16), dtype="float32")

    def __len__(self):
        return len(self._ids)

    def find(self, signature: np.ndarray) -> Optional[int]:
        head = signature[:16]
        # Cheap filter on the first values, then the full comparison.
        close = np.all(np.abs(self._heads - head) <= self.atol + self.rtol * np.abs(head), axis=1)
        for i in np.flatnonzero(close):
            if np.allclose(self._signatures[i], signature, rtol=self.rtol, atol=self.atol):
                return self._ids[i]
        return None

    def add(self, trial_id: int, signature: np.ndarray) -> None:
        self._ids.append(trial_id)
        self._signatures.append(signature)
        self._heads = np.concatenate([self._heads, signature[None, :16]])


def gradient_function(model, loss_fn: Callable, x: np.ndarray, y: np.ndarray
                      ) -> Callable[[Sequence[np.ndarray]], List[np.ndarray]]:
    """`values -> ∇θ loss` at trainable values `values` (training mode), per backend.

    The only backend-specific code of the search: TensorFlow uses a traced
    GradientTape (moving statistics it updates are restored by the caller),
    JAX a jitted `jax.grad` of `model.stateless_call`.
    """
    import keras  # pylint: disable=g-import-not-at-top

    variables = model.trainable_variables
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        # Traced once per model: for the dozen calls of a check, tracing plus the
        # calls takes 25-45% less CPU than eager calls on the tiny anchors.
        @tf.function(reduce_retracing=True)
        def grads_tf(values):
            for variable, value in zip(variables, values):
                variable.assign(value)
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            return [tf.zeros_like(v) if g is None else g
                    for v, g in zip(variables, tape.gradient(loss, variables))]

        return lambda values: [g.numpy() for g in grads_tf([tf.constant(v) for v in values])]
    if backend == "jax":
        import jax  # pylint: disable=g-import-not-at-top

        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss(values):
            out, _ = model.stateless_call(values, non_trainable, x, training=True)
            return loss_fn(y, out)

        grads_jax = jax.jit(jax.grad(loss))
        return lambda values: [np.asarray(g) for g in grads_jax([jax.numpy.asarray(v)
                                                                 for v in values])]
    raise ValueError(f"The stability check supports the tensorflow and jax Keras backends, "
                     f"not {backend!r}")


def _norm(arrays) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(a, dtype="float64"))) for a in arrays)))


def adversarial_gradient_norm(model, x: np.ndarray, y: np.ndarray, loss_fn: Callable,
                              steps: int = 4, epsilon: float = 0.3,
                              finite_difference: float = 1e-3) -> float:
    """The largest gradient norm a small adversarial parameter perturbation reaches.

    Gradient ascent on `‖∇θ L(θ + δ)‖` over `δ` with `‖δ‖ ≤ epsilon·‖θ‖`: the
    ascent direction `∇δ ‖g‖ = H g / ‖g‖` is a Hessian-vector product, taken
    by central finite differences of two gradients (so only first-order
    gradients are needed, on any backend). Each step moves `δ` by
    `epsilon·‖θ‖ / 2` and projects back onto the ball. The model's variables
    are restored afterwards. Non-finite gradients give `inf`.

    Args:
        model: a built Keras model (logits out).
        x, y: one training batch.
        loss_fn: `(y_true, y_pred) -> scalar loss`.
        steps: ascent steps (3 gradient evaluations each).
        epsilon: the perturbation's size relative to the parameters' norm.
        finite_difference: the finite-difference step, relative to `‖θ‖`.

    Returns:
        The largest gradient norm seen (at δ = 0 and after each step).
    """
    variables = model.trainable_variables
    saved = [np.array(v.numpy()) for v in model.variables]
    theta = [np.array(v.numpy()) for v in variables]
    grads = gradient_function(model, loss_fn, x, y)
    radius = epsilon * _norm(theta)
    fd = finite_difference * max(_norm(theta), 1e-12)
    delta = [np.zeros_like(t) for t in theta]
    try:
        with np.errstate(all="ignore"):
            g = grads(theta)
            best = _norm(g)
            for _ in range(steps):
                if not np.isfinite(best):
                    return float("inf")
                gn = _norm(g)
                if gn == 0.0:
                    break
                point = [t + d for t, d in zip(theta, delta)]
                plus = grads([p + fd * gi / gn for p, gi in zip(point, g)])
                minus = grads([p - fd * gi / gn for p, gi in zip(point, g)])
                direction = [(a - b) / (2 * fd) for a, b in zip(plus, minus)]
                dn = _norm(direction)
                if not np.isfinite(dn):
                    return float("inf")
                if dn == 0.0:
                    break
                delta = [d + 0.5 * radius * v / dn for d, v in zip(delta, direction)]
                size = _norm(delta)
                if size > radius:
                    delta = [d * (radius / size) for d in delta]
                g = grads([t + d for t, d in zip(theta, delta)])
                best = max(best, _norm(g)) if np.isfinite(_norm(g)) else float("inf")
        return best
    finally:
        for variable, value in zip(model.variables, saved):
            variable.assign(value)
