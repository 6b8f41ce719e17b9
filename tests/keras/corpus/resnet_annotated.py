"""A small residual network: a loop over blocks that share one width (functional API)."""

import pyglove as pg
from symbolic_automl import keras
from symbolic_automl.keras import layers

width = pg.oneof([16, 8, 32], name="width")
kernel = pg.oneof([3, 5], name="kernel")
num_blocks = 3


def residual_block(x, filters, kernel_size):
    shortcut = x
    x = layers.Conv2D(filters, kernel_size, padding="same", activation="relu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.add([x, shortcut])
    return layers.Activation("relu")(x)


def build():
    inputs = keras.Input(shape=(16, 16, 1), name="img")
    x = layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    for _ in range(num_blocks):
        x = residual_block(x, width, kernel)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="toy_resnet")
