"""Keras layers of the DARTS evaluation network (Liu et al. 2019, reference `cnn/model.py`).

`CellLayer` is one discrete cell (two inputs, ops on edges, concatenated intermediate
nodes), `DropPath` the reference's drop path, `AuxiliaryHeadCIFAR` the auxiliary
classifier at 2/3 depth, and `DartsKerasModel` the functional model with the auxiliary
logits as a second output whose loss is added, weighted, during training only.

Example::

    import keras
    from symbolic_automl.spaces.darts import layers

    cell = layers.CellLayer(
        edges=[[("sep_conv_3x3", 0), ("skip_connect", 1)]], concat=[2], channels=8)
    s = keras.ops.ones((1, 16, 16, 24))
    out = cell([s, s])                       # shape (1, 16, 16, 8)
"""

from typing import List, Sequence, Tuple

import keras
import numpy as np
from keras import ops as K

from symbolic_automl.spaces.darts import ops

_register = ops._register


@_register
class DropPath(keras.layers.Layer):
    """Zeroes a whole example's tensor with probability `rate` (training only).

    As the reference's `drop_path`: kept examples are divided by `1 - rate`. The rate
    is a non-trainable variable so that `DropPathSchedule` can change it between
    epochs of a compiled model.
    """

    def __init__(self, rate: float = 0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_rate(rate)
        self.initial_rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.rate = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.initial_rate),
            trainable=False, name="rate")

    def call(self, x, training=None):
        if not training:
            return x
        keep = 1.0 - K.cast(self.rate, x.dtype)
        noise = keras.random.uniform(
            (K.shape(x)[0], 1, 1, 1), seed=self.seed_generator, dtype=x.dtype)
        mask = K.cast(noise < keep, x.dtype)
        return x / keep * mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.initial_rate, seed=self.seed)
        return config


def _check_rate(rate):
    if not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"Drop path rate must be in [0, 1), got {rate!r}.")


