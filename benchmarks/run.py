"""Command line for one benchmark run.

Usage::

    python -m benchmarks.run DATASET [--method M] [--sparsity S] [--seed K] [--epochs E]
        [--lr LR] [--optimizer sgd|adam] [--a-min A] [--a-max A] [--data-dir D]
        [--log-dir L] [--no-progress] [--checkpoint-dir C [--resume]
        [--checkpoint-every K] [--stop-after-epochs E]] ...

``DATASET`` is a benchmark of :mod:`benchmarks.configs` (``digits``, ``cora``,
``citeseer``, ``mnist-lenet300``, ``mnist-lenet5``, or ``mnist`` with ``--model``). A
progress bar goes to stderr; the last line of stdout is one JSON object describing the
run: ``dataset, method, sparsity_target, sparsity_measured, test_accuracy,
val_accuracy, epochs, seconds, seed, model, lr, optimizer`` and every other
hyper-parameter used. ``sparsity_measured`` counts the exact zeros of the final prunable
kernels. Bad arguments or unavailable data end with a one-line error on stderr and exit
status 2 (usage) or 1 (data).

``digits`` needs no download and runs in seconds on a CPU::

    python -m benchmarks.run digits --method swd --sparsity 0.9
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Sequence

import jax
import optax_swd

from benchmarks import checkpointing
from benchmarks import configs
from benchmarks import data as data_lib
from benchmarks import methods
from benchmarks import models
from benchmarks import train as train_lib

PROG = "python -m benchmarks.run"


def _code_version() -> str | None:
  """The git commit of this checkout, ``-dirty`` if tracked library or harness files
  differ from it (results folders excluded), or None outside a git checkout."""
  root = pathlib.Path(__file__).resolve().parent.parent
  git = lambda *args: subprocess.run(["git", *args], cwd=root, capture_output=True,
                                     text=True, timeout=30, check=False)
  try:
    head = git("rev-parse", "HEAD")
    if head.returncode:
      return None
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "optax_swd",
                "benchmarks", ":(exclude)benchmarks/results").stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None
  return head.stdout.strip() + ("-dirty" if dirty else "")


# Read once, when the code is imported: what a run records is the code it ran with, even
# if the working tree changes while a long sweep goes on.
CODE_VERSION = _code_version()


class OneLineErrorParser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are one line on stderr (exit status 2).

  Abbreviated flags are not accepted (``--seed`` must not silently mean ``--seeds``).
  """

  def __init__(self, *args, **kwargs):
    kwargs.setdefault("allow_abbrev", False)
    super().__init__(*args, **kwargs)

  def error(self, message: str):
    self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def sparsity_arg(text: str) -> float:
  """argparse type: a float in [0, 1)."""
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"sparsity must be a number, got {text!r}") from None
  if not 0.0 <= value < 1.0:
    raise argparse.ArgumentTypeError(f"sparsity must be in [0, 1), got {text}")
  return value


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
  """The hyper-parameter flags (all default to the benchmark's recipe)."""
  g = parser.add_argument_group("hyper-parameters (default: the dataset's recipe)")
  g.add_argument("--model", choices=[m for m in models.MODELS if m != "gcn"],
                 help="model (MNIST/digits: lenet300100 or lenet5; CIFAR-10: resnet20, "
                      "resnet20-w64 or cnn)")
  g.add_argument("--epochs", type=int, help="training budget, the same for every method")
  g.add_argument("--batch-size", type=int)
  g.add_argument("--eval-batch-size", type=int)
  g.add_argument("--optimizer", choices=configs.OPTIMIZERS)
  g.add_argument("--lr", type=float, help="(peak) learning rate")
  g.add_argument("--schedule", choices=configs.SCHEDULES)
  g.add_argument("--momentum", type=float, help="SGD momentum")
  g.add_argument("--nesterov", action="store_true", default=None, help="Nesterov SGD")
  g.add_argument("--weight-decay", type=float, help="L2 weight decay on all parameters")
  g.add_argument("--a-min", type=float, help="SWD: first penalty multiplier")
  g.add_argument("--a-max", type=float, help="SWD: last penalty multiplier")
  g.add_argument("--swd-weight-decay", type=float,
                 help="SWD: the decay mu that a(t) multiplies (default: --weight-decay)")
  g.add_argument("--prune-fraction", type=float,
                 help="magnitude_ft/lr_rewinding: fraction of epochs trained dense")
  g.add_argument("--gmp-begin", type=float, help="gmp: first pruning, fraction of steps")
  g.add_argument("--gmp-end", type=float, help="gmp: last pruning, fraction of steps")
  g.add_argument("--gmp-updates", type=int, help="gmp: number of mask updates")
  g.add_argument("--swd-form", choices=configs.SWD_FORMS,
                 help="SWD: 'gradient' (the paper's, before the optimizer; default) or "
                      "'proximal' (implicit step after the optimizer, cannot diverge)")
  g.add_argument("--swd-ramp", type=float,
                 help="SWD: fraction of the steps over which a grows to a_max, in (0, 1] "
                      "(then held; default 1)")
  g.add_argument("--swd-freeze", type=float,
                 help="SWD: hard-prune this fraction of the steps before the end and "
                      "train on with the mask fixed, in [0, 1) (default 0: prune at the end)")
  g.add_argument("--swd-gradual", action="store_true", default=None,
                 help="SWD: the target sparsity grows like GMP's (cubic, from --gmp-begin "
                      "to --gmp-end) instead of being fixed from the first step")
  g.add_argument("--swd-scope", "--scope", dest="scope", choices=configs.SCOPES,
                 help="selection of every method's pruned set: one global ranking "
                      "(default), the same fraction per layer, or ERK budgets")
  g.add_argument("--swd-score", "--score", dest="score", choices=configs.SCORES,
                 help="selection score: |w| (default) or |w| / rms(layer)")
  g.add_argument("--swd-min-kept", "--min-kept", dest="min_kept", type=int,
                 help="selection: never prune a layer's N largest weights (global scope)")
  g.add_argument("--structure", metavar="N:M",
                 help="N:M semi-structured pruning (e.g. 2:4: keep 2 of every 4 weights "
                      "along each kernel's input dimension) for swd, magnitude_ft and "
                      "lr_rewinding; --sparsity must then be (M-N)/M")


