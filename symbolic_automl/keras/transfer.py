"""Put a normalization-activation layer into any symbolic model: `replace_norm_activation`.

Two kinds of place take the layer:

* slots: every `NormActivation` value in the model, and every `norm_act` field
  left at None (the architectures' "batch norm then this place's activation"),
  as in `symbolic_automl.spaces` (MobileNet, ResNet, DARTS, NAS-Bench-101) and in
  mirror `NormActivationLayer(norm_act=...)` layers;
* pairs written by hand in the Keras mirror: a `BatchNormalization()` whose
  output goes only to an activation (`Activation('relu')`, `ReLU()`, ...), in a
  `Sequential` layer list or a functional `Model`'s nodes, become one
  `NormActivationLayer(norm_act=layer)`. A batch norm that feeds anything else
  (a residual add, a second consumer, nothing) stays.

The input is not changed; a rewritten copy comes back, still symbolic (it can
hold hyper-values, be searched, serialized, rebound).

Example::

    from symbolic_automl import keras
    from symbolic_automl.keras import transfer

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(8, 3),
                              keras.layers.BatchNormalization(),
                              keras.layers.ReLU(), ...])
    swapped = transfer.replace_norm_activation(model, found_layer)
"""

from typing import Any, Dict, List, Sequence

import numpy as np
import pyglove as pg

from symbolic_automl.keras import layers as mirror_layers
from symbolic_automl.keras.model import Model, Node, Ref, Sequential
from symbolic_automl.keras.norm_activation import NormActivation

SLOT_FIELD = "norm_act"

# Activations whose batch norm pairs are replaced by default: BN-ReLU, as EvoNorm.
DEFAULT_ACTIVATIONS = ("relu",)


def _is_slot_field(parent: Any, key: Any) -> bool:
    """Whether `parent.key` is a `norm_act` field whose spec takes a NormActivation."""
    if key != SLOT_FIELD or not isinstance(parent, pg.Object):
        return False
    field = parent.__class__.__schema__.get_field(SLOT_FIELD)
    if field is None:
        return False
    spec = field.value
    return isinstance(spec, pg.typing.Any) or (
        isinstance(spec, pg.typing.Object) and issubclass(NormActivation, spec.cls))


def slot_paths(model: pg.Symbolic) -> List[str]:
    """Paths of the model's normalization-activation slots, in traversal order.

    A slot is a `NormActivation` value anywhere in the tree, or a `norm_act`
    field that holds None (the architecture's default there).
    """
    paths = []

    def visit(key_path, value, parent):
        if isinstance(value, NormActivation):
            paths.append(str(key_path))
            return pg.TraverseAction.CONTINUE
        if value is None and _is_slot_field(parent, key_path.key):
            paths.append(str(key_path))
        return pg.TraverseAction.ENTER

    pg.traverse(model, visit)
    return paths


def _activation_of(spec: Any):
    """The activation a mirror layer applies, if it is an activation layer only."""
    if isinstance(spec, mirror_layers.ReLU):
        args = spec.sym_init_args
        plain = (args.get("max_value") is None and not args.get("negative_slope")
                 and not args.get("threshold"))
        return "relu" if plain else None
    if isinstance(spec, mirror_layers.Activation):
        activation = spec.sym_init_args.get("activation")
        return activation if isinstance(activation, str) else None
    return None


def _is_pair(norm: Any, activation: Any, activations: Sequence[str]) -> bool:
    return (isinstance(norm, mirror_layers.BatchNormalization)
            and _activation_of(activation) in activations)


def _slot_layer(layer: NormActivation, like: Any):
    """The mirror layer that replaces a pair; keeps the batch norm's name, if any."""
    name = like.sym_init_args.get("name")
    kwargs = {} if name is None else {"name": name}
    return mirror_layers.NormActivationLayer(norm_act=layer.clone(deep=True), **kwargs)


def _rewrite_sequential(model: Sequential, layer, activations) -> int:
    new_layers, i, replaced = [], 0, 0
    items = list(model.layers)
    while i < len(items):
        if i + 1 < len(items) and _is_pair(items[i], items[i + 1], activations):
            new_layers.append(_slot_layer(layer, items[i]))
            i += 2
            replaced += 1
        else:
            new_layers.append(items[i])
            i += 1
    if replaced:
        model.rebind(layers=new_layers, skip_notification=True)
    return replaced


