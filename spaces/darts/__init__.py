"""DARTS cell search space and evaluation network (Liu et al. 2019)."""

from symbolic_automl.spaces.darts.ops import OPS, PRIMITIVES, SEARCH_PRIMITIVES
