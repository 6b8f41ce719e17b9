"""XD-operation vs the convolution it replaces: one layer's train step, side by side.

The PDE backbone's layer (CircularConv1D, width 64, kernel 17, batch 20) and its
XD warm starts ('fixed' FFTs and 'butterfly' K-matrices), forward + backward in
one compiled TensorFlow step; prints CPU ms per step and ratios to the conv.
The butterfly layer is timed with each K-matrix block applied both ways (dense:
materialized, one GEMM; two-stage: two batched block matmuls), and as the
layer runs by default (dense up to `butterfly.DENSE_MAX_SIZE`).

    python benchmarks/xd_layer.py --lengths 256 512 1024 --xla
    KERAS_BACKEND=jax python benchmarks/xd_layer.py     # the same step under jax.jit
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def step_seconds(layer, x, xla, repeats):
    import keras  # pylint: disable=g-import-not-at-top

    if keras.backend.backend() == "jax":
        return _jax_step_seconds(layer, x, repeats)
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    layer(x)
    variables = layer.trainable_variables

    @tf.function(jit_compile=xla)
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) ** 2)
        return tape.gradient(loss, variables)

    step(x)
    step(x)
    start = time.process_time()
    for _ in range(repeats):
        step(x)
    return (time.process_time() - start) / repeats


def _jax_step_seconds(layer, x, repeats):
    """The same forward + backward as one jitted function of the layer's variables."""
    import jax  # pylint: disable=g-import-not-at-top

    layer(x)
    trainable = [v.value for v in layer.trainable_variables]
    fixed = [v.value for v in layer.non_trainable_variables]

    @jax.jit
    def step(trainable, x):
        def loss(trainable):
            y, _ = layer.stateless_call(trainable, fixed, x)
            return (y ** 2).sum()
        return jax.grad(loss)(trainable)

    jax.block_until_ready(step(trainable, x))
    start = time.process_time()
    for _ in range(repeats):
        jax.block_until_ready(step(trainable, x))
    return (time.process_time() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--xla", action="store_true")
    args = parser.parse_args()

    import keras  # pylint: disable=g-import-not-at-top

    from symbolic_automl.spaces import xd  # pylint: disable=g-import-not-at-top

    from symbolic_automl.spaces.xd import butterfly  # pylint: disable=g-import-not-at-top

    default_dense_max = butterfly.DENSE_MAX_SIZE
    print(f"backend={keras.backend.backend()} width={args.width} batch={args.batch} kernel=17 "
          f"xla={args.xla} (CPU ms/step; "
          f"default: dense up to n = {default_dense_max})")
    print("| n | conv | XD fixed | XD butterfly dense | XD butterfly two-stage | "
          "fixed / conv | dense / conv | two-stage / conv | default / conv |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.lengths:
        x = keras.random.normal((args.batch, n, args.width), seed=0)
        conv = xd.CircularConv1D(args.width, 17, use_bias=False)
        times = [step_seconds(conv, x, args.xla, args.repeats),
                 step_seconds(xd.XD.from_conv(conv, arch="fixed"), x, args.xla, args.repeats)]
        for dense_max in (1 << 30, 0):
            butterfly.DENSE_MAX_SIZE = dense_max
            times.append(step_seconds(xd.XD.from_conv(conv, arch="butterfly"), x, args.xla,
                                      args.repeats))
        butterfly.DENSE_MAX_SIZE = default_dense_max
        default = times[2] if n <= default_dense_max else times[3]
        base = times[0]
        cells = [f"{t * 1e3:.1f}" for t in times] + [f"{t / base:.2f}" for t in times[1:]]
        print(f"| {n} | " + " | ".join(cells) + f" | {default / base:.2f} |", flush=True)


if __name__ == "__main__":
    main()
