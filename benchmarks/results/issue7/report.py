"""Merges the issue-7 sweeps into results.{jsonl,csv,md} and one plot per data set.

Usage: python benchmarks/results/issue7/report.py   (from the repository root)

Reads ``benchmarks/results/issue7/<dataset>/<config>/results.jsonl`` (one sweep per
optimizer and SWD form, see commands.sh), labels each record ``<config>:<variant>``
(e.g. ``swd_sgd_proximal:swd[proximal]``, ``sgd_baselines:gmp``), and writes

* ``results.jsonl`` / ``results.csv``: every record, with its ``label``;
* ``results.md``: per data set, test accuracy mean ± std over seeds per label and
  sparsity, the validation accuracy, the accuracy lost at SWD's final cut, and the
  largest ``|w|`` that cut removed (max over seeds);
* ``<dataset>.png``: test accuracy against the fraction kept, mean ± std.
"""

import collections
import csv
import json
import pathlib
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

from benchmarks import sweep  # pylint: disable=wrong-import-position

HERE = pathlib.Path(__file__).resolve().parent
SPARSITIES = (0.9, 0.99, 0.995, 0.999)


def load() -> list[dict]:
  records = []
  for path in sorted(HERE.glob("*/*/results.jsonl")):
    dataset_dir, config = path.parent.parent.name, path.parent.name
    if dataset_dir in ("tuning", "logs"):
      continue
    if dataset_dir in ("divergence", "diagnostics"):
      config = f"{dataset_dir}/{config}"
    for r in sweep.read_records(path):
      r["config"] = config
      r["label"] = f"{config}:{sweep.variant(r)}"
      records.append(r)
  return records


def _ms(values):
  values = list(values)
  if not values:
    return None
  return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(records):
  groups = collections.defaultdict(list)
  for r in records:
    groups[(r["dataset"], r["label"], float(r["sparsity_target"]))].append(r)
  rows = []
  for (dataset, label, s), rs in sorted(groups.items()):
    row = {"dataset": dataset, "label": label, "sparsity": s, "runs": len(rs),
           "test": _ms(r["test_accuracy"] for r in rs),
           "val": _ms(r["val_accuracy"] for r in rs)}
    if all("test_accuracy_before_prune" in r for r in rs):
      row["cut_drop"] = _ms(r["test_accuracy_before_prune"] - r["test_accuracy"] for r in rs)
    # Records reused from issue 3 predate these two fields.
    # (and a diverged run has none: its selection is undefined).
    cut = [r["selected_max_abs"] for r in rs if r.get("selected_max_abs") is not None]
    row["cut_max_abs"] = max(cut) if cut else None
    finite = [bool(r["params_finite"]) for r in rs if "params_finite" in r]
    row["finite"] = f"{sum(finite)}/{len(finite)}" if finite else None
    rows.append(row)
  return rows


def _fmt(ms, digits=3):
  return "" if ms is None else f"{ms[0]:.{digits}f} ± {ms[1]:.{digits}f}"


