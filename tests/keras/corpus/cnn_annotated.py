"""Simple MNIST convnet (keras.io/examples/vision/mnist_convnet), digits-sized."""

import pyglove as pg
from symbolic_automl import keras
from symbolic_automl.keras import layers

input_shape = (16, 16, 1)
num_classes = 10


def build():
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(pg.oneof([32, 16]), kernel_size=pg.oneof([(3, 3), (5, 5)]), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(pg.oneof([64, 32]), kernel_size=(3, 3), activation=pg.oneof(["relu", "swish"])),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(pg.oneof([0.5, 0.25])),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    return model
