"""`Supernet`: the weight-sharing network of a space, called with mixing weights.

Every supernet builder (the symbolic Keras mirror's in `supernet.py`,
define-by-run functions' in `define_by_run.py`, a space's own `to_supernet()`)
returns a subclass of `Supernet`: a `keras.Model` called as `net(x, mixing)`,
one mixing vector per choice point in `net.choice_points` order, that maps
scores per choice point to a `pg.DNA` of the space (`derive`) and a DNA to the
one-hot mixing that runs exactly its architecture (`dna_to_mixing`).

Example::

    net = build_supernet(space)          # a Supernet
    y = net(x, net.uniform_mixing())     # every candidate, equally weighted
    dna = net.derive([alpha_numpy])      # argmax per choice point
    path = net.dna_to_mixing(dna)        # one-hot vectors
"""

from typing import List, Sequence

import keras
import numpy as np
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.oneshot.choice import ChoicePoint


class Supernet(keras.Model):
    """Base of supernets: `call(inputs, mixing, training)`, derivation to DNA.

    Subclasses set `self.choice_points`, `self.dna_spec` and `self.input_shapes`
    (one shape without batch dimension per model input) and implement `call`.
    The default `derive` / `dna_to_mixing` map choice point `i` to the DNA
    decision point whose id is `choice_points[i].key`; spaces with other
    structure (edges chosen by `manyof`) override both.
    """

    choice_points: List[ChoicePoint]
    dna_spec: pg.DNASpec
    input_shapes: List[tuple]

    def example_inputs(self, batch_size: int = 2):
        inputs = [np.zeros((batch_size,) + tuple(s), "float32") for s in self.input_shapes]
        return inputs[0] if len(inputs) == 1 else inputs

    def uniform_mixing(self) -> List[np.ndarray]:
        return [np.full((c.num_candidates,), 1.0 / c.num_candidates, "float32")
                for c in self.choice_points]

    def build_weights(self):
        """Creates every weight by one call on zeros (all candidates mixed)."""
        self(self.example_inputs(), [keras.ops.convert_to_tensor(m)
                                     for m in self.uniform_mixing()])

    def derive(self, scores: Sequence[np.ndarray]) -> pg.DNA:
        """The DNA that picks, at each choice point, the candidate of highest score."""
        check_scores(self.choice_points, scores)
        chosen = {c.key: int(np.argmax(s)) for c, s in zip(self.choice_points, scores)}

        def decide(decision_point):
            key = str(decision_point.id)
            if key not in chosen:
                raise errors.SearchSpaceError(
                    f"Decision point {key!r} of the space is not a choice point of its "
                    f"supernet (choice points: {sorted(chosen)}).")
            return [chosen[key]]

        return pg.DNA.from_fn(self.dna_spec, decide)

    def dna_to_mixing(self, dna: pg.DNA) -> List[np.ndarray]:
        """One-hot mixing weights that run exactly the architecture `dna` selects."""
        dna.use_spec(self.dna_spec)
        chosen = {str(k): v for k, v in
                  dna.to_dict(key_type="id", value_type="dna").items()}
        return one_hot_mixing(self.choice_points, chosen)


def one_hot_mixing(choice_points, chosen) -> List[np.ndarray]:
    """Per choice point, the one-hot vector of `chosen[point.key]` (a DNA node)."""
    mixing = []
    for c in choice_points:
        one_hot = np.zeros((c.num_candidates,), "float32")
        one_hot[int(chosen[c.key].value)] = 1.0
        mixing.append(one_hot)
    return mixing


def check_scores(choice_points, scores):
    """Raises a clear `ValueError` unless there is one score vector per choice point."""
    if len(scores) != len(choice_points):
        raise ValueError(
            f"Expected {len(choice_points)} score vectors (one per choice point), "
            f"got {len(scores)}.")


def spec_label(layer_spec) -> str:
    """A short label of a symbolic layer as a candidate, e.g. 'Conv2D(16, 3)'."""
    args = ", ".join(f"{v!r}" for k, v in layer_spec.sym_init_args.items()
                     if k in ("units", "filters", "kernel_size", "pool_size", "activation",
                              "rate", "cropping"))
    return f"{type(layer_spec).__name__}({args})"
