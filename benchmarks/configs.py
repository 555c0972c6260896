"""Default hyper-parameters of each benchmark, as data, and the resolved config of a run.

A *benchmark* is a data source with a model and its training recipe:

============== ======== ============ ====== ====== ================================
benchmark      data     model        epochs batch  default optimizer
============== ======== ============ ====== ====== ================================
digits         digits   lenet300100  30     64     SGD lr 0.05, momentum 0.9, steps
cora           cora     gcn          200    full   Adam lr 0.01 (Kipf & Welling)
citeseer       citeseer gcn          200    full   Adam lr 0.01 (Kipf & Welling)
mnist-lenet300 mnist    lenet300100  20     128    SGD lr 0.1, momentum 0.9, steps
mnist-lenet5   mnist    lenet5       20     128    SGD lr 0.05, momentum 0.9, steps
cifar10-resnet20 cifar10 resnet20    1      128    SGD lr 0.1, momentum 0.9, steps
cifar10-cnn    cifar10  cnn          3      128    SGD lr 0.05, momentum 0.9, steps
cifar10-paper  cifar10  resnet20-w64 300    128    SGD lr 0.1, momentum 0.9, thirds
cifar10-resnet20-10k cifar10-10k resnet20 1 128  SGD lr 0.1, momentum 0.9, steps
============== ======== ============ ====== ====== ================================

``cifar10`` is ``cifar10-resnet20``. The CIFAR-10 CPU budgets (1 and 3 epochs) are what
fitted this project's shared 2-core machines, far below the paper's 300 epochs;
``cifar10-paper`` is the paper's recipe (ResNet-20 with 64 feature maps, 300 epochs, SGD
lr 0.1, momentum 0.9, weight decay 5e-4, batch 128, lr divided by 10 at 1/3 and 2/3 of
training, SWD ``a`` from 0.1 to 1e5), ready for a GPU. ``cifar10-resnet20-10k`` trains
on a fixed stratified 10,000 of the 45,000 training images (same validation and test
sets): what a loaded 2-core machine could afford for ResNet-20 here.

``mnist`` is ``mnist-lenet300`` (or ``mnist-lenet5`` with ``model="lenet5"``). Every
benchmark also has defaults for the other optimizer (``--optimizer sgd|adam``): on the
graphs Adam is the dense recipe, and SGD with momentum (lr 5.0, step schedule: the
row-normalised features make the gradients small; it matches Adam's accuracy) is the
option that SWD's penalty was designed for. All use weight decay 5e-4 (on every
parameter) and SWD's ``a_min = 0.1``. ``a_max`` is the paper's 1e5 with SGD on images,
1e4 with SGD on the graphs (``lr * a * mu`` must stay below ``2 (1 + momentum)`` for the
penalty step to be stable, and the graphs' learning rate is large), and 1e3 with Adam
(whose normalised steps need no huge final penalty to reach ~0).

The digits model is the LeNet-300-100 MLP: it trains in seconds on a CPU; ``lenet5``
(with a padded second convolution for 8x8 inputs) is available with ``model="lenet5"``.

SGD schedules: ``"step"`` divides the learning rate by 10 at 50% and 75% of a phase
(He et al.; Renda et al.), ``"thirds"`` at 1/3 and 2/3 (the SWD paper's CIFAR-10
recipe), ``"cosine"`` decays it to 0, ``"constant"`` keeps it.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "step", "cosine", "thirds")
SWD_FORMS = ("gradient", "proximal")
SCOPES = ("global", "layer", "erk")
SCORES = ("magnitude", "layer_normalized")
STRUCTURE_METHODS = ("swd", "magnitude_ft", "lr_rewinding")
# Fields added after the first sweeps, with the values those sweeps implicitly used: a
# record's key omits them at these values, so the old results stay resumable.
LATER_FIELD_DEFAULTS = {"swd_form": "gradient", "swd_ramp": 1.0, "swd_freeze": 0.0,
                        "swd_gradual": False,
                        "scope": "global", "score": "magnitude", "min_kept": 0,
                        "structure": None}


@dataclasses.dataclass(frozen=True)
class OptimizerDefaults:
  """Defaults of one optimizer for one benchmark."""
  lr: float
  schedule: str = "constant"
  momentum: float = 0.9  # SGD only
  nesterov: bool = False  # SGD only


@dataclasses.dataclass(frozen=True)
class Benchmark:
  """A data source, a model and the default training recipe.

  Attributes:
    data: the data source (see :data:`benchmarks.data.SOURCES`).
    model: the default model (see :data:`benchmarks.models.MODELS`).
    models: the models this data can train.
    epochs: the training budget, the same for every method.
    batch_size: minibatch size, ``None`` for full batch (graphs).
    optimizer: the default optimizer name.
    optimizers: the defaults of each optimizer.
    weight_decay: the ordinary L2 weight decay on all parameters (and SWD's ``mu``).
    a_min, a_max: SWD's penalty multiplier range.
    a_max_adam: ``a_max`` when the optimizer is Adam (whose normalised steps do not need
      the huge final penalty that SGD's decayed learning rate does).
  """
  data: str
  model: str
  models: tuple[str, ...]
  epochs: int
  batch_size: int | None
  optimizer: str
  optimizers: Mapping[str, OptimizerDefaults]
  weight_decay: float = 5e-4
  a_min: float = 0.1
  a_max: float = 1e5
  a_max_adam: float = 1e3
  eval_batch_size: int = 1000


_IMAGE_MODELS = ("lenet300100", "lenet5")
_CIFAR_MODELS = ("resnet20", "resnet20-w64", "cnn")
_CIFAR_ADAM = OptimizerDefaults(lr=1e-3)
_GRAPH = dict(
    model="gcn", models=("gcn",), epochs=200, batch_size=None, optimizer="adam",
    optimizers={"adam": OptimizerDefaults(lr=0.01),
                "sgd": OptimizerDefaults(lr=5.0, schedule="step")},
    a_max=1e4, a_max_adam=1e3)

BENCHMARKS: Mapping[str, Benchmark] = {
    "digits": Benchmark(
        data="digits", model="lenet300100", models=_IMAGE_MODELS, epochs=30,
        batch_size=64, optimizer="sgd",
        optimizers={"sgd": OptimizerDefaults(lr=0.05, schedule="step"),
                    "adam": OptimizerDefaults(lr=1e-3)}),
    "cora": Benchmark(data="cora", **_GRAPH),
    "citeseer": Benchmark(data="citeseer", **_GRAPH),
    "mnist-lenet300": Benchmark(
        data="mnist", model="lenet300100", models=_IMAGE_MODELS, epochs=20,
        batch_size=128, optimizer="sgd",
        optimizers={"sgd": OptimizerDefaults(lr=0.1, schedule="step"),
                    "adam": OptimizerDefaults(lr=1e-3)}),
    "mnist-lenet5": Benchmark(
        data="mnist", model="lenet5", models=_IMAGE_MODELS, epochs=20, batch_size=128,
        optimizer="sgd",
        optimizers={"sgd": OptimizerDefaults(lr=0.05, schedule="step"),
                    "adam": OptimizerDefaults(lr=1e-3)}),
}
BENCHMARKS.update({
    "cifar10-resnet20": Benchmark(
        data="cifar10", model="resnet20", models=_CIFAR_MODELS, epochs=1, batch_size=128,
        optimizer="sgd", eval_batch_size=500,
        optimizers={"sgd": OptimizerDefaults(lr=0.1, schedule="step"), "adam": _CIFAR_ADAM}),
    "cifar10-cnn": Benchmark(
        data="cifar10", model="cnn", models=_CIFAR_MODELS, epochs=3, batch_size=128,
        optimizer="sgd", eval_batch_size=500,
        optimizers={"sgd": OptimizerDefaults(lr=0.05, schedule="step"), "adam": _CIFAR_ADAM}),
    "cifar10-resnet20-10k": Benchmark(
        data="cifar10-10k", model="resnet20", models=_CIFAR_MODELS, epochs=1,
        batch_size=128, optimizer="sgd", eval_batch_size=500,
        optimizers={"sgd": OptimizerDefaults(lr=0.1, schedule="step"), "adam": _CIFAR_ADAM}),
    "cifar10-paper": Benchmark(
        data="cifar10", model="resnet20-w64", models=_CIFAR_MODELS, epochs=300,
        batch_size=128, optimizer="sgd", eval_batch_size=500,
        optimizers={"sgd": OptimizerDefaults(lr=0.1, schedule="thirds"),
                    "adam": _CIFAR_ADAM}),
})
ALIASES = {"mnist": "mnist-lenet300", "cifar10": "cifar10-resnet20"}
NAMES = tuple(BENCHMARKS) + tuple(ALIASES)


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Every hyper-parameter of one run, fully resolved (no ``None`` left but batch size).

  ``benchmark`` names the recipe the defaults came from; the remaining fields may
  override it. Method-specific fields are used only by their method:
  ``a_min``/``a_max``/``swd_weight_decay``/``swd_form``/``swd_ramp`` by ``swd``,
  ``prune_fraction`` by ``magnitude_ft`` and ``lr_rewinding``, ``gmp_*`` by ``gmp``.
  The selection options ``scope``/``score``/``min_kept`` (see :func:`optax_swd.swd`) are
  used by every pruning method: SWD's penalised set and final prune, and the baselines'
  masks. ``swd_form="proximal"`` places SWD after the optimizer (its implicit step);
  ``swd_ramp`` is the fraction of the steps over which ``a`` grows from ``a_min`` to
  ``a_max`` (it stays at ``a_max`` afterwards); ``swd_freeze > 0`` hard-prunes SWD's
  selection that fraction of the steps before the end and trains on with the mask fixed.
  ``swd_gradual`` makes SWD's target grow like GMP's (the cubic ramp from ``gmp_begin``
  to ``gmp_end``, :func:`optax_swd.gradual_sparsity`) instead of being fixed.
  ``structure="n:m"`` (e.g. ``"2:4"``)
  makes the selection N:M semi-structured (:func:`optax_swd.swd`) for ``swd``,
  ``magnitude_ft`` and ``lr_rewinding``; the sparsity must then be ``(m - n) / m``.
  """
  benchmark: str
  data: str
  model: str
  method: str
  sparsity: float
  seed: int
  epochs: int
  batch_size: int | None
  eval_batch_size: int
  optimizer: str
  lr: float
  schedule: str
  momentum: float
  nesterov: bool
  weight_decay: float
  a_min: float
  a_max: float
  swd_weight_decay: float
  prune_fraction: float = 0.5
  gmp_begin: float = 0.1
  gmp_end: float = 0.75
  gmp_updates: int = 20
  swd_form: str = "gradient"
  swd_ramp: float = 1.0
  swd_freeze: float = 0.0
  swd_gradual: bool = False
  scope: str = "global"
  score: str = "magnitude"
  min_kept: int = 0
  structure: str | None = None

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def resolve_benchmark(name: str, model: str | None = None) -> tuple[str, Benchmark]:
  """The canonical benchmark name and recipe for ``name`` (aliases allowed) and model.

  Raises:
    ValueError: unknown benchmark, or a model the benchmark's data cannot train.
  """
  if name not in BENCHMARKS and name not in ALIASES:
    raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(NAMES)}")
  canonical = ALIASES.get(name, name)
  bench = BENCHMARKS[canonical]
  if model is not None and model != bench.model:
    if model not in bench.models:
      raise ValueError(f"model {model!r} does not fit dataset {name!r}; choose from "
                       f"{', '.join(bench.models)}")
    # A benchmark of the same data whose default is this model, if there is one.
    for other, b in BENCHMARKS.items():
      if b.data == bench.data and b.model == model:
        return other, b
  return canonical, bench


def run_config(dataset: str, method: str, sparsity: float, seed: int = 0, *,
               model: str | None = None, **overrides) -> RunConfig:
  """Resolves a run: the benchmark's defaults, with ``overrides`` (``None`` = default).

  Args:
    dataset: a benchmark name (:data:`NAMES`).
    method: a method name (:data:`benchmarks.methods.METHODS`; not checked here).
    sparsity: the target sparsity in ``[0, 1)``; ``dense`` has none (recorded as 0).
    seed: the training seed.
    model: a model other than the benchmark's default.
    **overrides: any other :class:`RunConfig` field.

  Raises:
    ValueError: unknown dataset, model, optimizer, schedule or field; bad values.
  """
  name, bench = resolve_benchmark(dataset, model)
  overrides = {k: v for k, v in overrides.items() if v is not None}
  fields = {f.name for f in dataclasses.fields(RunConfig)}
  unknown = set(overrides) - fields
  if unknown:
    raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
  optimizer = overrides.pop("optimizer", bench.optimizer)
  if optimizer not in OPTIMIZERS:
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
  opt = bench.optimizers[optimizer]
  weight_decay = overrides.pop("weight_decay", bench.weight_decay)
  values = dict(
      benchmark=name, data=bench.data, model=model or bench.model, method=method,
      sparsity=0.0 if method == "dense" else float(sparsity), seed=int(seed), epochs=bench.epochs,
      batch_size=bench.batch_size, eval_batch_size=bench.eval_batch_size,
      optimizer=optimizer, lr=opt.lr, schedule=opt.schedule, momentum=opt.momentum,
      nesterov=opt.nesterov, weight_decay=weight_decay, a_min=bench.a_min,
      a_max=bench.a_max_adam if optimizer == "adam" else bench.a_max,
      swd_weight_decay=weight_decay)
  values.update(overrides)
  config = RunConfig(**values)
  validate(config)
  return config


def parse_structure(text: str) -> tuple[int, int]:
  """``"n:m"`` -> ``(n, m)`` with ``0 < n < m``; ValueError otherwise."""
  parts = text.split(":") if isinstance(text, str) else []
  if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
    raise ValueError(f"structure must be 'n:m' (e.g. '2:4'), got {text!r}")
  n, m = int(parts[0]), int(parts[1])
  if not 0 < n < m:
    raise ValueError(f"structure 'n:m' needs 0 < n < m, got {text!r}")
  return n, m


def validate(config: RunConfig) -> None:
  """Raises ValueError naming the first bad field of ``config``."""
  checks = [
      (0.0 <= config.sparsity < 1.0, "sparsity must be in [0, 1)"),
      (config.epochs >= 1, "epochs must be >= 1"),
      (config.batch_size is None or config.batch_size >= 1, "batch size must be >= 1"),
      (config.lr > 0, "lr must be > 0"),
      (config.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
      (config.weight_decay >= 0, "weight decay must be >= 0"),
      (config.swd_weight_decay >= 0, "SWD weight decay must be >= 0"),
      (0 < config.a_min <= config.a_max, "need 0 < a_min <= a_max"),
      (0.0 < config.prune_fraction < 1.0, "prune fraction must be in (0, 1)"),
      (0.0 <= config.gmp_begin < config.gmp_end <= 1.0,
       "need 0 <= gmp begin < gmp end <= 1"),
      (config.gmp_updates >= 1, "gmp updates must be >= 1"),
      (config.swd_form in SWD_FORMS, f"SWD form must be one of {SWD_FORMS}"),
      (0.0 < config.swd_ramp <= 1.0, "SWD ramp must be in (0, 1]"),
      (0.0 <= config.swd_freeze < 1.0, "SWD freeze must be in [0, 1)"),
      (config.scope in SCOPES, f"scope must be one of {SCOPES}"),
      (config.score in SCORES, f"score must be one of {SCORES}"),
      (isinstance(config.min_kept, int) and config.min_kept >= 0,
       "min kept must be an integer >= 0"),
  ]
  for ok, message in checks:
    if not ok:
      raise ValueError(message)
  if config.structure is not None:
    n, m = parse_structure(config.structure)
    if config.method not in STRUCTURE_METHODS:
      raise ValueError(f"structure is supported by {', '.join(STRUCTURE_METHODS)}, not "
                       f"by {config.method!r}")
    if abs(config.sparsity - (m - n) / m) > 1e-6:
      raise ValueError(f"with structure {config.structure!r} the sparsity must be "
                       f"{(m - n) / m:g}, got {config.sparsity:g}")
    if (config.scope, config.score, config.min_kept) != ("global", "magnitude", 0):
      raise ValueError("structure cannot be combined with scope, score or min_kept")
