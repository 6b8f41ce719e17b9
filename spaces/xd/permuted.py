"""Permuted images: what a fixed pixel permutation costs a CNN, and what XD recovers.

On scikit-learn's 8x8 digits with one fixed random permutation of the 64
pixels, a small circular CNN loses the locality its convolutions assume. Its
XD relaxation (`relax`, K-matrices learned with their own Adam) trains the
same way from the same initial weights; the experiment reports validation
accuracy of the CNN on the original images, the CNN on permuted images, and
the XD network on permuted images (the setting of Roberts et al.'s permuted
CIFAR-10, scaled to a CPU).

Example::

    rows = permuted_digits(seeds=(0, 1), epochs=30)
    print(format_table(rows))
"""

import time
from typing import Dict, List, Sequence

import numpy as np

from symbolic_automl import data


def permuted_cnn(channels: int = 32, kernel_size: int = 3):
    """The symbolic small CNN: two circular convolutions, pooling, a classifier."""
    from symbolic_automl import keras as sk  # pylint: disable=g-import-not-at-top
    from symbolic_automl.spaces.xd import specs  # pylint: disable=g-import-not-at-top

    return sk.Sequential([
        sk.Input(shape=(8, 8, 1)),
        specs.CircularConv2D(channels, kernel_size, activation="relu"),
        specs.CircularConv2D(channels, kernel_size, activation="relu"),
        sk.layers.GlobalAveragePooling2D(),
        sk.layers.Dense(10, activation="softmax"),
    ])


def _fit(model, x, y, x_val, y_val, seed, epochs, arch_learning_rate, learning_rate,
         batch_size):
    """Trains with the shared recipe; (validation accuracy, seconds per epoch)."""
    import keras  # pylint: disable=g-import-not-at-top

    from symbolic_automl.spaces.xd.training import XDTraining  # pylint: disable=g-import-not-at-top

    training = XDTraining(optimizer="adam", learning_rate=learning_rate, schedule="cosine",
                          arch_learning_rate=arch_learning_rate, epochs=epochs,
                          batch_size=batch_size)
    steps = int(np.ceil(len(x) / batch_size))
    model.compile(optimizer=training.make_optimizer(steps), loss=training.make_loss(),
                  metrics=["accuracy"])
    keras.utils.set_random_seed(seed)  # the same batches for every model
    start = time.time()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    seconds = time.time() - start
    _, accuracy = model.evaluate(x_val, y_val, verbose=0)
    return float(accuracy), seconds / epochs


def permuted_digits(seeds: Sequence[int] = (0,), epochs: int = 30, channels: int = 32,
                    arch_learning_rate: float = 1e-2, learning_rate: float = 3e-3,
                    batch_size: int = 32, depth: int = 1,
                    permutation_seed: int = 1234) -> List[Dict[str, float]]:
    """Validation accuracy of CNN (original), CNN (permuted), XD (permuted), per seed.

    All three start from the same initial weights (the XD network is the CNN's
    relaxation, the weights transferred) and train with the same recipe and
    batches; the XD network's K-matrices also train, with Adam at
    `arch_learning_rate`.
    """
    import keras  # pylint: disable=g-import-not-at-top

    from symbolic_automl.spaces.xd.relax import relax, transfer_weights  # pylint: disable=g-import-not-at-top

    (x, y), (x_val, y_val) = data.load("digits")
    permutation = np.random.RandomState(permutation_seed).permutation(64)

    def permute(images):
        return images.reshape(len(images), 64, 1)[:, permutation].reshape(images.shape)

    cnn = permuted_cnn(channels)
    relaxed = relax(cnn, arch="butterfly", depth=depth)
    rows = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        initial = cnn.to_keras().get_weights()

        def fresh_cnn():
            model = cnn.to_keras()
            model.set_weights(initial)
            return model

        xd_model = relaxed.to_keras()
        transfer_weights(fresh_cnn(), xd_model)
        args = dict(seed=seed, epochs=epochs, arch_learning_rate=arch_learning_rate,
                    learning_rate=learning_rate, batch_size=batch_size)
        row = {"seed": seed}
        row["cnn"], row["cnn_s"] = _fit(fresh_cnn(), x, y, x_val, y_val, **args)
        row["cnn_permuted"], _ = _fit(fresh_cnn(), permute(x), y, permute(x_val), y_val, **args)
        row["xd_permuted"], row["xd_s"] = _fit(xd_model, permute(x), y, permute(x_val), y_val,
                                               **args)
        rows.append(row)
    return rows


def format_table(rows: List[Dict[str, float]]) -> str:
    """The rows and their mean as a Markdown table."""
    keys = ["cnn", "cnn_permuted", "xd_permuted"]
    lines = ["| seed | CNN unpermuted | CNN permuted | XD permuted | s/epoch CNN | s/epoch XD |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['seed']} | " + " | ".join(f"{row[k]:.4f}" for k in keys)
                     + f" | {row['cnn_s']:.2f} | {row['xd_s']:.2f} |")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys + ["cnn_s", "xd_s"]}
    lines.append("| mean | " + " | ".join(f"{mean[k]:.4f}" for k in keys)
                 + f" | {mean['cnn_s']:.2f} | {mean['xd_s']:.2f} |")
    return "\n".join(lines)
