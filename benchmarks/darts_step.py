"""DARTS supernet training throughput (images/s) and peak memory.

The reference search configuration: batch 64, 16 initial channels, 8 cells,
32x32x3 input, 2 x 14 x 8 architecture weights; one step is one architecture
update (first order, or second order with the unrolled step) plus one weight
update, as in the reference `train_search.py`. Data are random images (the
step's cost does not depend on their values). Prints one JSON line per order
with images/s, the ratio to the reference PyTorch implementation (~68 images/s
first order, ~20 second order on a V100-class GPU, from the DARTS paper's search
cost) and peak memory.

Run with the backend to measure (JAX is the fast path on GPUs):

    KERAS_BACKEND=jax python benchmarks/darts_step.py --orders 1 2 --steps 20
    KERAS_BACKEND=tensorflow python benchmarks/darts_step.py --batch 8 --steps 2  # CPU smoke

`compile_s` is the first step of a fresh supernet: it traces and compiles
every function the order uses (the gradient functions are shared, so second
order compiles one more than first) and runs them; `compile_only_s` leaves the
run out (one timed step less). `peak_memory_gib` on a CPU is the process's
max RSS, so measure one order per process (`--orders 2`) for a per-order figure.
"""

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from symbolic_automl.algorithms.weight_sharing import DARTS  # noqa: E402
from symbolic_automl.oneshot import SupernetRun  # noqa: E402
from symbolic_automl.spaces.darts import network as darts_network  # noqa: E402
from symbolic_automl.spaces.darts.supernet import DartsSupernet  # noqa: E402

REFERENCE_IMAGES_PER_S = {1: 68.0, 2: 20.0}
REFERENCE_PEAK_GIB = 7.6


def _device():
    if keras.backend.backend() == "jax":
        import jax  # pylint: disable=g-import-not-at-top
        return jax.devices()[0]
    return None


def _device_name():
    device = _device()
    if device is not None:
        return f"{device.platform}:{getattr(device, 'device_kind', device)}"
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return "GPU" if tf.config.list_physical_devices("GPU") else "CPU"


def _peak_memory_gib():
    device = _device()
    if device is not None and device.platform != "cpu":
        stats = device.memory_stats() or {}
        return stats.get("peak_bytes_in_use", 0) / 2**30, "device peak_bytes_in_use"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        if tf.config.list_physical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**30, "GPU peak"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "host max RSS"


def measure(order, batch, channels, cells, steps, warmup, seed=0, start_after=None):
    space = darts_network.darts_space(channels=channels, num_cells=cells)
    n = 2 * batch * (steps + warmup)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, n).astype("int32")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    start = time.time()
    run = SupernetRun(DARTS(order=order, batch_size=batch, loss=loss, seed=seed),
                      space, (x, y), net=DartsSupernet(space))
    build_s = time.time() - start
    num_weights = sum(int(np.prod(v.shape)) for v in run.net.trainable_variables)
    num_alphas = sum(int(np.prod(a.shape)) for a in run.alphas)

    def step(i):
        lo, hi = i * batch, (i + 1) * batch
        return run.stepper.step(run.x_w[lo:hi], run.y_w[lo:hi], run.x_a[lo:hi],
                                run.y_a[lo:hi], run.noise(), run.noise(), order=order,
                                unrolled_lr=0.025)

    start = time.time()
    step(0)  # compiles
    compile_s = time.time() - start
    for i in range(1, warmup):
        step(i)
    # Lets two runs share a machine: compile side by side, time one after the other.
    deadline = time.time() + 900
    while start_after and not os.path.exists(start_after) and time.time() < deadline:
        time.sleep(1)
    start = time.time()
    losses = [step(warmup + i) for i in range(steps)]  # float() waits for the device
    seconds = (time.time() - start) / steps
    peak, peak_kind = _peak_memory_gib()
    images_per_s = batch / seconds
    return {
        "backend": keras.backend.backend(), "device": _device_name(), "order": order,
        "batch": batch, "channels": channels, "cells": cells,
        "weights": num_weights, "alphas": num_alphas,
        "build_s": round(build_s, 1), "compile_s": round(compile_s, 1),
        # The first step less a timed one: tracing and compiling alone.
        "compile_only_s": round(compile_s - seconds, 1),
        "step_ms": round(1000 * seconds, 2), "images_per_s": round(images_per_s, 1),
        "vs_reference": round(images_per_s / REFERENCE_IMAGES_PER_S[order], 2),
        "peak_memory_gib": round(peak, 2), "peak_memory_kind": peak_kind,
        "reference_peak_gib": REFERENCE_PEAK_GIB,
        "final_train_loss": round(losses[-1][0], 4),
        # Traces per compiled function (each should be 1: every step reuses them).
        "traces": dict(getattr(run.stepper, "traces", {})),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--start-after", default=None,
                        help="Wait for this file to exist before the timed steps.")
    parser.add_argument("--done-file", default=None,
                        help="Create this file when all measurements are done.")
    args = parser.parse_args(argv)
    for order in args.orders:
        print(json.dumps(measure(order, args.batch, args.channels, args.cells, args.steps,
                                 args.warmup, start_after=args.start_after)), flush=True)
    if args.done_file:
        open(args.done_file, "w").close()


if __name__ == "__main__":
    sys.exit(main())
