"""Offline datasets for demos and tests, and the real Keras loaders for users online.

Example::

    (x, y), (x_val, y_val) = data.load("digits")        # offline, bundled
    (x, y), (x_val, y_val) = data.load("mnist")         # downloads via keras.datasets
    (x, y), (x_test, y_test) = data.load("burgers", resolution=256)  # solved offline, cached
"""

from typing import Tuple

import numpy as np

from symbolic_automl.data_burgers import (  # pylint: disable=unused-import
    load_burgers,
    sample_grf,
    solve_burgers,
)

Arrays = Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")
DATASETS = ("digits", "burgers") + KERAS_DATASETS


def load(name: str = "digits", validation_fraction: float = 0.25, seed: int = 0,
         limit: int = None, **kwargs) -> Arrays:
    """Images as float32 in [0, 1], shape (n, h, w, c); integer labels.

    "burgers" is different: Burgers' equation's initial conditions and
    solutions at t = 1, `(x (n, s, 2), y (n, s))` pairs; `kwargs` go to
    `data_burgers.load_burgers` (resolution, n_train, n_test, fine_grid,
    cache_dir, ...) and `seed` seeds the initial conditions.

    Args:
      name: "digits" (scikit-learn's bundled 8x8 digits, offline), or one of
        "mnist", "fashion_mnist", "cifar10" (downloaded by keras.datasets).
      validation_fraction: held-out share for "digits" (Keras sets use their
        test split as validation).
      seed: shuffling seed for the "digits" split.
      limit: keep at most this many training examples (quick runs).
    """
    if kwargs and name != "burgers":
        raise TypeError(f"data.load({name!r}) got unexpected arguments {sorted(kwargs)}; "
                        "only 'burgers' takes more.")
    if name == "burgers":
        train, val = load_burgers(seed=seed, **kwargs)
    elif name == "digits":
        train, val = _digits(validation_fraction, seed)
    elif name in KERAS_DATASETS:
        train, val = _keras_dataset(name)
    else:
        raise ValueError(f"Unknown dataset {name!r}; expected one of {DATASETS}.")
    if limit is not None:
        train = (train[0][:limit], train[1][:limit])
    return train, val


def _digits(validation_fraction, seed):
    try:
        from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
    except ImportError as e:
        raise ImportError("The offline digits data needs scikit-learn: "
                          "pip install 'symbolic_automl[demos]'.") from e
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    y = digits.target.astype("int64")
    order = np.random.RandomState(seed).permutation(len(x))
    n_val = int(len(x) * validation_fraction)
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])


def _keras_dataset(name):
    import keras  # pylint: disable=g-import-not-at-top

    (x, y), (x_val, y_val) = getattr(keras.datasets, name).load_data()
    x = x.astype("float32") / 255.0
    x_val = x_val.astype("float32") / 255.0
    if x.ndim == 3:
        x, x_val = x[..., None], x_val[..., None]
    return (x, y.reshape(-1).astype("int64")), (x_val, y_val.reshape(-1).astype("int64"))
