"""The functional-API guide's ticket classifier: three inputs, one department output."""

import keras
from keras import layers

num_tags = 6
num_words = 100
num_departments = 4


def build():
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")

    title_features = layers.Embedding(num_words, 16)(title_input)
    body_features = layers.Embedding(num_words, 16)(body_input)
    title_features = layers.LSTM(32)(title_features)
    body_features = layers.LSTM(8)(body_features)

    x = layers.concatenate([title_features, body_features, tags_input])
    department_pred = layers.Dense(num_departments, activation="softmax", name="department")(x)
    return keras.Model(inputs=[title_input, body_input, tags_input], outputs=department_pred)
