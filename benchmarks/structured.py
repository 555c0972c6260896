"""Structured (channel) pruning benchmark: structured SWD against the structured baselines.

Every method trains the same network for the same number of steps ``T`` with SGD
(momentum 0.9, weight decay 5e-4 on every parameter, learning rate divided by 10 at 50% and
75% of a phase), and every method ends with the same structured cut: the channels that
:func:`optax_swd.select_channels` picks by ``|gamma|`` at the *parameter* target (the
fewest channels whose removal leaves at most ``(1 - target)`` of the parameters of the
shrunk network), zeroed by :func:`optax_swd.prune_channels`, then physically removed by
:func:`optax_swd.shrink` and evaluated again as the narrower network.

* ``dense``: no pruning (the reference; the target is ignored).
* ``swd``: structured SWD (Tessier et al. 2022): :func:`optax_swd.structured_swd` on the
  BN gammas and betas of the selected channels, its penalty growing from ``a_min`` to
  ``a_max`` over all ``T`` steps; cut at the end, no fine-tuning.
* ``swd_f``: the same with ``decay_kernels=True`` (the official code's ``structuredF``:
  the kernel slices producing and reading the selected channels are decayed too).
* ``slimming``: network slimming (Liu et al., ICCV 2017): L1 penalty ``lambda * |gamma|``
  on every BN scale for the first half of the budget, cut, then fine-tune the second
  half with the cut channels held at zero (learning-rate schedule restarted). Liu et al.
  use ``lambda = 1e-4`` over 160 CIFAR epochs; with ``--slimming-l1 auto`` (default),
  ``lambda`` is scaled so that ``lambda * sum(lr)`` over the sparsity phase equals theirs
  (batch 64, 160 epochs of 50k images, lr 0.1 with drops at 50%/75%), since a short budget
  with their ``lambda`` would barely move the gammas.
* ``magnitude``: the same without the L1 term: train, cut by ``|gamma|``, fine-tune.

A pruned run's ``test_accuracy`` is the *shrunk* network's on the whole test split;
``masked_test_accuracy`` and ``shrunk_max_logit_diff`` compare the masked full network
with it on the first ``--check-images`` test images only (default all). The image-folder
CIFAR-10 test split is ordered by class, so with a prefix that accuracy covers the first
classes only and is a consistency check, not a result.

One JSON object per run is appended to ``<out>/results.jsonl`` (runs already there are
skipped, so an interrupted grid resumes); ``--report`` writes ``results.md`` and
``accuracy.png`` from it.

Example (the digits grid of ``benchmarks/results/structured/``)::

  python -m benchmarks.structured --data digits --epochs 20 --seeds 0,1,2 \
      --out benchmarks/results/structured
  python -m benchmarks.structured --report --out benchmarks/results/structured

CIFAR-10 at a CPU budget (the grid of ``benchmarks/results/structured-cifar10/``,
``run.sh`` there): ``--data cifar10-10k --epochs 1 --batch-size 64 --no-val
--check-images 2000``. The paper's setting (not run here: about 4.5 min per ResNet-20
epoch of the 45,000 images on this CPU)::

  python -m benchmarks.structured --data cifar10 --data-dir /work/shared/data \
      --epochs 160 --batch-size 128 --seeds 0,1,2 --out benchmarks/results/structured-cifar10
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax_swd

from benchmarks import methods
from benchmarks import models
from benchmarks import topologies
from benchmarks import train

METHODS = ("dense", "swd", "swd_f", "slimming", "magnitude")
TARGETS = (0.5, 0.75, 0.9, 0.975)
# Liu et al.'s CIFAR run: lambda 1e-4, lr 0.1 (x0.1 at 50% and 75%), 160 epochs x 782 steps.
_LIU_L1_TOTAL = 1e-4 * 0.1 * (0.5 + 0.25 * 0.1 + 0.25 * 0.01) * 160 * 782


@dataclasses.dataclass(frozen=True)
class Config:
  data: str = "digits"
  data_dir: str | None = None
  width: int = 16
  epochs: int = 20
  batch_size: int = 64
  lr: float = 0.1
  momentum: float = 0.9
  weight_decay: float = 5e-4
  a_min: float = 0.1
  a_max: float = 1e5
  slimming_l1: float | None = None  # None: scaled to Liu et al.'s total (see docstring)
  val: bool = True  # also evaluate the validation split (not used for any choice here)
  check_images: int | None = None  # test images on which masked full == shrunk is checked
  allocation: str = "global"  # select_channels' allocation (every method's selection)


DATA = ("digits", "mnist", "cifar10", "cifar10-10k")


def load_data(cfg: Config):
  if cfg.data not in DATA:
    raise ValueError(f"--data must be one of {DATA}, got {cfg.data!r}")
  from benchmarks import data  # pylint: disable=import-outside-toplevel
  return data.load(cfg.data, cfg.data_dir)


def l1_on_gamma(strength: float) -> optax.GradientTransformation:
  """Adds ``strength * sign(gamma)`` to the updates of every BatchNorm scale."""

  def update(updates, state, params=None):
    def add(path, u, p):
      is_scale = getattr(path[-1], "key", None) == "scale"
      return u + strength * jnp.sign(p).astype(u.dtype) if is_scale else u
    return jax.tree_util.tree_map_with_path(add, updates, params), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def slimming_strength(cfg: Config, steps: int) -> float:
  if cfg.slimming_l1 is not None:
    return cfg.slimming_l1
  schedule = methods.step_schedule(cfg.lr, steps)
  return _LIU_L1_TOTAL / float(sum(schedule(t) for t in range(steps)))


class Runner:
  """Holds the data, model, topology and the compiled steps shared by all runs."""

  def __init__(self, cfg: Config):
    self.cfg = cfg
    self.data = load_data(cfg)
    self.model = models.ResNet20(num_classes=self.data.num_classes, width=cfg.width)
    self.topology = topologies.resnet20_topology(cfg.width)
    self.steps_per_epoch = self.data.steps_per_epoch(cfg.batch_size)
    self.total = cfg.epochs * self.steps_per_epoch
    self.half = self.total // 2
    self._steps = {}
    # A data set with an on-device transform (CIFAR-10: normalisation, augmentation).
    transform = getattr(self.data, "transform", None)
    self._transform = {"transform": transform} if transform is not None else {}
    self._apply = jax.jit(functools.partial(self.model.apply, train=False))
    self._select = jax.jit(lambda p, t: optax_swd.select_channels(
        p, self.topology, t, allocation=cfg.allocation))

  def _sgd(self, horizon, *extra):
    schedule = methods.step_schedule(self.cfg.lr, horizon)
    return optax.chain(optax.add_decayed_weights(self.cfg.weight_decay), *extra,
                       optax.sgd(schedule, momentum=self.cfg.momentum))

  def _step(self, key: str):
    """(tx, jitted step) of one phase kind, built once and shared by all runs."""
    if key not in self._steps:
      cfg = self.cfg
      if key == "dense":
        tx = self._sgd(self.total)
      elif key in ("swd", "swd_f"):
        swd = optax.inject_hyperparams(lambda target: optax_swd.structured_swd(
            target, topology=self.topology, weight_decay=cfg.weight_decay,
            a_min=cfg.a_min, a_max=cfg.a_max, total_steps=self.total,
            decay_kernels=key == "swd_f", allocation=cfg.allocation))(target=0.5)
        tx = self._sgd(self.total, swd)
      elif key == "slimming":
        tx = self._sgd(self.half, l1_on_gamma(slimming_strength(cfg, self.half)))
      elif key == "magnitude":
        tx = self._sgd(self.half)
      elif key == "fine-tune":
        tx = self._sgd(self.total - self.half)
      else:
        raise ValueError(key)
      self._steps[key] = (tx, jax.jit(functools.partial(
          train.train_step, model=self.model, tx=tx, **self._transform)))
    return self._steps[key]

  def _train(self, state, key, steps, shuffle, rng, target=None):
    tx, step_fn = self._step(key)
    opt_state = tx.init(state.params)
    if target is not None:  # the injected structured_swd target
      opt_state[1].hyperparams["target"] = jnp.float32(target)
    state = state.replace(opt_state=opt_state)
    done = 0
    while done < steps:
      for batch in self.data.train_batches(shuffle, self.cfg.batch_size):
        state, _ = step_fn(state, batch, rng)
        done += 1
        if done == steps:
          break
    return state

  def _evaluate(self, apply_fn, params, stats, split, limit=None):
    """(accuracy, logits) on ``split``, or on its first ``limit`` images (rounded up to
    the evaluation batch of 1000)."""
    correct, total, logits = 0.0, 0.0, []
    for batch in self.data.eval_batches(split, 1000):
      if limit is not None and total >= limit:
        break
      inputs = batch["inputs"]
      if self._transform:
        inputs = self._transform["transform"](None, inputs, False)
      out = apply_fn({"params": params, "batch_stats": stats}, *inputs)
      w = np.asarray(batch["weights"])
      correct += float(np.sum((np.argmax(out, -1) == np.asarray(batch["labels"])) * w))
      total += float(np.sum(w))
      logits.append(np.asarray(out)[w > 0])
    return correct / total, np.concatenate(logits)

  def run(self, method: str, target: float, seed: int) -> dict:
    start = time.perf_counter()
    init_rng, rng = jax.random.split(jax.random.PRNGKey(seed))
    shuffle = np.random.default_rng(seed)
    params, stats = train.init_variables(self.model, self.data, init_rng)
    state = train.TrainState(step=jnp.zeros([], jnp.int32), params=params,
                             batch_stats=stats, opt_state=None)
    record = {"method": method, "target": target, "seed": seed, "data": self.cfg.data,
              "epochs": self.cfg.epochs, "steps": self.total}
    if method in ("dense", "swd", "swd_f"):
      state = self._train(state, method, self.total, shuffle, rng,
                          None if method == "dense" else target)
      if method == "dense":
        record["test_accuracy"] = self._evaluate(self._apply, state.params,
                                                 state.batch_stats, "test")[0]
        record["num_params"] = sum(x.size for x in jax.tree.leaves(state.params))
        record["seconds"] = time.perf_counter() - start
        return record
      record["test_accuracy_before_cut"] = self._evaluate(
          self._apply, state.params, state.batch_stats, "test")[0]
      removed = np.asarray(self._select(state.params, jnp.float32(target)).removed)
    else:
      state = self._train(state, method, self.half, shuffle, rng)
      removed = np.asarray(self._select(state.params, jnp.float32(target)).removed)
      ones = jax.tree.map(jnp.ones_like, state.params)
      keep = jax.tree.map(lambda k: k != 0,
                          optax_swd.prune_channels(ones, self.topology, removed))
      state = state.replace(params=optax_swd.prune_channels(state.params, self.topology,
                                                            removed), keep=keep)
      record["test_accuracy_before_fine_tune"] = self._evaluate(
          self._apply, state.params, state.batch_stats, "test")[0]
      state = self._train(state, "fine-tune", self.total - self.half, shuffle, rng)
    pruned = optax_swd.prune_channels(state.params, self.topology, removed)
    if self.cfg.val:
      record["val_accuracy"] = self._evaluate(self._apply, pruned, state.batch_stats,
                                              "val")[0]
    # The shrunk network is the result: its accuracy on the whole test split; the masked
    # full network is compared with it on the first ``check_images`` test images.
    shrunk = optax_swd.shrink(pruned, state.batch_stats, self.topology, removed)
    small = models.ResNet20(num_classes=self.data.num_classes, width=self.cfg.width,
                            widths=topologies.resnet20_widths(shrunk.widths, self.cfg.width))
    small_acc, small_logits = self._evaluate(
        jax.jit(functools.partial(small.apply, train=False)), shrunk.params,
        shrunk.batch_stats, "test")
    masked_acc, full_logits = self._evaluate(self._apply, pruned, state.batch_stats,
                                             "test", self.cfg.check_images)
    record["test_accuracy"] = small_acc
    record["masked_test_accuracy"] = masked_acc
    record["checked_images"] = len(full_logits)
    total_params = sum(x.size for x in jax.tree.leaves(state.params))
    kept = sum(x.size for x in jax.tree.leaves(shrunk.params))
    record.update(
        shrunk_max_logit_diff=float(np.max(np.abs(small_logits[:len(full_logits)]
                                                  - full_logits))),
        num_params=total_params, shrunk_params=kept,
        params_removed=1.0 - kept / total_params,
        channels_removed=float(np.mean(removed)),
        widths=list(small.widths.stages) + list(small.widths.inner),
        seconds=time.perf_counter() - start)
    return record


def _done(path: pathlib.Path) -> set:
  if not path.exists():
    return set()
  out = set()
  for line in path.read_text().splitlines():
    r = json.loads(line)
    out.add((r["method"], r["target"], r["seed"]))
  return out


def report(out: pathlib.Path) -> None:
  """results.md (mean and std of test accuracy over seeds) and accuracy.png."""
  records = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines()]
  dense = [r["test_accuracy"] for r in records if r["method"] == "dense"]
  rows = {}
  for r in records:
    if r["method"] != "dense":
      rows.setdefault((r["method"], r["target"]), []).append(r)
  targets = sorted({t for _, t in rows})
  names = [m for m in METHODS if m != "dense" and any(k[0] == m for k in rows)]
  lines = [f"Test accuracy (%) after the structured cut, mean ± std over seeds (n); "
           f"dense reference {100 * np.mean(dense):.2f} ± {100 * np.std(dense):.2f} "
           f"(n={len(dense)}).", "",
           "| params removed | " + " | ".join(names) + " |",
           "|---|" + "---|" * len(names)]
  for t in targets:
    cells = []
    for m in names:
      rs = rows.get((m, t), [])
      accs = 100 * np.array([r["test_accuracy"] for r in rs])
      cells.append(f"{accs.mean():.2f} ± {accs.std():.2f} (n={len(rs)})" if rs else "-")
    lines.append(f"| {100 * t:g}% | " + " | ".join(cells) + " |")
  lines += ["", "Measured fraction of parameters removed (shrunk network) and the "
            "largest |logit| difference between the shrunk and the masked network:", "",
            "| method | target | params removed (min..max) | max logit diff |",
            "|---|---|---|---|"]
  for (m, t), rs in sorted(rows.items()):
    pr = [r["params_removed"] for r in rs]
    lines.append(f"| {m} | {100 * t:g}% | {100 * min(pr):.2f}..{100 * max(pr):.2f}% | "
                 f"{max(r['shrunk_max_logit_diff'] for r in rs):.1e} |")
  # Accuracy at the cut and at the end, per method: SWD's cost of the cut itself, and the
  # one-shot baselines' recovery through fine-tuning.
  stages = (
      (("swd", "swd_f"), "test_accuracy_before_cut",
       "test accuracy before the cut, mean over seeds (the cut's cost is the difference)",
       "before", "after"),
      (("slimming", "magnitude"), "test_accuracy_before_fine_tune",
       "test accuracy right after the cut (before fine-tuning) and at the end, mean over "
       "seeds", "after the cut", "after fine-tuning"))
  for names, field, title, first, last in stages:
    for name in names:
      runs = [r for r in records if r["method"] == name]
      if not runs:
        continue
      lines += ["", f"{name}{'' if name.startswith('swd') else ':'} {title}:", ""]
      for t in targets:
        b = [100 * r[field] for r in runs if r["target"] == t]
        a = [100 * r["test_accuracy"] for r in runs if r["target"] == t]
        if b:
          lines.append(f"- {100 * t:g}%: {first} {np.mean(b):.2f}, {last} {np.mean(a):.2f}")
  (out / "results.md").write_text("\n".join(lines) + "\n")
  print("\n".join(lines))

  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig, ax = plt.subplots(figsize=(6, 4))
  xs = np.arange(len(targets))
  for m in names:
    means = [100 * np.mean([r["test_accuracy"] for r in rows.get((m, t), [])] or [np.nan])
             for t in targets]
    stds = [100 * np.std([r["test_accuracy"] for r in rows.get((m, t), [])] or [np.nan])
            for t in targets]
    ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=m)
  if dense:
    ax.axhline(100 * np.mean(dense), color="gray", linestyle="--", label="dense")
  ax.set_xticks(xs, [f"{100 * t:g}%" for t in targets])
  ax.set_xlabel("parameters removed (shrunk network)")
  ax.set_ylabel("test accuracy (%)")
  ax.set_title(f"ResNet-20, {records[0]['data']}, {records[0]['epochs']} epochs "
               f"({records[0]['steps']} steps)")
  ax.legend()
  fig.tight_layout()
  fig.savefig(out / "accuracy.png", dpi=120)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data", default="digits", choices=DATA)
  parser.add_argument("--data-dir", default=None)
  parser.add_argument("--epochs", type=int, default=20)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--lr", type=float, default=0.1)
  parser.add_argument("--width", type=int, default=16)
  parser.add_argument("--a-max", type=float, default=1e5)
  parser.add_argument("--slimming-l1", type=float, default=None)
  parser.add_argument("--methods", default=",".join(METHODS))
  parser.add_argument("--targets", default=",".join(map(str, TARGETS)))
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--no-val", action="store_true",
                      help="skip the validation split's evaluation (saves time)")
  parser.add_argument("--check-images", type=int, default=None,
                      help="compare the masked full and the shrunk network on the first N "
                           "test images only (default: all)")
  parser.add_argument("--allocation", default="global", choices=("global", "uniform"),
                      help="how the channel selection spreads the removals over the "
                           "groups (optax_swd.select_channels)")
  parser.add_argument("--out", default="benchmarks/results/structured")
  parser.add_argument("--report", action="store_true", help="only write the report")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  if args.report:
    report(out)
    return
  cfg = Config(data=args.data, data_dir=args.data_dir, width=args.width,
               epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
               a_max=args.a_max, slimming_l1=args.slimming_l1, val=not args.no_val,
               check_images=args.check_images, allocation=args.allocation)
  if args.check_images is not None and args.check_images < 1:
    parser.error(f"--check-images must be >= 1, got {args.check_images}")
  runner = Runner(cfg)
  path = out / "results.jsonl"
  done = _done(path)
  method_list = args.methods.split(",")
  for name in method_list:
    if name not in METHODS:
      raise ValueError(f"--methods: unknown {name!r}; choose from {METHODS}")
  for seed in map(int, args.seeds.split(",")):
    for target in map(float, args.targets.split(",")):
      for method in method_list:
        t = 0.0 if method == "dense" else target
        if (method, t, seed) in done:
          continue
        record = runner.run(method, t, seed)
        record["config"] = dataclasses.asdict(cfg)
        with open(path, "a", encoding="utf-8") as f:
          f.write(json.dumps(record) + "\n")
        done.add((method, t, seed))
        print(json.dumps({k: v for k, v in record.items() if k != "config"}), flush=True)


if __name__ == "__main__":
  main()
