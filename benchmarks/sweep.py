"""Command line for a grid of runs: methods x sparsities x seeds, resumable.

Usage::

    python -m benchmarks.sweep DATASET --methods swd gmp ... --sparsities 0.5 0.9 ...
        --seeds 0 1 2 --out DIR [any other flag of benchmarks.run, e.g. --epochs 50]

The runs execute in this process, one after the other, with the data loaded once. Each
finished run appends its record (the JSON object :mod:`benchmarks.run` prints, plus a
``key``) to ``DIR/results.jsonl`` at once, so an interrupted sweep loses at most the run
in progress; a rerun skips every run whose key (the hash of its full configuration:
method, sparsity, seed and all hyper-parameters) is already there. ``dense`` has no
target sparsity: it runs once per seed, as the reference.

At the end, from every record in ``DIR/results.jsonl``:

* ``DIR/results.csv``: one row per run;
* ``DIR/results.md``: test accuracy mean ± std (over seeds) per method and sparsity;
* ``DIR/accuracy.png``: test accuracy against the fraction of weights kept (log scale),
  mean and ±1 std band per method, dense as a horizontal band.

Per-run metric logs go to ``DIR/logs/``. Use one ``DIR`` per configuration: records of
different hyper-parameters written into the same ``DIR`` are summarised together.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import pathlib
import statistics
import sys
from typing import Iterable, Sequence

from tqdm import tqdm

from benchmarks import configs
from benchmarks import data as data_lib
from benchmarks import methods
from benchmarks import run as run_lib

PROG = "python -m benchmarks.sweep"
RESULTS = "results.jsonl"
FIRST_COLUMNS = ("dataset", "method", "sparsity_target", "seed", "sparsity_measured",
                 "test_accuracy", "val_accuracy", "epochs", "seconds", "model",
                 "optimizer", "lr")


def config_key(config: configs.RunConfig) -> str:
  """A short stable hash of the full configuration of a run.

  Fields added after the first sweeps are left out at their old implicit values
  (:data:`benchmarks.configs.LATER_FIELD_DEFAULTS`), so earlier records keep their keys.
  """
  fields = {k: v for k, v in config.to_dict().items()
            if not (k in configs.LATER_FIELD_DEFAULTS
                    and v == configs.LATER_FIELD_DEFAULTS[k])}
  text = json.dumps(fields, sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_records(path: pathlib.Path) -> list[dict]:
  """The records of a results file (a truncated last line, from a crash, is skipped)."""
  if not path.is_file():
    return []
  records = []
  for line in path.read_text(encoding="utf-8").splitlines():
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError:
      continue
  return records


def grid(dataset: str, method_names: Sequence[str], sparsities: Sequence[float],
         seeds: Sequence[int], base: argparse.Namespace) -> list[configs.RunConfig]:
  """The distinct run configurations of the grid (dense once per seed)."""
  seen, result = set(), []
  for method in method_names:
    for sparsity in sparsities:
      for seed in seeds:
        args = argparse.Namespace(**vars(base))
        args.dataset, args.method, args.sparsity, args.seed = dataset, method, sparsity, seed
        config = run_lib.config_from_args(args)
        key = config_key(config)
        if key not in seen:
          seen.add(key)
          result.append(config)
  return result


def run_keyed(config: configs.RunConfig, out: pathlib.Path, loaded: dict, data_dir=None
              ) -> dict:
  """Runs one configuration, its log in ``out/logs``; returns its record with its ``key``.

  ``loaded`` caches the data sets by name across calls (loaded on first use).
  """
  if config.data not in loaded:
    loaded[config.data] = data_lib.load(config.data, data_dir)
  key = config_key(config)
  record = run_lib.run(config, data=loaded[config.data],
                       log_path=out / "logs" / f"{key}_{run_lib.log_name(config)}")
  record["key"] = key
  return record


def sweep(configs_to_run: Iterable[configs.RunConfig], out: pathlib.Path, *,
          data_dir=None, progress: bool = True) -> list[dict]:
  """Runs every configuration not yet in ``out/results.jsonl``; returns all records."""
  out.mkdir(parents=True, exist_ok=True)
  results_path = out / RESULTS
  done = {r.get("key") for r in read_records(results_path)}
  todo = [c for c in configs_to_run if config_key(c) not in done]
  loaded: dict[str, data_lib.Dataset] = {}
  bar = tqdm(todo, desc="sweep", unit="run", disable=not progress)
  for config in bar:
    record = run_keyed(config, out, loaded, data_dir)
    with open(results_path, "a", encoding="utf-8") as f:
      f.write(json.dumps(record) + "\n")
    if progress:
      bar.write(f"{config.method} s={config.sparsity:g} seed={config.seed}: test "
                f"{record['test_accuracy']:.4f}, sparsity {record['sparsity_measured']:.4f},"
                f" {record['seconds']:.1f}s", file=sys.stderr)
  return read_records(results_path)


def _mean_std(values: list[float]) -> tuple[float, float]:
  mean = statistics.fmean(values)
  return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def variant(record: dict) -> str:
  """The method's name with its non-default SWD form/selection options, e.g.
  ``swd[proximal,layer_normalized]``: runs of different variants are summarised apart."""
  options = []
  if record["method"] == "swd":
    if record.get("swd_form", "gradient") != "gradient":
      options.append(record["swd_form"])
    if record.get("swd_ramp", 1.0) != 1.0:
      options.append(f"ramp{record['swd_ramp']:g}")
    if record.get("swd_freeze", 0.0):
      options.append(f"freeze{record['swd_freeze']:g}")
    if record.get("swd_gradual", False):
      options.append("gradual")
  if record["method"] != "dense":
    for name in ("scope", "score"):
      if record.get(name, configs.LATER_FIELD_DEFAULTS[name]) != (
          configs.LATER_FIELD_DEFAULTS[name]):
        options.append(record[name])
    if record.get("min_kept", 0):
      options.append(f"min_kept{record['min_kept']}")
  return f"{record['method']}[{','.join(options)}]" if options else record["method"]


def summarise(records: Sequence[dict]) -> list[dict]:
  """Mean and std over seeds of each (variant, sparsity_target), sorted."""
  groups: dict[tuple, list[dict]] = {}
  for r in records:
    groups.setdefault((variant(r), float(r["sparsity_target"])), []).append(r)
  order = {m: i for i, m in enumerate(methods.METHODS)}
  rows = []
  for (method, sparsity), rs in sorted(
      groups.items(), key=lambda kv: (order.get(kv[0][0].split("[")[0], 99), kv[0])):
    test_mean, test_std = _mean_std([r["test_accuracy"] for r in rs])
    val_mean, val_std = _mean_std([r["val_accuracy"] for r in rs])
    rows.append({
        "method": method, "sparsity_target": sparsity, "kept": 1.0 - sparsity,
        "runs": len(rs), "test_mean": test_mean, "test_std": test_std,
        "val_mean": val_mean, "val_std": val_std,
        "sparsity_measured": statistics.fmean(r["sparsity_measured"] for r in rs),
        "seconds": statistics.fmean(r["seconds"] for r in rs),
    })
  return rows


def write_csv(records: Sequence[dict], path: pathlib.Path) -> None:
  columns = list(FIRST_COLUMNS)
  for r in records:
    columns.extend(k for k in r if k not in columns)
  rows = sorted(records, key=lambda r: (r["method"], r["sparsity_target"], r["seed"]))
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)


def write_markdown(rows: Sequence[dict], path: pathlib.Path, title: str) -> None:
  lines = [f"# {title}", "",
           "Test and validation accuracy: mean ± std over seeds (sample std).", "",
           "| method | sparsity | kept | runs | test accuracy | val accuracy | "
           "measured sparsity | seconds |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
  for r in rows:
    lines.append(
        f"| {r['method']} | {r['sparsity_target']:.4g} | {r['kept']:.4g} | {r['runs']} | "
        f"{r['test_mean']:.4f} ± {r['test_std']:.4f} | "
        f"{r['val_mean']:.4f} ± {r['val_std']:.4f} | {r['sparsity_measured']:.4f} | "
        f"{r['seconds']:.1f} |")
  path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot(rows: Sequence[dict], path: pathlib.Path, title: str) -> None:
  """Test accuracy vs fraction kept (log x axis, sparser to the right)."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  import matplotlib.ticker  # pylint: disable=import-outside-toplevel

  fig, ax = plt.subplots(figsize=(7, 4.5))
  by_method: dict[str, list[dict]] = {}
  for r in rows:
    by_method.setdefault(r["method"], []).append(r)
  for method, rs in by_method.items():
    if method == "dense":
      r = rs[0]
      line = ax.axhline(r["test_mean"], color="black", linestyle="--", linewidth=1,
                        label=f"dense ({r['runs']} runs)")
      ax.axhspan(r["test_mean"] - r["test_std"], r["test_mean"] + r["test_std"],
                 color=line.get_color(), alpha=0.1)
      continue
    rs = sorted(rs, key=lambda r: r["kept"], reverse=True)
    kept = [r["kept"] for r in rs]
    mean = [r["test_mean"] for r in rs]
    std = [r["test_std"] for r in rs]
    (line,) = ax.plot(kept, mean, marker="o", label=method)
    ax.fill_between(kept, [m - s for m, s in zip(mean, std)],
                    [m + s for m, s in zip(mean, std)], color=line.get_color(), alpha=0.2)
  ax.set_xscale("log")
  ticks = sorted({r["kept"] for r in rows if r["method"] != "dense"}, reverse=True)
  if ticks:
    ax.set_xticks(ticks, [f"{100 * k:.3g}%" for k in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
  ax.invert_xaxis()
  ax.set_xlabel("fraction of prunable weights kept (log scale)")
  ax.set_ylabel("test accuracy")
  ax.set_title(title)
  ax.grid(True, which="both", alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def write_reports(records: Sequence[dict], out: pathlib.Path) -> list[dict]:
  """results.csv, results.md and accuracy.png from the records; returns the summary."""
  rows = summarise(records)
  datasets = sorted({r["dataset"] for r in records})
  title = f"{', '.join(datasets)}: test accuracy vs sparsity"
  write_csv(records, out / "results.csv")
  write_markdown(rows, out / "results.md", title)
  if rows and all(math.isfinite(r["test_mean"]) for r in rows):
    plot(rows, out / "accuracy.png", title)
  return rows


def build_parser() -> argparse.ArgumentParser:
  parser = run_lib.OneLineErrorParser(
      prog=PROG, description="Run a grid of benchmark runs (resumable) and summarise it. "
      "Any other flag of benchmarks.run (e.g. --epochs, --lr, --data-dir) is passed on.")
  parser.add_argument("dataset", choices=configs.NAMES, metavar="DATASET",
                      help=f"one of: {', '.join(configs.NAMES)}")
  parser.add_argument("--methods", nargs="+", choices=methods.METHODS, required=True)
  parser.add_argument("--sparsities", nargs="+", type=run_lib.sparsity_arg,
                      required=True)
  parser.add_argument("--seeds", nargs="+", type=int, default=[0])
  parser.add_argument("--out", required=True, help="output folder")
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  parser = build_parser()
  args, extra = parser.parse_known_args(argv)
  for flag in ("--method", "--sparsity", "--seed", "--log-dir"):
    if any(e == flag or e.startswith(flag + "=") for e in extra):
      parser.error(f"{flag} is set by the sweep itself")
  run_parser = run_lib.build_parser()
  run_parser.prog = PROG
  base = run_parser.parse_args([args.dataset, *extra])
  try:
    todo = grid(args.dataset, args.methods, args.sparsities, args.seeds, base)
  except ValueError as e:
    parser.error(str(e))
  out = pathlib.Path(args.out)
  try:
    records = sweep(todo, out, data_dir=base.data_dir, progress=not base.no_progress)
  except data_lib.DataUnavailableError as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  rows = write_reports(records, out)
  print(json.dumps({"out": str(out), "runs": len(records), "summary": rows}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
