"""EvoNorm search: evolve a normalization-activation layer across three tiny anchors.

The paper's loop (Liu et al. 2020) at laptop scale: random layer graphs of
`graph_space(10)` and their mutants are checked (output depends on x, finite,
not a functional duplicate, stable under an adversarial perturbation), trained
100 steps in each anchor (rejected below 20% validation accuracy), then
trained on; their three accuracies are the objectives of Pareto-tournament
evolution. Offline by default (scikit-learn digits, 8×8); prints the
rejections per stage, the Pareto front as formulas, the known layers
(BN-ReLU, EvoNorm-B0, EvoNorm-S0) in the same anchors, and the transfer table:
the found layer against the known ones in a held-out architecture (a
NAS-Bench-101 network, `evonorm.anchors.held_out_network`;
`spaces.anchors.held_out_comparison`, mean ± standard error over seeds).

    python demos/evonorm_search.py                       # offline digits, ~10 min on 2 cores
    python demos/evonorm_search.py --dataset=cifar10     # keras.datasets (needs network)
    python demos/evonorm_search.py --anchors=paper       # spaces.anchors families (slower)
    python demos/evonorm_search.py --max_trials=1 --population=2 --quality_steps=5 \
        --train_steps=5 --quality_threshold=0 --baselines=false --transfer_seeds=1 \
        --transfer_steps=2                                                 # smoke run

Rerunning with the same --root_dir resumes the search.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Quiet TensorFlow's start-up lines.

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from symbolic_automl.spaces import evonorm  # noqa: E402

_DATASET = flags.DEFINE_enum("dataset", "digits", ["digits", "cifar10"], "Training data.")
_ANCHORS = flags.DEFINE_enum(
    "anchors", "tiny", ["tiny", "paper"],
    "tiny: evonorm.anchors.tiny_anchors (seconds per candidate); paper: the anchor families "
    "of symbolic_automl.spaces.anchors (ResNet-18, MobileNetV2, EfficientNet-B0) shrunk by "
    "--width/--depth.")
_WIDTH = flags.DEFINE_float("width", 0.125, "Width multiplier of the paper anchors.")
_DEPTH = flags.DEFINE_float("depth", 0.34, "Depth multiplier of the paper anchors.")
_POPULATION = flags.DEFINE_integer("population", 4, "Population size of the evolution.")
_TOURNAMENT = flags.DEFINE_integer("tournament", 2, "Tournament sample size.")
_MAX_TRIALS = flags.DEFINE_integer("max_trials", 6, "Candidates trained in all anchors.")
_NUM_NODES = flags.DEFINE_integer("num_nodes", evonorm.DEFAULT_NUM_NODES,
                                  "Intermediate nodes per layer graph.")
_QUALITY_STEPS = flags.DEFINE_integer("quality_steps", 100, "Steps before the quality check.")
_QUALITY_THRESHOLD = flags.DEFINE_float(
    "quality_threshold", 0.2, "Least validation accuracy after --quality_steps in every anchor.")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 200, "Training steps per anchor.")
_BASELINES = flags.DEFINE_bool("baselines", True,
                               "Also train BN-ReLU, EvoNorm-B0 and EvoNorm-S0 in the anchors.")
_TRANSFER_SEEDS = flags.DEFINE_integer(
    "transfer_seeds", 3, "Seeds of the held-out transfer comparison (0 skips it).")
_TRANSFER_STEPS = flags.DEFINE_integer("transfer_steps", 100,
                                       "Training steps per transfer run.")
_ROOT_DIR = flags.DEFINE_string("root_dir", "experiments/evonorm_search",
                                "Where the trial store goes (rerun to resume).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the evolution and the evaluator.")


def main(argv):
    del argv
    start = time.time()
    if _DATASET.value == "digits":
        data, shape, groups = evonorm.searching.load_data("digits", 8), (8, 8, 1), 4
    else:
        data, shape, groups = evonorm.searching.load_data("cifar10", limit=5000), (32, 32, 3), 4
    if _ANCHORS.value == "tiny":
        anchors = evonorm.anchors.tiny_anchors(input_shape=shape)
    else:
        anchors = evonorm.anchors.paper_anchors(_WIDTH.value, _DEPTH.value, input_shape=shape)
    options = dict(quality_steps=_QUALITY_STEPS.value, train_steps=_TRAIN_STEPS.value,
                   quality_threshold=_QUALITY_THRESHOLD.value)
    result = evonorm.search(
        anchors, data, population_size=_POPULATION.value, tournament_size=_TOURNAMENT.value,
        max_trials=_MAX_TRIALS.value, root_dir=_ROOT_DIR.value, num_nodes=_NUM_NODES.value,
        groups=groups, seed=_SEED.value, progress=True, **options)
    print(f"\n{len(result.trials)} candidates in {time.time() - start:.0f} s: "
          f"{result.count('completed')} trained, {result.count('rejected')} rejected")
    print("Rejected per stage:", ", ".join(f"{k} {v}" for k, v in result.rejections().items()))
    print("\nPareto front (validation accuracy per anchor):")
    print(result.pareto_table())
    if _BASELINES.value:
        evaluator = evonorm.EvoNormEvaluator(anchors, data, seed=_SEED.value, **options)
        rows = []
        for name, make in evonorm.KNOWN.items():
            metrics = evaluator(make(groups=groups), None)
            rows.append((name, metrics))
        print("\nKnown layers, same anchors and budget:")
        print("  " + "".join(f"{'acc_' + a.name:>18}" for a in anchors) + "  layer")
        for name, metrics in rows:
            print("  " + "".join(f"{metrics['acc_' + a.name]:>18.3f}" for a in anchors)
                  + f"  {name}: {metrics['formula']}")
    front = result.pareto_front()
    if _TRANSFER_SEEDS.value and front:
        transfer(front, result.objective, data, groups)
    print(f"\nDone in {time.time() - start:.0f} s. Trial store: {_ROOT_DIR.value}")


def transfer(front, objective, data, groups):
    """The found layer (best mean accuracy on the front) in a held-out architecture."""
    # pylint: disable=g-import-not-at-top
    import numpy as np
    from symbolic_automl.spaces import anchors as anchor_families

    found = max(front, key=lambda t: np.mean([t.metrics[m] for m in objective])).model
    (x, y), validation = data
    held_out = evonorm.anchors.held_out_network(input_shape=x.shape[1:])
    print(f"\nTransfer to a held-out NAS-Bench-101 network (Inception-like cell, "
          f"conv-BN-ReLU), {_TRANSFER_STEPS.value} steps, {_TRANSFER_SEEDS.value} seeds; "
          f"found = {found}:")
    print(anchor_families.held_out_comparison(
        held_out, found, (x, y), validation, steps=_TRANSFER_STEPS.value,
        seeds=tuple(range(_TRANSFER_SEEDS.value)), groups=groups))


if __name__ == "__main__":
    app.run(main)
