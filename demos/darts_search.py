"""DARTS on the DARTS cell space, on offline data, then retrain and print the genotype.

The same space a black-box search would use (`darts.darts_space`); switching
from DARTS to GDAS, REINFORCE or SPOS is the `--algorithm` flag, i.e. the
`algorithm=` argument of `symbolic_automl.search` and nothing else.

Data: scikit-learn's bundled 8x8 digits (no network). The small configuration
(4 channels, 3 cells, a few epochs) finishes in minutes on a laptop CPU; the
reference configuration is `--channels 16 --cells 8` on CIFAR-10 (32x32x3).

    python demos/darts_search.py                       # first-order DARTS
    python demos/darts_search.py --algorithm darts2    # second-order DARTS
    python demos/darts_search.py --algorithm gdas      # or reinforce, spos
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402

import symbolic_automl  # noqa: E402
from symbolic_automl import keras as sk_keras  # noqa: E402
from symbolic_automl.algorithms.weight_sharing import DARTS, GDAS, REINFORCE, SPOS  # noqa: E402
from symbolic_automl.evaluators import KerasEvaluator, Training  # noqa: E402
from symbolic_automl.spaces.darts import network as darts_network  # noqa: E402


def load_digits():
    """Digits as (N, 8, 8, 1) images in [0, 1]: a train and a validation split."""
    from sklearn.datasets import load_digits as sklearn_digits  # pylint: disable=g-import-not-at-top

    data = sklearn_digits()
    x = (data.images / 16.0).astype("float32")[..., None]
    y = data.target.astype("int32")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def make_algorithm(name, epochs, seed):
    # The paper's α learning rate (3e-4) is tuned for 50 epochs of CIFAR-10; this
    # small run takes a few epochs, so α learns faster.
    common = dict(epochs=epochs, retrain=True, seed=seed, batch_size=64)
    algorithms = {
        "darts": lambda: DARTS(a_learning_rate=3e-3, **common),
        "darts2": lambda: DARTS(order=2, a_learning_rate=3e-3, **common),
        "gdas": lambda: GDAS(a_learning_rate=3e-3, **common),
        "reinforce": lambda: REINFORCE(**common),
        "spos": lambda: SPOS(search_trials=20, **common),
    }
    return algorithms[name]()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algorithm", default="darts",
                        choices=["darts", "darts2", "gdas", "reinforce", "spos"])
    parser.add_argument("--epochs", type=int, default=4, help="Supernet epochs.")
    parser.add_argument("--retrain-epochs", type=int, default=3)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--cells", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=None,
                        help="Save a plot of softmax(α) per epoch to this file.")
    parser.add_argument("--root-dir", default=None,
                        help="Where the trial store goes (default: a temporary folder).")
    args = parser.parse_args(argv)

    (x, y), validation = load_digits()
    space = darts_network.darts_space(channels=args.channels, num_cells=args.cells,
                                      num_classes=10, input_shape=(8, 8, 1))
    # DARTS networks output logits.
    training = Training(
        loss=sk_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        epochs=args.retrain_epochs, batch_size=64)
    evaluator = KerasEvaluator(x, y, validation_data=validation, training=training,
                               objective="val_accuracy")
    algorithm = make_algorithm(args.algorithm, args.epochs, args.seed)
    root_dir = args.root_dir or tempfile.mkdtemp(prefix="darts_search_")

    result = symbolic_automl.search(space, algorithm=algorithm, evaluator=evaluator,
                                    max_trials=1, root_dir=root_dir, progress=False)

    best = result.best
    architecture = pg.materialize(space, best.dna)
    print(f"algorithm: {type(algorithm).__name__}"
          f"{' (second order)' if args.algorithm == 'darts2' else ''}")
    print(f"derived DNA: {best.dna}")
    print(f"genotype: {architecture.to_genotype()}")
    print(f"retrained from scratch for {args.retrain_epochs} epochs: "
          f"val_accuracy={best.metrics.get('val_accuracy', float('nan')):.3f}")
    print(f"trial store: {root_dir}")
    if args.plot:
        from symbolic_automl.oneshot import plot_architecture_history  # pylint: disable=g-import-not-at-top
        from symbolic_automl.storage import TrialStore  # pylint: disable=g-import-not-at-top
        history = TrialStore.in_dir(root_dir).get_meta("architecture_history")
        plot_architecture_history(history, args.plot)
        print(f"architecture weights per epoch: {args.plot} "
              f"({len(history)} epochs, {len(history[-1]['architecture'])} choice points)")
    return result


if __name__ == "__main__":
    main()
