#!/usr/bin/env python3
"""Parameter counts of the DARTS reference network for the published cells, without torch.

Runs the reference's own `model.py` / `operations.py` / `genotypes.py` (quark0/darts,
in ../shared/reference/darts) against a minimal stand-in for `torch.nn` whose modules
only record their parameters' sizes, and prints `NetworkCIFAR(C, 10, layers,
auxiliary, genotype)`'s count with and without the auxiliary head. These are the
numbers tests/spaces/darts_test.py compares our networks with.

    python benchmarks/darts_reference_params.py [--reference DIR] [--channels 36 --layers 20]
"""
import argparse
import builtins
import os
import sys
import types

class Module:
    def __init__(self, *a, **k):
        object.__setattr__(self, "_children", [])
        object.__setattr__(self, "_params", [])
    def __setattr__(self, name, value):
        if isinstance(value, Module) and not any(c is value for c in self._children):
            self._children.append(value)  # `self._ops += [...]` sets the same list again
        object.__setattr__(self, name, value)
    def parameters(self):
        yield from self._params
        for c in self._children:
            yield from c.parameters()
    def named_parameters(self, prefix=""):
        for p in self.parameters():
            yield "", p

class ModuleList(Module):
    def __init__(self, mods=()):
        super().__init__()
        for m in mods: self._children.append(m)
    def __iadd__(self, mods):
        for m in mods: self._children.append(m)
        return self
    def __iter__(self): return iter(self._children)

class Sequential(Module):
    def __init__(self, *mods):
        super().__init__()
        for m in mods: self._children.append(m)

def _pair(v): return v if isinstance(v, tuple) else (v, v)

class Conv2d(Module):
    def __init__(self, cin, cout, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True):
        super().__init__()
        kh, kw = _pair(kernel_size)
        self._params.append(cout * (cin // groups) * kh * kw)
        if bias: self._params.append(cout)

class BatchNorm2d(Module):
    def __init__(self, c, affine=True, **k):
        super().__init__()
        if affine: self._params += [c, c]

class Linear(Module):
    def __init__(self, cin, cout, bias=True):
        super().__init__()
        self._params.append(cin * cout)
        if bias: self._params.append(cout)

class _NoParams(Module):
    def __init__(self, *a, **k): super().__init__()

nn = types.ModuleType("torch.nn")
for name, cls in dict(Module=Module, ModuleList=ModuleList, Sequential=Sequential, Conv2d=Conv2d,
                      BatchNorm2d=BatchNorm2d, Linear=Linear, ReLU=_NoParams, AvgPool2d=_NoParams,
                      MaxPool2d=_NoParams, AdaptiveAvgPool2d=_NoParams).items():
    setattr(nn, name, cls)
torch = types.ModuleType("torch"); torch.nn = nn
autograd = types.ModuleType("torch.autograd"); autograd.Variable = object
sys.modules.update({"torch": torch, "torch.nn": nn, "torch.autograd": autograd})
utils = types.ModuleType("utils"); utils.drop_path = None; sys.modules["utils"] = utils


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--reference", default=os.path.join(
        here, "..", "..", "..", "shared", "reference", "darts"))
    parser.add_argument("--channels", type=int, default=36)
    parser.add_argument("--layers", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.reference))
    quiet, builtins.print = builtins.print, lambda *a, **k: None  # Cell prints channels
    try:
        import genotypes  # pylint: disable=g-import-not-at-top
        import model  # pylint: disable=g-import-not-at-top
        rows = []
        for name in ("NASNet", "AmoebaNet", "DARTS_V1", "DARTS_V2"):
            net = model.NetworkCIFAR(args.channels, 10, args.layers, True,
                                     getattr(genotypes, name))
            total = sum(net.parameters())
            rows.append((name, total - sum(net.auxiliary_head.parameters()), total))
    finally:
        builtins.print = quiet
    print(f"NetworkCIFAR C={args.channels} layers={args.layers} num_classes=10")
    for name, without, with_aux in rows:
        print(f"{name:10s} without auxiliary head {without:>10,d}   with {with_aux:>10,d}")


if __name__ == "__main__":
    main()