def markdown(rows) -> str:
  out = ["# Issue 7: SWD forms and selections vs GMP / magnitude + FT", "",
         "Test accuracy mean ± std over seeds (sample std); val = validation mean; "
         "cut = test accuracy lost at SWD's final hard prune (mean ± std) and the largest "
         "|w| it removed (max over seeds); finite = runs whose params stayed finite.", ""]
  for dataset in sorted({r["dataset"] for r in rows}):
    out += [f"## {dataset}", "",
            "| config:method | sparsity | runs | test | val | cut: acc. lost | "
            "cut: max abs(w) | finite |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in (r for r in rows if r["dataset"] == dataset):
      cut = r.get("cut_drop")
      cut_abs = r["cut_max_abs"]
      out.append(
          f"| {r['label']} | {r['sparsity']:g} | {r['runs']} | {_fmt(r['test'])} | "
          f"{r['val'][0]:.3f} | {_fmt(cut)} | "
          f"{'' if cut_abs is None else format(cut_abs, '.1e')} | "
          f"{r['finite'] or ''} |")
    out.append("")
  return "\n".join(out)


ROWS = (  # (label in the records, name in the wide tables)
    ("sgd_baselines:dense", "dense (SGD)"),
    ("sgd_baselines:gmp", "GMP (SGD)"),
    ("sgd_baselines:magnitude_ft", "magnitude + FT (SGD)"),
    ("sgd_baselines_minkept8:gmp[min_kept8]", "GMP, min_kept 8 (SGD)"),
    ("adam_baselines:dense", "dense (Adam)"),
    ("adam_baselines:gmp", "GMP (Adam)"),
    ("adam_baselines:magnitude_ft", "magnitude + FT (Adam)"),
    ("swd_sgd_gradient:swd", "SWD paper form (SGD, a_max 1e5)"),
    ("swd_sgd_proximal:swd[proximal]", "SWD proximal (SGD, a_max 1e6)"),
    ("swd_best:swd[proximal,min_kept8]", "SWD proximal + min_kept 8 (SGD, a_max 1e6)"),
    ("swd_best_amax1e7:swd[proximal,min_kept8]", "SWD proximal + min_kept 8 (SGD, a_max 1e7)"),
    ("swd_best_amax1e8:swd[proximal,min_kept8]", "SWD proximal + min_kept 8 (SGD, a_max 1e8)"),
    ("swd_best_freeze:swd[proximal,ramp0.5,freeze0.25,min_kept8]",
     "SWD proximal + min_kept 8 + ramp 0.5 + freeze 0.25 (SGD, a_max 1e8)"),
    ("swd_best_gradual:swd[proximal,ramp0.5,freeze0.25,gradual,min_kept8]",
     "SWD proximal + min_kept 8 + ramp 0.5 + GMP's growing target + freeze 0.25 "
     "(SGD, a_max 1e8)"),
    ("sgd_baselines_6ep:gmp", "GMP (SGD), 6 epochs"),
    ("swd_best_freeze_6ep:swd[proximal,ramp0.5,freeze0.25,min_kept8]",
     "SWD proximal + min_kept 8 + ramp 0.5 + freeze 0.25 (SGD, a_max 1e8), 6 epochs"),
    ("sgd_baselines_12ep:gmp", "GMP (SGD), 12 epochs"),
    ("swd_best_freeze_12ep:swd[proximal,ramp0.5,freeze0.25,min_kept8]",
     "SWD proximal + min_kept 8 + ramp 0.5 + freeze 0.25 (SGD, a_max 1e8), 12 epochs"),
    ("swd_adam_gradient:swd", "SWD paper form (Adam, a_max 1e3)"),
    ("swd_adam_proximal:swd[proximal]", "SWD proximal (Adam, a_max 1e7)"),
)


def wide(rows) -> str:
  """Per data set: one row per method, one column per sparsity (test mean ± std, runs)."""
  out = []
  for dataset in sorted({r["dataset"] for r in rows}):
    cells = {(r["label"], r["sparsity"]): r for r in rows if r["dataset"] == dataset}
    out += [f"#### {dataset}", "",
            "| method | " + " | ".join(f"{s:g}" for s in SPARSITIES) + " |",
            "|---|" + "---:|" * len(SPARSITIES)]
    for label, name in ROWS:
      sps = (0.0,) * len(SPARSITIES) if label.endswith("dense") else SPARSITIES
      found = [cells.get((label, s)) for s in sps]
      if not any(found):
        continue
      if label.endswith("dense"):
        found = found[:1]
      out.append(f"| {name} | " + " | ".join(
          "" if r is None else f"{_fmt(r['test'])} ({r['runs']})" for r in found) + " |")
    out.append("")
  return "\n".join(out)


def plot(rows, dataset, path):
  fig, ax = plt.subplots(figsize=(8, 5))
  by_label = collections.defaultdict(list)
  for r in rows:
    if r["dataset"] == dataset:
      by_label[r["label"]].append(r)
  for label, rs in sorted(by_label.items()):
    if label.startswith(("divergence/", "diagnostics/")):
      continue
    if label.endswith(":dense"):
      m, s = rs[0]["test"]
      ax.axhline(m, linestyle="--", linewidth=1, color="gray" if "adam" in label else "k",
                 label=f"{label} {m:.3f}")
      continue
    rs = sorted((r for r in rs if r["sparsity"] in SPARSITIES), key=lambda r: r["sparsity"])
    if not rs:
      continue
    kept = [1 - r["sparsity"] for r in rs]
    mean = [r["test"][0] for r in rs]
    std = [r["test"][1] for r in rs]
    style = "-" if label.startswith("swd") else ":"
    (line,) = ax.plot(kept, mean, style, marker="o", label=label)
    ax.fill_between(kept, [a - b for a, b in zip(mean, std)],
                    [a + b for a, b in zip(mean, std)], color=line.get_color(), alpha=0.12)
  ax.set_xscale("log")
  ax.invert_xaxis()
  ax.set_xticks([1 - s for s in SPARSITIES], [f"{100 * (1 - s):.3g}%" for s in SPARSITIES])
  ax.set_xlabel("fraction of kernel weights kept (log scale)")
  ax.set_ylabel("test accuracy")
  ax.set_title(f"{dataset}: issue 7 (mean ± std over seeds)")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def tuning_table() -> str:
  """Validation accuracy of each tuning sweep (mean over its seeds) per sparsity."""
  groups = collections.defaultdict(list)
  for path in sorted((HERE / "tuning").glob("*/results.jsonl")):
    for r in sweep.read_records(path):
      groups[(path.parent.name, r["sparsity_target"])].append(r)
  names = sorted({n for n, _ in groups})
  sps = sorted({s for _, s in groups})
  out = ["| tuning run (seeds 0-1; cora_*: Cora, mnist_*: LeNet-300-100, 3 epochs) | " + " | ".join(f"val @{s:g}" for s in sps) +
         " | mean | largest cut abs(w) | val lost at the cut (max) |",
         "|---|" + "---:|" * (len(sps) + 3)]
  for name in names:
    cells, means, cut, lost = [], [], [], []
    for s in sps:
      rs = groups.get((name, s), [])
      if not rs:
        cells.append("")
        continue
      v = statistics.fmean(r["val_accuracy"] for r in rs)
      means.append(v)
      cells.append(f"{v:.3f} ({len(rs)})")
      cut += [r["selected_max_abs"] for r in rs if r.get("selected_max_abs") is not None]
      lost += [r["val_accuracy_before_prune"] - r["val_accuracy"] for r in rs]
    out.append(f"| {name} | " + " | ".join(cells) +
               f" | {statistics.fmean(means):.3f} | {max(cut):.1e} | {max(lost):.3f} |")
  return "\n".join(out)


def main():
  records = load()
  with open(HERE / "results.jsonl", "w", encoding="utf-8") as f:
    for r in records:
      f.write(json.dumps(r) + "\n")
  columns = ["dataset", "label", "sparsity_target", "seed", "test_accuracy", "val_accuracy"]
  for r in records:
    columns += [k for k in r if k not in columns]
  with open(HERE / "results.csv", "w", newline="", encoding="utf-8") as f:
    writer = csv.DictWriter(f, fieldnames=columns)
    writer.writeheader()
    writer.writerows(records)
  rows = summarise(records)
  (HERE / "results.md").write_text(markdown(rows) + "\n", encoding="utf-8")
  (HERE / "results_wide.md").write_text(wide(rows) + "\n", encoding="utf-8")
  (HERE / "tuning.md").write_text(tuning_table() + "\n", encoding="utf-8")
  for dataset in sorted({r["dataset"] for r in rows}):
    plot(rows, dataset, HERE / f"{dataset}.png")
  print(f"{len(records)} records, {len(rows)} groups")


if __name__ == "__main__":
  main()
