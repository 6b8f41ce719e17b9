"""Bidirectional LSTM text classifier (keras.io/examples/nlp/bidirectional_lstm_imdb), small."""

import pyglove as pg
from symbolic_automl import keras
from symbolic_automl.keras import layers

max_features = 200  # Only consider the top 200 words


def build():
    # Input for variable-length sequences of integers
    inputs = keras.Input(shape=(None,), dtype="int32")
    # Embed each integer in a 32-dimensional vector
    x = layers.Embedding(max_features, pg.oneof([32, 16]))(inputs)
    # Add 2 bidirectional LSTMs
    x = layers.Bidirectional(pg.oneof([layers.LSTM(16, return_sequences=True), layers.GRU(16, return_sequences=True)]))(x)
    x = layers.Bidirectional(layers.LSTM(pg.oneof([16, 8])))(x)
    # Add a classifier
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    return model
