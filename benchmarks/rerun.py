"""Command line: rerun the records of sweep folders with the current code, and compare.

Usage::

    python -m benchmarks.rerun DIR [DIR ...] --data-dir ../shared/data [--replace]
        [--summary FILE.md]

For every record of ``DIR/results.jsonl`` the run's full configuration is rebuilt from
the record (and checked against its key), run again in this process, and its test and
validation accuracy compared with the record's. One line per run goes to stdout and, as a
table, to ``--summary``. The new records go to ``DIR/rerun.jsonl``; with ``--replace``
they also replace ``DIR/results.jsonl`` and the folder's summary files are rewritten, so
that every number in it comes from one version of the code. Use it after a change to the
library or the harness, or to check that a folder's records reproduce.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
from typing import Sequence

from benchmarks import configs
from benchmarks import sweep

PROG = "python -m benchmarks.rerun"
RERUN = "rerun.jsonl"


def config_of(record: dict) -> configs.RunConfig:
  """The configuration a sweep record was run with.

  Raises:
    ValueError: the record lacks a field, or the rebuilt configuration's key differs
      from the record's (the record was not written by :mod:`benchmarks.sweep`).
  """
  values = {}
  for field in dataclasses.fields(configs.RunConfig):
    name = {"benchmark": "dataset", "sparsity": "sparsity_target"}.get(field.name,
                                                                       field.name)
    if name in record:
      values[field.name] = record[name]
    elif field.name in configs.LATER_FIELD_DEFAULTS:
      values[field.name] = configs.LATER_FIELD_DEFAULTS[field.name]
    else:
      raise ValueError(f"record {record.get('key')!r} has no field {name!r}")
  config = configs.RunConfig(**values)
  if "key" in record and sweep.config_key(config) != record["key"]:
    raise ValueError(f"record {record['key']!r}: the configuration rebuilt from it has "
                     f"key {sweep.config_key(config)!r}")
  return config


def rerun_folder(folder: pathlib.Path, data_dir, loaded: dict,
                 replace: bool) -> list[dict]:
  """Reruns every record of ``folder``; returns one comparison row per record."""
  records = sweep.read_records(folder / sweep.RESULTS)
  new_records, rows = [], []
  for old in records:
    config = config_of(old)
    new = sweep.run_keyed(config, folder, loaded, data_dir)
    new_records.append(new)
    row = {"folder": str(folder), "method": sweep.variant(new),
           "sparsity": config.sparsity, "seed": config.seed,
           "test_before": old["test_accuracy"], "test_now": new["test_accuracy"],
           "val_before": old["val_accuracy"], "val_now": new["val_accuracy"]}
    rows.append(row)
    print(json.dumps(row), flush=True)
  with open(folder / RERUN, "w", encoding="utf-8") as f:
    f.writelines(json.dumps(r) + "\n" for r in new_records)
  if replace and new_records:
    (folder / sweep.RESULTS).write_text(
        "".join(json.dumps(r) + "\n" for r in new_records), encoding="utf-8")
    sweep.write_reports(new_records, folder)
  return rows


def _fmt(value) -> str:
  return "NaN" if value != value else f"{value:.4f}"  # pylint: disable=comparison-with-itself


def write_summary(rows: Sequence[dict], path: pathlib.Path) -> None:
  """A markdown table of the comparison, changed runs marked."""
  changed = [r for r in rows if (r["test_before"], r["val_before"]) != (r["test_now"],
                                                                        r["val_now"])]
  lines = [f"{len(rows)} runs rerun, {len(rows) - len(changed)} identical, "
           f"{len(changed)} changed.", "",
           "| folder | method | sparsity | seed | test before | test now | val before "
           "| val now | |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
  for r in rows:
    mark = "changed" if r in changed else ""
    lines.append(f"| {r['folder']} | {r['method']} | {r['sparsity']:g} | {r['seed']} | "
                 f"{_fmt(r['test_before'])} | {_fmt(r['test_now'])} | "
                 f"{_fmt(r['val_before'])} | {_fmt(r['val_now'])} | {mark} |")
  path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
  parser.add_argument("folders", nargs="+", type=pathlib.Path, metavar="DIR",
                      help="sweep output folders (each with a results.jsonl)")
  parser.add_argument("--data-dir", default=None, help="local data root")
  parser.add_argument("--replace", action="store_true",
                      help="replace results.jsonl (and its summaries) by the new records")
  parser.add_argument("--summary", type=pathlib.Path, default=None,
                      help="write the comparison as a markdown table here")
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  for folder in args.folders:
    if not (folder / sweep.RESULTS).is_file():
      print(f"{PROG}: error: {folder} has no {sweep.RESULTS}", file=sys.stderr)
      return 2
  loaded, rows = {}, []
  for folder in args.folders:
    rows += rerun_folder(folder, args.data_dir, loaded, args.replace)
  if args.summary is not None:
    write_summary(rows, args.summary)
  return 0


if __name__ == "__main__":
  sys.exit(main())
