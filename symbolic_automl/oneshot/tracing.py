"""Counting how often a compiled function traces: each should trace once per search.

Both backends' `Stepper`s compile every piece of a supernet step with
`counting_traces` (under `tf.function` or `jax.jit`, the wrapped Python body
runs once per trace), so `stepper.traces` shows a piece that retraces, and
tests can assert that every order of a step reuses one trace of each gradient.

Example::

    traces = {}
    grad = jax.jit(counting_traces(traces, "grad", jax.grad(loss)))
    grad(w); grad(w + 1)        # traces == {"grad": 1}
"""

import functools
from typing import Callable, Dict


def counting_traces(counts: Dict[str, int], name: str, fn: Callable) -> Callable:
    """`fn`, counting in `counts[name]` each time it runs: under a compiler, each trace."""

    # wraps: TF's retracing warning keys on the code found through __wrapped__;
    # without it every function wrapped here would count as one.
    @functools.wraps(fn)
    def traced(*args):
        counts[name] = counts.get(name, 0) + 1
        return fn(*args)

    return traced
