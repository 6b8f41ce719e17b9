"""Training hyper-parameter space: optimizers, schedules, label smoothing, augmentation,
infeasible settings, and a joint architecture + training search through the core."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

import symbolic_automl as sa  # noqa: E402
from symbolic_automl import data  # noqa: E402
from symbolic_automl import errors  # noqa: E402
from symbolic_automl.spaces import nasbench101, training  # noqa: E402


@pytest.mark.parametrize("name,cls", [("adam", keras.optimizers.Adam),
                                      ("adamw", keras.optimizers.AdamW),
                                      ("sgd", keras.optimizers.SGD),
                                      ("rmsprop", keras.optimizers.RMSprop),
                                      ("nadam", keras.optimizers.Nadam)])
def test_optimizer_families_with_weight_decay(name, cls):
    recipe = training.TrainingRecipe(optimizer=name, learning_rate=0.05, weight_decay=1e-4,
                                     momentum=0.8)
    optimizer = recipe.make_optimizer(steps_per_epoch=10)
    assert type(optimizer) is cls
    assert optimizer.weight_decay == pytest.approx(1e-4)
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(0.05)
    if name in ("sgd", "rmsprop"):
        assert optimizer.momentum == pytest.approx(0.8)


def test_adamw_without_decay_really_has_none():
    optimizer = training.TrainingRecipe(optimizer="adamw").make_optimizer(10)
    assert optimizer.weight_decay == 0.0


def test_schedules_follow_their_shapes():
    def schedule(name, **kw):
        return training.TrainingRecipe(learning_rate=0.1, schedule=name, epochs=10,
                                       **kw).learning_rate_schedule(steps_per_epoch=10)

    def at(s, step):
        return float(keras.ops.convert_to_numpy(s(step)))

    assert schedule("constant") == 0.1
    cosine = schedule("cosine")
    assert at(cosine, 0) == pytest.approx(0.1)
    assert at(cosine, 50) == pytest.approx(0.05, rel=1e-3)
    assert at(cosine, 100) == pytest.approx(0.0, abs=1e-6)
    step = schedule("step")
    assert [at(step, s) for s in (10, 60, 75, 90)] == pytest.approx([0.1, 0.01, 0.001, 0.0001])
    step_lr = schedule("step", step_every_epochs=3, step_factor=0.5)  # PyTorch's StepLR
    assert [at(step_lr, s) for s in (0, 29, 30, 59, 60, 90, 99)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125, 0.0125])
    assert schedule("step", step_every_epochs=20) == 0.1  # never reached: constant
    exponential = schedule("exponential")
    assert at(exponential, 100) == pytest.approx(0.001, rel=1e-3)
    warm = schedule("cosine", warmup_epochs=2)
    assert at(warm, 0) == pytest.approx(0.0, abs=1e-7)
    assert at(warm, 10) == pytest.approx(0.05, rel=1e-3)
    assert at(warm, 20) == pytest.approx(0.1, rel=1e-3)


def test_label_smoothing_loss_matches_the_formula():
    recipe = training.TrainingRecipe(label_smoothing=0.2)
    loss = recipe.make_loss()
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    labels = np.array([0, 2])
    targets = np.full((2, 3), 0.2 / 3) + 0.8 * np.eye(3)[labels]
    expected = -(targets * np.log(probs)).sum(axis=1).mean()
    assert float(loss(labels, probs)) == pytest.approx(expected, rel=1e-5)
    # No smoothing: the core's plain sparse cross-entropy.
    assert training.TrainingRecipe().make_loss() == "sparse_categorical_crossentropy"


def test_shift_augmentation_translates_each_image_and_keeps_labels():
    rng = np.random.RandomState(0)
    x = rng.rand(10, 8, 8, 1).astype("float32") + 1.0  # no zeros in the originals
    y = np.arange(10)
    recipe = training.TrainingRecipe(augmentation="shift", batch_size=4, shift_fraction=0.25)
    dataset, labels = recipe.prepare_training_data(x, y)
    assert labels is None and len(dataset) == 3
    seen = set()
    for epoch in range(2):
        for i in range(len(dataset)):
            images, batch_labels = dataset[i]
            for image, label in zip(images, batch_labels):
                original = x[label]
                matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                           if _is_shift(image, original, dy, dx)]
                assert matches, "augmented image is not a shifted original"
                seen.add(matches[0])
            seen_labels = batch_labels
        dataset.on_epoch_end()
    assert len(seen) > 3  # fresh shifts, not one fixed translation
    assert set(seen_labels) <= set(y)


def _is_shift(image, original, dy, dx):
    padded = np.pad(original, ((2, 2), (2, 2), (0, 0)))
    return np.array_equal(image, padded[2 - dy:10 - dy, 2 - dx:10 - dx])


def test_flip_and_cutout_augmentations():
    x = np.random.RandomState(1).rand(6, 8, 8, 3).astype("float32") + 1.0
    y = np.arange(6)
    flips, _ = training.TrainingRecipe(augmentation="flip", batch_size=6).prepare_training_data(x, y)
    images, labels = flips[0]
    for image, label in zip(images, labels):
        assert np.array_equal(image, x[label]) or np.array_equal(image, x[label][:, ::-1])
    cutout, _ = training.TrainingRecipe(augmentation="cutout", batch_size=6,
                                        cutout_fraction=0.25).prepare_training_data(x, y)
    images, labels = cutout[0]
    for image, label in zip(images, labels):
        zeroed = (image == 0).all(axis=-1)
        assert 1 <= zeroed.sum() <= 4  # at most a 2x2 square, clipped at borders
        np.testing.assert_array_equal(image[~zeroed], x[label][~zeroed])
    # No augmentation: the arrays pass through untouched.
    same_x, same_y = training.TrainingRecipe().prepare_training_data(x, y)
    assert same_x is x and same_y is y
    with pytest.raises(ValueError, match="needs image arrays"):
        training.TrainingRecipe(augmentation="shift").prepare_training_data(x[:, :, :, 0], y)


def test_infeasible_recipes_name_the_setting():
    with pytest.raises(errors.InfeasibleError, match="schedule='warp'"):
        training.TrainingRecipe(schedule="warp").make_optimizer(10)
    with pytest.raises(errors.InfeasibleError, match="learning_rate=0"):
        training.TrainingRecipe(learning_rate=0).make_optimizer(10)
    with pytest.raises(errors.InfeasibleError, match="warms up for 3 epochs"):
        training.TrainingRecipe(epochs=3, warmup_epochs=3, schedule="cosine").make_optimizer(10)
    with pytest.raises(errors.InfeasibleError, match="step_every_epochs=0"):
        training.TrainingRecipe(schedule="step", step_every_epochs=0).make_optimizer(10)
    with pytest.raises(errors.InfeasibleError, match="optimizer='lion2'"):
        training.TrainingRecipe(optimizer="lion2").make_optimizer(10)
    with pytest.raises(errors.SearchSpaceError, match="unknown: \\['warp'\\]"):
        training.training_space(schedules=("cosine", "warp"))
    with pytest.raises(errors.SearchSpaceError, match="0 < low < high"):
        training.training_space(learning_rate=(0.1, 0.01))


def test_training_space_has_a_log_scale_learning_rate_and_choices():
    space = training.training_space()
    spec = pg.dna_spec(space)
    names = {str(dp.location) for dp in spec.decision_points}
    assert {"optimizer", "learning_rate", "schedule", "weight_decay", "batch_size",
            "epochs", "label_smoothing", "augmentation"} <= names
    lr = [dp for dp in spec.decision_points if str(dp.location) == "learning_rate"][0]
    assert lr.scale == "log" and (lr.min_value, lr.max_value) == (1e-4, 1e-1)
    fixed = training.training_space(epochs=2, optimizers=("sgd",), learning_rate=0.01)
    assert fixed.epochs == 2 and fixed.optimizer == "sgd" and fixed.learning_rate == 0.01


def test_joint_architecture_and_training_search_on_digits():
    (x, y), (xv, yv) = data.load("digits", limit=300)
    space = sa.Trainable(
        model=nasbench101.small_nasbench101_space(stem_channels=4),
        training=training.training_space(epochs=1, batch_sizes=(64,),
                                         # Both go through AugmentedDataset.
                                         augmentations=("shift", "cutout"),
                                         label_smoothings=(0.0, 0.1)))
    assert len(pg.dna_spec(space).decision_points) == 26 + 6
    result = sa.search(space, algorithm=pg.geno.Random(seed=3),
                       evaluator=sa.KerasEvaluator(x, y, validation_data=(xv[:100], yv[:100])),
                       max_trials=4, progress=False)
    completed = [t for t in result.trials if t.status == "completed"]
    assert completed, [t.error for t in result.trials]
    for trial in result.trials:
        assert trial.status in ("completed", "infeasible"), trial.error
    recipes = {(t.model.training.optimizer, round(t.model.training.learning_rate, 8))
               for t in result.trials}
    assert len(recipes) == 4  # each trial drew its own training recipe
    for trial in completed:
        assert 0.0 <= trial.metrics["val_accuracy"] <= 1.0
