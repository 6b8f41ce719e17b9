"""Permuted digits: CNN vs its XD relaxation when a fixed pixel permutation breaks locality.

Prints validation accuracy of a small circular CNN on scikit-learn's digits
(unpermuted and with one fixed random permutation of the 64 pixels) and of
its XD relaxation on the permuted images, per seed and on average, with the
seconds per epoch of the CNN and of XD. Same initial weights, recipe and
batches for all three.

    python benchmarks/xd_permuted.py --seeds 0 1 2 --epochs 30
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--depth", type=int, default=1, help="K-matrix depth")
    parser.add_argument("--arch_learning_rate", type=float, default=1e-2)
    parser.add_argument("--learning_rate", type=float, default=3e-3)
    args = parser.parse_args()

    from symbolic_automl.spaces.xd import permuted  # pylint: disable=g-import-not-at-top

    rows = permuted.permuted_digits(seeds=args.seeds, epochs=args.epochs,
                                    channels=args.channels, depth=args.depth,
                                    arch_learning_rate=args.arch_learning_rate,
                                    learning_rate=args.learning_rate)
    print(f"epochs={args.epochs} channels={args.channels} depth={args.depth} "
          f"arch_lr={args.arch_learning_rate} lr={args.learning_rate}")
    print(permuted.format_table(rows))


if __name__ == "__main__":
    main()