def _refs(value: Any) -> List[str]:
    if isinstance(value, Ref):
        return [value.node]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


def _renamed(value: Any, renames: Dict[str, str]) -> Any:
    if isinstance(value, Ref):
        return Ref(node=renames.get(value.node, value.node))
    if isinstance(value, (list, tuple)):
        return [_renamed(v, renames) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, renames) for k, v in value.items()}
    return value


def _rewrite_functional(model: Model, layer, activations) -> int:
    nodes = list(model.nodes)
    # Who reads each node's output (and whose layer object is shared).
    readers: Dict[str, List[str]] = {n.name: [] for n in nodes}
    shared = set()
    for node in nodes:
        for ref in _refs(list(node.args)) + _refs(dict(node.kwargs)):
            readers.setdefault(ref, []).append(node.name)
        if isinstance(node.layer, Ref):
            shared.add(node.layer.node)
            shared.add(node.name)
    outputs = set(_refs(model.outputs))
    by_name = {n.name: n for n in nodes}
    renames: Dict[str, str] = {}
    replace: Dict[str, Any] = {}
    for node in nodes:
        consumers = readers.get(node.name, [])
        if len(consumers) != 1 or node.name in outputs or node.name in shared:
            continue
        follower = by_name[consumers[0]]
        if (follower.name in shared or _refs(dict(follower.kwargs))
                or _refs(list(follower.args)) != [node.name]
                or not _is_pair(node.layer, follower.layer, activations)):
            continue
        replace[node.name] = _slot_layer(layer, node.layer)
        renames[follower.name] = node.name
    if not replace:
        return 0
    new_nodes = []
    for node in nodes:
        if node.name in renames:
            continue
        new_nodes.append(Node(
            name=node.name, layer=replace.get(node.name, node.layer),
            args=_renamed(list(node.args), renames),
            kwargs=_renamed(dict(node.kwargs), renames)))
    model.rebind(nodes=new_nodes, outputs=_renamed(model.outputs, renames),
                 skip_notification=True)
    return len(replace)


def _mirror_models(value: pg.Symbolic) -> List[Any]:
    found = []

    def visit(unused_path, v, unused_parent):
        if isinstance(v, (Sequential, Model)):
            found.append(v)
        return pg.TraverseAction.ENTER

    pg.traverse(value, visit)
    return found


def replace_norm_activation(model: pg.Symbolic, layer: NormActivation,
                            activations: Sequence[str] = DEFAULT_ACTIVATIONS
                            ) -> pg.Symbolic:
    """A copy of `model` with `layer` in every normalization-activation place.

    Args:
      model: any symbolic model: a space from `symbolic_automl.spaces`, a mirror
        `Sequential` / `Model`, or a `pg.Object` holding them.
      layer: the normalization-activation layer (any `NormActivation`, e.g. an
        EvoNorm graph or `BatchNormActivation('swish')`).
      activations: in hand-written mirror models, the activations whose batch
        norm pairs are replaced ('relu': `ReLU()` without a cap, slope or
        threshold, and `Activation('relu')`); e.g. ('relu', 'swish').

    Returns:
      The rewritten copy (the same as a copy of `model` if it has no place).

    Raises:
      TypeError: `layer` is not a `NormActivation` or `model` is not symbolic.
    """
    if not isinstance(layer, NormActivation):
        raise TypeError(
            f"replace_norm_activation needs a NormActivation layer, got {layer!r} of type "
            f"{type(layer).__name__}.")
    if not isinstance(model, pg.Symbolic):
        raise TypeError(
            f"replace_norm_activation needs a symbolic model (a pg.Object such as a "
            f"space or a mirror Sequential/Model), got {type(model).__name__}.")
    result = model.clone(deep=True)
    paths = slot_paths(result)
    if paths:
        result.rebind({p: layer.clone(deep=True) for p in paths}, skip_notification=True)
    # Inner models first, so that a rewritten outer list still holds them.
    for mirror in reversed(_mirror_models(result)):
        if isinstance(mirror, Sequential):
            _rewrite_sequential(mirror, layer, tuple(activations))
        else:
            _rewrite_functional(mirror, layer, tuple(activations))
    return result