_CONFIG_FLAGS = ("model", "epochs", "batch_size", "eval_batch_size", "optimizer", "lr",
                 "schedule", "momentum", "nesterov", "weight_decay", "a_min", "a_max",
                 "swd_weight_decay", "prune_fraction", "gmp_begin", "gmp_end",
                 "gmp_updates", "swd_form", "swd_ramp", "swd_freeze", "swd_gradual",
                 "scope", "score", "min_kept", "structure")


def build_parser() -> argparse.ArgumentParser:
  parser = OneLineErrorParser(
      prog=PROG, description="Train one model with one pruning method; print a JSON line.")
  parser.add_argument("dataset", choices=configs.NAMES, metavar="DATASET",
                      help=f"one of: {', '.join(configs.NAMES)}")
  parser.add_argument("--method", choices=methods.METHODS, default="dense",
                      help="pruning method (default: dense)")
  parser.add_argument("--sparsity", type=sparsity_arg, default=0.9,
                      help="target fraction of pruned kernel weights, in [0, 1) "
                           "(ignored by dense)")
  parser.add_argument("--seed", type=int, default=0,
                      help="seeds initialisation, shuffling and dropout (default: 0)")
  add_config_arguments(parser)
  parser.add_argument("--data-dir", help="local data root (with planetoid/, mnist/); "
                      f"default ${data_lib.locate.ENV_VAR}, else download/cache")
  parser.add_argument("--log-dir", help="write the per-epoch JSON-lines log here")
  parser.add_argument("--no-progress", action="store_true", help="no progress bar")
  c = parser.add_argument_group(
      "checkpointing (orbax, at epoch ends; every method, across its phases)")
  c.add_argument("--checkpoint-dir", help="save the full train state (params, optimizer "
                 "state with SWD's masks, keep-mask, shuffling RNG) here")
  c.add_argument("--resume", action="store_true", help="continue from the latest "
                 "checkpoint in --checkpoint-dir (a fresh start if there is none); without "
                 "it a directory holding checkpoints is refused")
  c.add_argument("--checkpoint-every", type=int, default=1, metavar="K",
                 help="save every K epochs, and after the last (default 1)")
  c.add_argument("--stop-after-epochs", type=int, metavar="E", help="save and stop once E "
                 "epochs of the run are done (counted from its start); print "
                 '{"stopped_after_epoch": E, ...}; continue later with --resume')
  return parser


def config_from_args(args: argparse.Namespace) -> configs.RunConfig:
  """The :class:`~benchmarks.configs.RunConfig` of parsed arguments (ValueError if bad)."""
  overrides = {name: getattr(args, name) for name in _CONFIG_FLAGS}
  return configs.run_config(args.dataset, args.method, args.sparsity, args.seed,
                            **overrides)


def log_name(config: configs.RunConfig) -> str:
  return (f"{config.benchmark}_{config.method}_s{config.sparsity:g}_seed{config.seed}"
          ".jsonl")


