"""DARTS cell search space and evaluation network (Liu et al. 2019, "DARTS:
Differentiable Architecture Search", ICLR), ported from the reference code
(github.com/quark0/darts, `cnn/`).

Example::

    import pyglove as pg
    from symbolic_automl.spaces import darts

    space = darts.darts_space(channels=8, num_cells=3, input_shape=(16, 16, 3))
    model = pg.random_sample(space, seed=0).__next__().to_keras()

    v2 = darts.DartsNetwork.from_genotype(darts.DARTS_V2)
    v2.to_keras().count_trainable_params()     # 3349342, as the reference
"""

from symbolic_automl.spaces.darts.cell import DartsCell, Edge, Node, darts_cell_space
from symbolic_automl.spaces.darts.genotype import (
    DARTS_V1,
    DARTS_V2,
    PUBLISHED,
    AmoebaNet,
    NASNet,
    Genotype,
    format_genotype,
    make_genotype,
    parse_genotype,
)
from symbolic_automl.spaces.darts.layers import (
    AuxiliaryHeadCIFAR,
    CellLayer,
    DartsKerasModel,
    DropPath,
    DropPathSchedule,
)
from symbolic_automl.spaces.darts.network import DartsNetwork, darts_space, genotype_to_dna
from symbolic_automl.spaces.darts.ops import OPS, PRIMITIVES, SEARCH_PRIMITIVES
