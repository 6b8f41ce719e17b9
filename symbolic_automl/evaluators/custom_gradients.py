"""Releasing the gradients TensorFlow registers, for good, while a trial trains.

In graph mode (every `tf.function` Keras traces), `tf.custom_gradient`
registers its gradient function under a fresh name (`CustomGradient-<uid>`) in
TensorFlow's global gradient registry and never removes it (tensorflow#27492,
tensorflow#97697). Keras' optimizer goes through one on every trace
(`ReplicaContext.all_reduce` in `_all_reduce_sum_gradients`), and the
function's closure holds tensors of the traced graph: each trial's train and
test graphs, hundreds of ops, stay alive after its model is gone, and an
in-process search grew ~30% in 80 tiny trials. `released()` removes the entries
registered while it was open; the graphs are then ordinary garbage.

Only the names registered inside the block go, so gradients registered by
other code (a model the user keeps training) stay. The block's own graphs
cannot be differentiated afterwards, which a finished trial never needs;
KerasEvaluator trials never run in two threads of a process at once.

Example::

    with custom_gradients.released():
        model.fit(x, y)
"""

import contextlib
import sys
from typing import Iterator, Optional

_PREFIX = "CustomGradient-"


@contextlib.contextmanager
def released() -> Iterator[None]:
    """Removes the custom gradients registered inside the block when it ends."""
    registry = _registry()
    if registry is None:
        yield
        return
    before = set(registry)
    try:
        yield
    finally:
        for name in [k for k in registry if k not in before and k.startswith(_PREFIX)]:
            registry.pop(name, None)


def _registry() -> Optional[dict]:
    """TensorFlow's gradient registry (name -> entry), if TensorFlow is loaded."""
    if "tensorflow" not in sys.modules:  # Another backend: nothing to release.
        return None
    try:
        from tensorflow.python.framework import ops  # pylint: disable=g-import-not-at-top
    except ImportError:
        return None
    registry = getattr(getattr(ops, "gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None
