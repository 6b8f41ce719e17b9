"""The DARTS evaluation network and search space (Liu et al. 2019, "DARTS:
Differentiable Architecture Search", ICLR; reference `cnn/model.py::NetworkCIFAR`).

A 3x3 conv stem with `3 * channels` channels, then `num_cells` cells; the cells at
1/3 and 2/3 depth are reduction cells (half the resolution, twice the channels), the
others normal cells; each cell reads the outputs of the two cells before it. Global
average pooling and a linear classifier give the logits; an optional auxiliary
classifier reads the cell at 2/3 depth. All normal cells share one genotype, all
reduction cells another.

Example::

    import pyglove as pg
    from symbolic_automl.spaces import darts

    space = darts.darts_space(channels=8, num_cells=3, input_shape=(16, 16, 3))
    model = pg.random_sample(space, seed=0).__next__().to_keras()

    v2 = darts.DartsNetwork.from_genotype(darts.DARTS_V2)   # 36 channels, 20 cells
    v2.to_keras().count_trainable_params()                  # 3349342
"""

from typing import Optional, Union

import keras
import pyglove as pg

from symbolic_automl import errors
from symbolic_automl.keras.norm_activation import NormActivation
from symbolic_automl.spaces.darts import genotype as genotype_lib
from symbolic_automl.spaces.darts import layers
from symbolic_automl.spaces.darts import ops
from symbolic_automl.spaces.darts.cell import DartsCell, darts_cell_space

# Smallest feature map the reference's CIFAR auxiliary head accepts (5x5 pool with
# stride 3 then a 2x2 conv).
_MIN_AUXILIARY_SIZE = 8