@pg.members([
    ("name", pg.typing.Str(), "The layer's name in the table."),
    ("accuracies", pg.typing.List(pg.typing.Float()), "Validation accuracy per seed."),
    ("seeds", pg.typing.List(pg.typing.Int()), "The seeds, in the same order."),
])
class TransferRow(pg.Object):
    """One layer's held-out results: accuracies over seeds, mean and standard error."""

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def stderr(self) -> float:
        """Standard error of the mean: sample std (ddof 1) / sqrt(n); 0 for one seed."""
        n = len(self.accuracies)
        return float(np.std(self.accuracies, ddof=1) / np.sqrt(n)) if n > 1 else 0.0


@pg.members([
    ("architecture", pg.typing.Str(), "What was trained (the model's class name)."),
    ("steps", pg.typing.Int(), "Training steps per run."),
    ("rows", pg.typing.List(pg.typing.Object(TransferRow)), "One row per layer."),
])
class TransferTable(pg.Object):
    """The held-out comparison: `str(table)` is a mean ± standard error table."""

    def row(self, name: str) -> TransferRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"No row {name!r}; rows: {[r.name for r in self.rows]}.")

    def __str__(self):
        width = max(len(r.name) for r in self.rows)
        lines = [f"{self.architecture}, {self.steps} steps, "
                 f"{len(self.rows[0].seeds)} seeds: validation accuracy"]
        lines += [f"  {r.name:<{width}s}  {r.mean:.4f} ± {r.stderr:.4f}" for r in self.rows]
        return "\n".join(lines)


def compare_norm_activations(model: pg.Symbolic, layers: Dict[str, NormActivation],
                             train, validation, steps: int = 100, seeds=(0, 1, 2),
                             batch_size: int = 32, learning_rate: float = 0.01,
                             optimizer: str = "adam",
                             run_eagerly: bool = False) -> TransferTable:
    """Trains `model` with each layer in place of its BN-ReLU, same budget, each seed.

    The held-out comparison of EvoNorm: an architecture not used in the search,
    with BN-ReLU, EvoNorm-B0, EvoNorm-S0 and the found layer. Every run builds
    `replace_norm_activation(model, layer)` after seeding Keras, trains `steps`
    steps of `batch_size` (cycling through `train`), and scores accuracy on
    `validation`. The model must output class probabilities (softmax).

    Args:
      model: a materialized symbolic model (a space's network or a mirror model).
      layers: name -> layer, e.g. {"BN-ReLU": BatchNormActivation("relu"), ...}.
      train: `(x, y)` arrays, integer labels.
      validation: `(x, y)` arrays.
      steps: training steps per run (the same for every layer).
      seeds: one run per seed and layer; seed s builds and shuffles identically
        for every layer.
      batch_size: examples per step.
      learning_rate: of the optimizer.
      optimizer: a Keras optimizer name ("adam", "sgd", ...).
      run_eagerly: skip tracing a training graph (faster for a handful of steps).

    Returns:
      A `TransferTable`, rows in the order of `layers`.
    """
    import keras  # pylint: disable=g-import-not-at-top

    if not layers:
        raise ValueError("compare_norm_activations needs at least one layer to train.")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("compare_norm_activations needs at least one seed.")
    x, y = (np.asarray(a) for a in train)
    x_val, y_val = (np.asarray(a) for a in validation)
    rows = []
    for name, layer in layers.items():
        accuracies = []
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            network = replace_norm_activation(model, layer).to_keras()
            network.compile(
                type(keras.optimizers.get(optimizer))(learning_rate=learning_rate),
                "sparse_categorical_crossentropy", run_eagerly=run_eagerly)
            order = np.random.RandomState(seed).permutation(len(x))
            for step in range(steps):
                batch = np.take(order, range(step * batch_size, (step + 1) * batch_size),
                                mode="wrap")
                network.train_on_batch(x[batch], y[batch])
            probabilities = np.concatenate([
                keras.ops.convert_to_numpy(network(x_val[i:i + 256], training=False))
                for i in range(0, len(x_val), 256)])
            accuracies.append(float(np.mean(np.argmax(probabilities, -1) == y_val)))
        rows.append(TransferRow(name=name, accuracies=accuracies, seeds=seeds))
    return TransferTable(architecture=type(model).__name__, steps=steps, rows=rows)
