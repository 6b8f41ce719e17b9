"""The functional-API guide's ticket classifier: three inputs, one department output."""

import pyglove as pg
from symbolic_automl import keras
from symbolic_automl.keras import layers

num_tags = 6
num_words = 100
num_departments = 4


def build():
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")

    title_features = layers.Embedding(num_words, pg.oneof([16, 8]))(title_input)
    body_features = layers.Embedding(num_words, 16)(body_input)
    title_features = pg.oneof([layers.LSTM(32), layers.GRU(32)])(title_features)
    body_features = layers.LSTM(pg.oneof([8, 16]))(body_features)

    x = layers.concatenate([title_features, body_features, tags_input])
    department_pred = layers.Dense(num_departments, activation="softmax", name="department")(x)
    return keras.Model(inputs=[title_input, body_input, tags_input], outputs=department_pred)