@pg.members([
    ("normal", pg.typing.Object(DartsCell), "Cell used by every normal cell."),
    ("reduce", pg.typing.Object(DartsCell), "Cell used by the two reduction cells."),
    ("channels", pg.typing.Int(min_value=1, default=36), "Initial channels `C`."),
    ("num_cells", pg.typing.Int(min_value=1, default=20), "Cells (`layers`)."),
    ("num_classes", pg.typing.Int(min_value=1, default=10), "Output classes."),
    ("input_shape", pg.typing.Tuple([pg.typing.Int(min_value=1)] * 3,
                                    default=(32, 32, 3)),
     "Image shape, channels last."),
    ("auxiliary", pg.typing.Bool(default=True),
     "Add the auxiliary head at 2/3 depth as a second output."),
    ("auxiliary_weight", pg.typing.Float(min_value=0.0, default=0.4),
     "Weight of the auxiliary loss in training."),
    ("drop_path_prob", pg.typing.Float(min_value=0.0, max_value=0.99, default=0.2),
     "Drop path rate of each non-identity op in training; 0 disables it."),
    ("stem_multiplier", pg.typing.Int(min_value=1, default=3),
     "The stem has `stem_multiplier * channels` channels."),
    ("norm_act", pg.typing.Object(NormActivation, default=ops.DEFAULT_NORM_ACT),
     "The normalization-activation slot of every op, preprocessing, the stem and "
     "the auxiliary head. A `BatchNormActivation` (default: the reference's ReLU and "
     "PyTorch BN) keeps ReLU-conv-BN; another layer replaces each BN and the "
     "ReLU opening each op is dropped (conv-layer), see `ops`."),
])
class DartsNetwork(pg.Object):
    """The DARTS evaluation network for CIFAR-style images; `to_keras()` builds it."""

    def reduction_indices(self):
        """Indices of the reduction cells: `num_cells // 3` and `2 * num_cells // 3`."""
        return sorted({self.num_cells // 3, 2 * self.num_cells // 3})

    def auxiliary_index(self) -> int:
        """Index of the cell whose output feeds the auxiliary head."""
        return 2 * self.num_cells // 3

    def check(self) -> None:
        """Raises `InfeasibleError` with the reason if this network cannot be built."""
        if not pg.is_deterministic(self):
            raise errors.SearchSpaceError(
                "DartsNetwork still holds hyper-values; materialize it (pg.materialize "
                "or a search) before building the Keras model.")
        self.normal.check(what="normal cell")
        self.reduce.check(what="reduction cell")
        if self.auxiliary:
            size = min(self.input_shape[:2])
            for _ in range(len([i for i in self.reduction_indices()
                                if i <= self.auxiliary_index()])):
                size = (size + 1) // 2
            if size < _MIN_AUXILIARY_SIZE:
                raise errors.InfeasibleError(
                    f"The auxiliary head needs a feature map of at least "
                    f"{_MIN_AUXILIARY_SIZE}x{_MIN_AUXILIARY_SIZE} at cell "
                    f"{self.auxiliary_index()}, but input {tuple(self.input_shape)} "
                    f"gives {size}x{size} there; use auxiliary=False or a larger input.")

    def to_keras(self, auxiliary: Optional[bool] = None) -> layers.DartsKerasModel:
        """Builds the Keras model (weights created, no forward pass run).

        Args:
          auxiliary: override the `auxiliary` field, e.g. False for inference.

        Returns:
          A `DartsKerasModel`: outputs `logits`, or `[logits, aux_logits]` with the
          auxiliary head.

        Raises:
          InfeasibleError: a cell or configuration that cannot be built, with why.
        """
        network = self if auxiliary is None else self.clone(override={"auxiliary": auxiliary})
        network.check()
        C = network.channels
        inputs = keras.Input(shape=tuple(network.input_shape), name="image")
        stem_channels = network.stem_multiplier * C
        x = keras.layers.Conv2D(stem_channels, 3, padding="same", use_bias=False,
                                data_format="channels_last", name="stem_conv")(inputs)
        # The stem's batch norm has no activation after it: the reference's cells
        # open with one. A fused slot layer takes its place and activates here.
        x = ops.closing_norm(network.norm_act, name="stem_bn")(x)
        s0 = s1 = x
        normal_pairs = [[(e.op, e.input) for e in node.edges] for node in network.normal.nodes]
        reduce_pairs = [[(e.op, e.input) for e in node.edges] for node in network.reduce.nodes]
        reductions = network.reduction_indices()
        reduction_prev = False
        aux_logits = None
        C_curr = C
        for i in range(network.num_cells):
            reduction = i in reductions
            if reduction:
                C_curr *= 2
            cell = layers.CellLayer(
                edges=reduce_pairs if reduction else normal_pairs,
                concat=(network.reduce if reduction else network.normal).concat_indices,
                channels=C_curr, reduction=reduction, reduction_prev=reduction_prev,
                drop_path_rate=network.drop_path_prob, norm_act=network.norm_act,
                name=f"{'reduction' if reduction else 'normal'}_cell_{i}")
            s0, s1 = s1, cell([s0, s1])
            reduction_prev = reduction
            if i == network.auxiliary_index() and network.auxiliary:
                aux_logits = layers.AuxiliaryHeadCIFAR(
                    network.num_classes, loss_weight=network.auxiliary_weight,
                    norm_act=network.norm_act, name="auxiliary_head")(s1)
        x = keras.layers.GlobalAveragePooling2D(data_format="channels_last",
                                                name="global_pooling")(s1)
        logits = keras.layers.Dense(network.num_classes, name="logits")(x)
        outputs = logits if aux_logits is None else [logits, aux_logits]
        return layers.DartsKerasModel(inputs, outputs, name="darts_network")

    def to_genotype(self) -> genotype_lib.Genotype:
        """The network's cells in the reference format."""
        normal, normal_concat = self.normal.to_pairs()
        reduce, reduce_concat = self.reduce.to_pairs()
        return genotype_lib.make_genotype(normal, normal_concat, reduce, reduce_concat)

    @classmethod
    def from_genotype(cls, genotype: Union[genotype_lib.Genotype, str],
                      **kwargs) -> "DartsNetwork":
        """The network of a genotype (a `Genotype` or its string form).

        Other fields (`channels`, `num_cells`, ...) are keyword arguments; defaults are
        the paper's CIFAR-10 setting (36 channels, 20 cells, auxiliary head).
        """
        g = genotype_lib.as_genotype(genotype)
        return cls(normal=DartsCell.from_pairs(g.normal, g.normal_concat),
                   reduce=DartsCell.from_pairs(g.reduce, g.reduce_concat), **kwargs)


def darts_space(channels: int = 16, num_cells: int = 8, num_classes: int = 10,
                input_shape=(32, 32, 3), auxiliary: bool = False,
                auxiliary_weight: float = 0.4, drop_path_prob: float = 0.0,
                num_nodes: int = 4, primitives=ops.PRIMITIVES,
                norm_act: NormActivation = ops.DEFAULT_NORM_ACT) -> DartsNetwork:
    """The DARTS search space: independent normal and reduction cell spaces.

    Defaults are a small proxy network (the DARTS search setting: 16 channels,
    8 cells, no auxiliary head, no drop path); materialized samples train as they
    are, or can be rebound to the evaluation setting
    (`sample.rebind(channels=36, num_cells=20, auxiliary=True, drop_path_prob=0.2)`).

    Example::

        space = darts_space(channels=8, num_cells=3, input_shape=(16, 16, 3))
        pg.dna_spec(space)          # 8 manyof(2) choices, each with op sub-choices
    """
    return DartsNetwork(
        normal=darts_cell_space(num_nodes, primitives),
        reduce=darts_cell_space(num_nodes, primitives),
        channels=channels, num_cells=num_cells, num_classes=num_classes,
        input_shape=tuple(input_shape), auxiliary=auxiliary,
        auxiliary_weight=auxiliary_weight, drop_path_prob=drop_path_prob,
        norm_act=norm_act)


def genotype_to_dna(genotype: Union[genotype_lib.Genotype, str],
                    space: DartsNetwork) -> pg.DNA:
    """The DNA of a genotype in a `darts_space`, e.g. to seed a search with DARTS_V2.

    Edges of each node are sorted by input, as the space's sorted `manyof` lists them.

    Raises:
      DNAMismatchError: the genotype is not a point of `space` (wrong number of
        nodes, an op outside its primitives, the same input twice in a node, ...).
    """
    g = genotype_lib.as_genotype(genotype)
    value = DartsNetwork.from_genotype(g).rebind(
        {k: v for k, v in space.sym_init_args.items() if k not in ("normal", "reduce")})
    for cell in (value.normal, value.reduce):
        for node in cell.nodes:
            node.rebind(edges=sorted(node.edges, key=lambda e: e.input))
    try:
        return pg.template(space).encode(value)
    except Exception as e:  # PyGlove raises ValueError/KeyError for values outside.
        raise errors.DNAMismatchError(
            f"Genotype {genotype_lib.format_genotype(g)} is not in the given DARTS "
            f"space: {e}") from e