@_register
class CellLayer(keras.layers.Layer):
    """One discrete DARTS cell, as the reference's `model.Cell`.

    Args:
      edges: per intermediate node, its `(op_name, input_index)` pairs; input 0 and 1
        are the two cell inputs, `i + 2` the `i`-th node.
      concat: indices of the states concatenated (channels axis) into the output.
      channels: `C`, channels of every node.
      reduction: halve the resolution (ops on inputs 0 and 1 have stride 2).
      reduction_prev: the previous cell was a reduction, so input 0 has twice the
        resolution of input 1 and is reduced by `FactorizedReduce`.
      drop_path_rate: rate of the `DropPath` after each op that is not an identity;
        0 builds no drop path at all.
      norm_act: the normalization-activation slot of every op and preprocessing
        (see `ops`); None is the reference's ReLU ... BN.
    """

    def __init__(self, edges: Sequence[Sequence[Tuple[str, int]]], concat: Sequence[int],
                 channels: int, reduction: bool = False, reduction_prev: bool = False,
                 drop_path_rate: float = 0.0, norm_act=None, **kwargs):
        super().__init__(**kwargs)
        self.norm_act = ops.resolve_norm_act(norm_act)
        self.edges = [[(str(op), int(index)) for op, index in node] for node in edges]
        self.concat = [int(i) for i in concat]
        self.channels = channels
        self.reduction = reduction
        self.reduction_prev = reduction_prev
        self.drop_path_rate = float(drop_path_rate)
        _check_rate(self.drop_path_rate)
        if reduction_prev:
            self.preprocess0 = ops.FactorizedReduce(channels, norm_act=self.norm_act)
        else:
            self.preprocess0 = ops.ReLUConvBN(channels, 1, 1, 0, norm_act=self.norm_act)
        self.preprocess1 = ops.ReLUConvBN(channels, 1, 1, 0, norm_act=self.norm_act)
        self.edge_ops = []
        self.drop_paths = []
        for node in self.edges:
            for op_name, index in node:
                stride = 2 if reduction and index < 2 else 1
                op = ops.make_op(op_name, channels, stride, affine=True,
                                 norm_act=self.norm_act)
                self.edge_ops.append(op)
                # The reference drops every op's output except identities.
                if self.drop_path_rate > 0 and not isinstance(op, ops.Identity):
                    self.drop_paths.append(DropPath(self.drop_path_rate))
                else:
                    self.drop_paths.append(None)

    @property
    def multiplier(self) -> int:
        """Output channels are `multiplier * channels`."""
        return len(self.concat)

    def build(self, input_shapes):
        # Explicit so that a loaded model can rebuild the weights before reading them.
        shape0, shape1 = input_shapes
        self.preprocess0.build(shape0)
        self.preprocess1.build(shape1)
        states = [self.preprocess0.compute_output_shape(shape0),
                  self.preprocess1.compute_output_shape(shape1)]
        k = 0
        for node in self.edges:
            for _, index in node:
                self.edge_ops[k].build(states[index])
                out = self.edge_ops[k].compute_output_shape(states[index])
                k += 1
            states.append(out)

    def call(self, inputs, training=None):
        s0, s1 = inputs
        states = [self.preprocess0(s0, training=training),
                  self.preprocess1(s1, training=training)]
        k = 0
        for node in self.edges:
            total = None
            for _, index in node:
                h = _call(self.edge_ops[k], states[index], training)
                if self.drop_paths[k] is not None:
                    h = self.drop_paths[k](h, training=training)
                total = h if total is None else total + h
                k += 1
            states.append(total)
        return K.concatenate([states[i] for i in self.concat], axis=-1)

    def compute_output_shape(self, input_shapes):
        batch, height, width, _ = input_shapes[1]
        if self.reduction:
            height = None if height is None else (height + 1) // 2
            width = None if width is None else (width + 1) // 2
        return (batch, height, width, self.multiplier * self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(edges=self.edges, concat=self.concat, channels=self.channels,
                      reduction=self.reduction, reduction_prev=self.reduction_prev,
                      drop_path_rate=self.drop_path_rate,
                      **ops.norm_act_config(self.norm_act))
        return config


def _call(op, x, training):
    # Weightless ops (pools, identity, zero) take no `training` argument.
    if isinstance(op, (ops.Identity, ops.Pool, ops.Zero)):
        return op(x)
    return op(x, training=training)


@_register
class AuxiliaryHeadCIFAR(keras.layers.Layer):
    """The reference's auxiliary classifier for 8x8 feature maps.

    `loss_weight` is the weight `DartsKerasModel` gives its loss in training.

    ReLU, 5x5 average pool stride 3 (to 2x2), 1x1 conv to 128, BN, ReLU, 2x2 conv to
    768, BN, ReLU, linear to `num_classes`. Larger maps are averaged after the last
    ReLU (identical at 8x8, where the map is 1x1). With a fused `norm_act` (see
    `ops`): pool, conv, layer, conv, layer, linear.
    """

    def __init__(self, num_classes: int, loss_weight: float = 0.4, norm_act=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.norm_act = ops.resolve_norm_act(norm_act)
        self.activate = ops.opening_activation(self.norm_act)
        if not isinstance(loss_weight, (int, float)) or loss_weight < 0:
            raise ValueError(f"loss_weight must be a number >= 0, got {loss_weight!r}.")
        self.num_classes = num_classes
        # Kept here rather than on the model so that saved models keep it.
        self.loss_weight = float(loss_weight)
        self.pool = keras.layers.AveragePooling2D(5, strides=3, padding="valid",
                                                  data_format="channels_last")
        self.conv1 = keras.layers.Conv2D(128, 1, use_bias=False, data_format="channels_last")
        self.bn1 = ops.closing_norm(self.norm_act)
        self.conv2 = keras.layers.Conv2D(768, 2, use_bias=False, data_format="channels_last")
        self.bn2 = ops.closing_norm(self.norm_act)
        self.classifier = keras.layers.Dense(num_classes)

    def build(self, input_shape):
        shape = self.pool.compute_output_shape(input_shape)
        self.conv1.build(shape)
        shape = self.conv1.compute_output_shape(shape)
        self.bn1.build(shape)
        self.conv2.build(shape)
        shape = self.conv2.compute_output_shape(shape)
        self.bn2.build(shape)
        self.classifier.build((shape[0], shape[-1]))

    def call(self, x, training=None):
        x = self.pool(self._activate(x))
        x = self._activate(self.bn1(self.conv1(x), training=training))
        x = self._activate(self.bn2(self.conv2(x), training=training))
        return self.classifier(K.mean(x, axis=(1, 2)))

    def _activate(self, x):
        # The batch-norm slot's activation; a fused layer has activated already.
        return x if self.activate is None else self.activate(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, loss_weight=self.loss_weight,
                      **ops.norm_act_config(self.norm_act))
        return config


@_register
class DartsKerasModel(keras.Model):
    """Functional DARTS network; with an auxiliary head its outputs are
    `[logits, aux_logits]`.

    Compile it as a one-output classifier (`loss=SparseCategoricalCrossentropy(
    from_logits=True)`, `metrics=["accuracy"]`) and fit it with one label array:
    the loss is `loss(y, logits) + auxiliary_weight * loss(y, aux_logits)` in
    training and `loss(y, logits)` in evaluation, and metrics see `logits` only, as
    in the reference's `train.py`. Labels given per output (a list or dict) use
    Keras' ordinary multi-output behaviour instead. `auxiliary_weight` is the
    auxiliary head's `loss_weight`.
    """

    @property
    def auxiliary_weight(self) -> float:
        head = self.auxiliary_head
        return 0.0 if head is None else head.loss_weight

    @property
    def has_auxiliary(self) -> bool:
        return isinstance(self.outputs, (list, tuple)) and len(self.outputs) == 2

    @property
    def auxiliary_head(self):
        """The auxiliary head layer, or None."""
        for layer in self.layers:
            if isinstance(layer, AuxiliaryHeadCIFAR):
                return layer
        return None

    def _split(self, y, y_pred):
        # Only a single label array with the [logits, aux_logits] pair gets the
        # reference's treatment; structured labels are the user's own design.
        if (self.has_auxiliary and isinstance(y_pred, (list, tuple))
                and not isinstance(y, (list, tuple, dict))):
            return y_pred[0], y_pred[1]
        return None

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        split = self._split(y, y_pred)
        if split is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        logits, aux_logits = split
        loss = super().compute_loss(x, y, logits, sample_weight, training=training)
        if training and self.auxiliary_weight and self._compile_loss is not None:
            aux_loss = self._compile_loss(y, aux_logits, sample_weight)
            if aux_loss is not None:
                loss = loss + self.auxiliary_weight * aux_loss
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        split = self._split(y, y_pred)
        if split is not None:
            y_pred = split[0]
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def count_trainable_params(self, include_auxiliary: bool = False) -> int:
        """Trainable parameters; by default without the auxiliary head, as the
        reference's `utils.count_parameters_in_MB`."""
        excluded = set()
        head = self.auxiliary_head
        if head is not None and not include_auxiliary:
            excluded = {id(v) for v in head.trainable_weights}
        return int(sum(np.prod(v.shape) for v in self.trainable_weights
                       if id(v) not in excluded))

    @property
    def drop_path_layers(self) -> List[DropPath]:
        return [layer for cell in self.layers if isinstance(cell, CellLayer)
                for layer in cell.drop_paths if layer is not None]

    def set_drop_path_rate(self, rate: float) -> None:
        """Sets the rate of every drop path (built with a positive rate)."""
        _check_rate(rate)
        for layer in self.drop_path_layers:
            layer.rate.assign(rate)


class DropPathSchedule(keras.callbacks.Callback):
    """The reference's schedule: drop path rate `max_rate * epoch / epochs` per epoch.

    Example::

        model.fit(x, y, epochs=600, callbacks=[DropPathSchedule(0.2, epochs=600)])
    """

    def __init__(self, max_rate: float, epochs: int):
        super().__init__()
        _check_rate(max_rate)
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
        self.max_rate = max_rate
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        if isinstance(self.model, DartsKerasModel):
            self.model.set_drop_path_rate(self.max_rate * min(epoch, self.epochs) / self.epochs)
