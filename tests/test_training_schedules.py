"""Learning-rate schedules and recipes."""

import keras
import numpy as np
import pytest

from keras_prelu import optimizers
from keras_prelu.training import recipes, schedules
from serializable_checks import check_schedule
from serializable_checks import schedule_values as _values


def test_step_decay_is_the_resnet_recipe():
    schedule = schedules.build("step", 0.1, total_steps=64000)
    assert schedule.boundaries == [32000, 48000]
    np.testing.assert_allclose(
        _values(schedule, [0, 31999, 32000, 47999, 48000, 63999]),
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6,
    )


def test_cosine_goes_from_peak_to_zero():
    schedule = schedules.build("cosine", 1.0, total_steps=100)
    np.testing.assert_allclose(_values(schedule, [0, 50, 100, 150]), [1.0, 0.5, 0.0, 0.0], atol=1e-6)


def test_warmup_ramps_to_the_peak_then_the_decay_runs_over_the_remaining_steps():
    schedule = schedules.build("cosine", 1.0, total_steps=100, warmup_steps=10)
    values = _values(schedule, [0, 5, 10, 55, 100])
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0, 0.5, 0.0], atol=1e-6)
    step = schedules.build("step", 0.1, total_steps=100, warmup_steps=10)
    np.testing.assert_allclose(_values(step, [10, 49, 50, 75]), [0.1, 0.1, 0.01, 0.001], rtol=1e-6)
    constant = schedules.build("constant", 0.3, total_steps=10, warmup_steps=4)
    np.testing.assert_allclose(_values(constant, [0, 2, 4, 9]), [0.0, 0.15, 0.3, 0.3], rtol=1e-6)


def test_one_epoch_of_warmup_on_a_one_epoch_run_still_trains():
    # Warmup as long as the run: the learning rate must rise to the peak, not stay at zero.
    values = _values(schedules.build("cosine", 0.1, total_steps=20, warmup_steps=20), range(20))
    assert values[0] == 0.0 and values[-1] == pytest.approx(0.1 * 19 / 20)


@pytest.mark.parametrize("warmup_steps", [0, 5])
@pytest.mark.parametrize("name", ["step", "cosine", "constant"])
def test_built_schedules_serialize(name, warmup_steps):
    check_schedule(schedules.build(name, 0.1, total_steps=50, warmup_steps=warmup_steps), steps=range(0, 60, 7))


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="schedule"):
        schedules.build("linear", 0.1, total_steps=10)
    with pytest.raises(ValueError, match="increasing"):
        schedules.StepDecay(0.1, [10, 5])
    with pytest.raises(ValueError, match="total_steps"):
        schedules.build("step", 0.1, total_steps=0)


def test_resnet_cifar_recipe_matches_he_et_al():
    recipe = recipes.get("resnet-cifar")
    assert (recipe.batch_size, recipe.learning_rate, recipe.momentum, recipe.weight_decay) == (128, 0.1, 0.9, 1e-4)
    assert recipe.schedule == "step" and recipe.boundaries == (0.5, 0.75) and recipe.decay_factor == 0.1
    assert recipe.augment == "pad_crop_flip" and round(recipe.pad_fraction * 32) == 4
    assert recipe.epochs * (50000 // 128) == pytest.approx(64000, rel=0.01)
    optimizer = recipe.make_optimizer(steps_per_epoch=390)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == 0.9
    # Coupled L2 of 1e-4 with momentum 0.9 removes lr * 1e-3 of a weight per step in Keras's decoupled form.
    assert optimizer.weight_decay == pytest.approx(1e-3)
    lr = optimizer._learning_rate
    total = 390 * recipe.epochs
    assert float(lr(total // 2 - 1)) == pytest.approx(0.1) and float(lr(total // 2)) == pytest.approx(0.01)


def test_optimizers_from_recipes_exempt_slopes():
    for name in recipes.known_recipes():
        optimizer = recipes.get(name).make_optimizer(steps_per_epoch=10)
        alpha = keras.Variable(np.ones(3, "float32"), name="alpha")
        kernel = keras.Variable(np.ones(3, "float32"), name="kernel")
        assert optimizer._use_weight_decay(kernel)
        assert not optimizer._use_weight_decay(alpha)
        assert optimizers.is_slope_variable(alpha)


def test_recipe_overrides_and_errors():
    recipe = recipes.get("default", epochs=3, batch_size=None, learning_rate=0.01)
    assert (recipe.epochs, recipe.batch_size, recipe.learning_rate) == (3, 128, 0.01)
    assert recipes.Recipe.from_dict(recipe.to_dict()) == recipe
    with pytest.raises(ValueError, match="Unknown recipe.*resnet-cifar"):
        recipes.get("resnet_cifar")
    with pytest.raises(ValueError, match="epochs"):
        recipes.get("default", epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        recipes.get("default", optimizer="lamb")
    with pytest.raises(ValueError, match="Unknown recipe field"):
        recipes.get("default", nesterov=True)
