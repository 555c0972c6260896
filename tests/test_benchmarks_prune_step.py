"""The one-shot prune of magnitude_ft / lr_rewinding splits the budget at its fraction."""

from benchmarks import configs
from benchmarks import methods


def test_prune_step_is_a_fraction_of_steps_even_for_one_epoch():
  one_epoch = configs.run_config("digits", "magnitude_ft", 0.9, 0, epochs=1)
  assert methods.prune_step(one_epoch, 430) == 215
  three = configs.run_config("digits", "lr_rewinding", 0.9, 0, epochs=3)
  assert methods.prune_step(three, 430) == 645
  tiny = configs.run_config("digits", "magnitude_ft", 0.9, 0, epochs=1)
  assert methods.prune_step(tiny, 1) == 1 or methods.prune_step(tiny, 2) == 1