class StructureError(ValueError):
  """The model's kernels cannot hold the configured N:M structure."""


def check_structure(config: configs.RunConfig, model, data: data_lib.Dataset) -> None:
  """Raises :class:`StructureError` (naming the leaf) before training when a prunable
  kernel's input dimension is not a multiple of the structure's M (shapes only)."""
  if config.structure is None:
    return
  shapes = jax.eval_shape(
      lambda: train_lib.init_variables(model, data, jax.random.PRNGKey(0))[0])
  try:
    jax.eval_shape(lambda p: optax_swd.magnitude_mask(p, config.sparsity,
                                                      structure=config.structure), shapes)
  except ValueError as e:
    raise StructureError(f"{config.benchmark} ({config.model}): {e}") from None


def run(config: configs.RunConfig, *, data: data_lib.Dataset | None = None,
        data_dir: str | os.PathLike | None = None,
        log_path: str | os.PathLike | None = None, progress: bool = False,
        checkpoint: checkpointing.Options | None = None) -> dict:
  """Trains and evaluates one configuration; returns the run's record.

  Args:
    config: the resolved hyper-parameters.
    data: the loaded data set (loaded from ``config.data`` and ``data_dir`` if ``None``).
    data_dir: the local data root.
    log_path: the JSON-lines metrics log to write, if any.
    progress: show a progress bar on stderr.

  Raises:
    DataUnavailableError: the data could not be found or downloaded.
  """
  start = time.perf_counter()
  if data is None:
    data = data_lib.load(config.data, data_dir)
  model = models.create(config.model, data.num_classes)
  check_structure(config, model, data)
  plan = methods.plan(config, data.steps_per_epoch(config.batch_size))
  result = train_lib.train(model, data, plan, batch_size=config.batch_size,
                           eval_batch_size=config.eval_batch_size, seed=config.seed,
                           log_path=log_path, progress=progress, checkpoint=checkpoint)
  m = result.metrics
  if "stopped_after_epoch" in m:
    return {"dataset": config.benchmark, "method": config.method,
            "sparsity_target": config.sparsity, "seed": config.seed,
            "epochs": config.epochs, **m,
            "checkpoint_dir": str(checkpoint.directory)}
  record = {
      "dataset": config.benchmark,
      "method": config.method,
      "sparsity_target": config.sparsity,
      "sparsity_measured": m["sparsity_measured"],
      "test_accuracy": m["test_accuracy"],
      "val_accuracy": m["val_accuracy"],
      "epochs": config.epochs,
      "seconds": round(time.perf_counter() - start, 3),
      "seed": config.seed,
      "model": config.model,
      "lr": config.lr,
      "optimizer": config.optimizer,
  }
  record.update({k: v for k, v in config.to_dict().items()
                 if k not in ("benchmark", "sparsity") and k not in record})
  record.update({k: v for k, v in m.items() if k not in record})
  record["log"] = None if log_path is None else str(log_path)
  record["code_version"] = CODE_VERSION
  return record


def checkpoint_options(args: argparse.Namespace,
                       config: configs.RunConfig) -> checkpointing.Options | None:
  """The checkpointing of parsed arguments (``None`` without ``--checkpoint-dir``)."""
  if args.checkpoint_dir is None:
    if args.resume or args.stop_after_epochs is not None:
      raise ValueError("--resume and --stop-after-epochs need --checkpoint-dir")
    return None
  if args.stop_after_epochs is not None and not 1 <= args.stop_after_epochs:
    raise ValueError(f"--stop-after-epochs must be >= 1, got {args.stop_after_epochs}")
  if args.checkpoint_every < 1:
    raise ValueError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
  return checkpointing.Options(args.checkpoint_dir, resume=args.resume,
                               every_epochs=args.checkpoint_every,
                               stop_after_epochs=args.stop_after_epochs,
                               identity=config.to_dict())


def main(argv: Sequence[str] | None = None) -> int:
  parser = build_parser()
  args = parser.parse_args(argv)
  try:
    config = config_from_args(args)
    checkpoint = checkpoint_options(args, config)
  except ValueError as e:
    parser.error(str(e))
  log_path = None if args.log_dir is None else pathlib.Path(args.log_dir) / log_name(config)
  try:
    record = run(config, data_dir=args.data_dir, log_path=log_path,
                 progress=not args.no_progress, checkpoint=checkpoint)
  except StructureError as e:
    parser.error(str(e))
  except (data_lib.DataUnavailableError, checkpointing.CheckpointError) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  print(json.dumps(record), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
