"""Quickstart: an ordinary Keras CNN, annotated, searched with regularized evolution.

The model below is plain Keras code with two changes: `keras` is imported from
`symbolic_automl`, and some literals became hyper-values (`pg.oneof`,
`pg.floatv`). It runs offline on scikit-learn's bundled digits in about two
minutes on two CPU cores, then prints and exports the best model.

    python demos/quickstart.py                      # offline digits
    python demos/quickstart.py --dataset=mnist      # keras.datasets (needs network)
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Quiet TensorFlow's start-up lines.

from absl import app
from absl import flags
import pyglove as pg

import symbolic_automl as sa
from symbolic_automl import algorithms
from symbolic_automl import data
from symbolic_automl import keras  # was: import keras

_DATASET = flags.DEFINE_enum("dataset", "digits", data.DATASETS, "Training data.")
_MAX_TRIALS = flags.DEFINE_integer("max_trials", 20, "Number of trials.")
_EPOCHS = flags.DEFINE_integer("epochs", 10, "Epochs per trial.")
_ROOT_DIR = flags.DEFINE_string("root_dir", "experiments/quickstart",
                                "Where the trial store and exported models go.")
_SEED = flags.DEFINE_integer("seed", 1, "Seed of the evolution.")


def cnn(input_shape, num_classes):
    """The user's CNN, with its searchable literals marked."""
    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(pg.oneof([16, 32, 64]), pg.oneof([3, 5]), padding="same",
                            activation=pg.oneof(["relu", "swish"])),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(pg.oneof([32, 64]), 3, padding="same",
                            activation=pg.oneof(["relu", "swish"])),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(pg.oneof([32, 64, 128]), activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def main(argv):
    del argv
    (x, y), validation = data.load(_DATASET.value)
    space = cnn(x.shape[1:], int(y.max()) + 1)
    evaluator = sa.KerasEvaluator(
        x, y, validation_data=validation,
        training=sa.Training(epochs=_EPOCHS.value, batch_size=32,
                             learning_rate=pg.floatv(2e-3, 2e-2, scale="log")),
        objective="val_accuracy")
    start = time.time()
    result = sa.search(
        space,
        algorithm=algorithms.regularized_evolution(population_size=8, tournament_size=3,
                                                   seed=_SEED.value),
        evaluator=evaluator,
        max_trials=_MAX_TRIALS.value,
        root_dir=_ROOT_DIR.value)
    best = result.best
    print(f"\n{result.summary()}")
    print(f"\nSearch took {time.time() - start:.0f} s. Best trial #{best.id}: "
          f"val_accuracy={best.metrics['val_accuracy']:.4f}, "
          f"{int(best.metrics['params'])} parameters.")
    # The symbolic CNN (`best.model.training` holds its learning rate).
    print(pg.format(best.model, hide_default_values=True, verbose=False))
    json_path = sa.export.save(best, os.path.join(_ROOT_DIR.value, "best_model.json"))
    keras_path = sa.export.save_keras(result, os.path.join(_ROOT_DIR.value, "best_model.keras"))
    print(f"Exported {json_path} and {keras_path}.")


if __name__ == "__main__":
    app.run(main)
