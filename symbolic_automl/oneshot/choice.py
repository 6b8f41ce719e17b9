"""Choice points of a supernet and the layer that mixes a choice's candidates.

A `ChoicePoint` is one place where the space chooses among layers (ops); its
`MixedOp` holds every candidate's Keras layer, with its own weights shared by
every architecture that picks it, and computes `sum_i w_i * candidate_i(x)` for
mixing weights `w` that the weight-sharing algorithm supplies on each call
(softmax(α) for DARTS, a straight-through one-hot for GDAS, a sampled one-hot for
SPOS and REINFORCE).

Example::

    mixed = MixedOp([keras.layers.Dense(8, activation="relu"),
                     keras.layers.Dense(8, activation="tanh")])
    y = mixed(x, keras.ops.convert_to_tensor([0.3, 0.7]))
"""

import dataclasses
from typing import List, Sequence

import keras
from keras import ops


@dataclasses.dataclass
class ChoicePoint:
    """One relaxed choice: where it is in the space and what it chooses among.

    Attributes:
      key: a name for the history and plots; the DNA decision point's id for
        spaces handled generically (e.g. 'layers[1]').
      candidates: a short label per candidate (e.g. 'Conv2D(16, 3)').
    """

    key: str
    candidates: List[str]

    @property
    def num_candidates(self) -> int:
        return len(self.candidates)


class MixedOp(keras.layers.Layer):
    """Holds all candidates of one choice; outputs their mixture.

    Candidates must produce outputs of the same shape, as every candidate of a
    `pg.oneof` over layers in a working space does. A zero mixing weight still
    runs the candidate (so that one compiled step serves every sampled path);
    the candidate's weights then get a zero gradient.
    """

    def __init__(self, candidates: Sequence[keras.layers.Layer], **kwargs):
        super().__init__(**kwargs)
        if not candidates:
            raise ValueError("MixedOp needs at least one candidate layer, got none.")
        self.candidates = list(candidates)

    def call(self, x, mixing, training=None):
        output, first_shape = None, None
        for i, layer in enumerate(self.candidates):
            y = layer(x, training=training)
            shape = tuple(y.shape[1:])
            if first_shape is None:
                first_shape = shape
            elif shape != first_shape:
                raise ValueError(
                    f"The candidates of choice {self.name!r} give outputs of different "
                    f"shapes: {first_shape} from {self.candidates[0].name!r}, {shape} "
                    f"from {layer.name!r}; a supernet adds the candidates' outputs, so "
                    "they must have the same shape.")
            y = y * ops.cast(mixing[i], y.dtype)
            output = y if output is None else output + y
        return output

    def compute_output_shape(self, input_shape):
        return self.candidates[0].compute_output_shape(input_shape)
