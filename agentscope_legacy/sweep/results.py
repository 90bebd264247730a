"""A sweep's records: ``results.jsonl`` (appended as each run ends, so a killed driver loses
nothing finished), then ``results.csv`` and the summary (mean and spread per grid point)."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from ..monitor import write_atomic

RESULTS = "results.jsonl"


def append(sweep_dir: Path, record: dict[str, Any]) -> None:
    with open(sweep_dir / RESULTS, "a", encoding="utf-8") as file:
        file.write(json.dumps(record, ensure_ascii=False) + "\n")


def read(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """The last record of each run (a line cut short by a killed driver is skipped)."""
    records: dict[str, dict[str, Any]] = {}
    path = sweep_dir / RESULTS
    if not path.exists():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("run"), str):
            records[record["run"]] = record
    return records


def write_all(sweep_dir: Path, order: list[str], records: dict[str, dict[str, Any]],
              grid: list[str]) -> str:
    """Rewrite ``results.jsonl`` (one line per run, in plan order), write ``results.csv``,
    ``summary.csv`` and ``summary.txt``; returns the summary table."""
    done = [records[r] for r in order if r in records]
    write_atomic(sweep_dir / RESULTS,
                 "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in done))
    metrics = _metric_names(done)
    head = ["run", "point", "repeat", "seed", *grid, "status", "attempts", "seconds",
            *metrics, "total_tokens", "error"]
    rows = [[r["run"], r["point"], r["repeat"], r["seed"],
             *(_cell(r["values"].get(g)) for g in grid), r["status"], r.get("attempts", 1),
             r.get("seconds"), *(_cell(r.get("metrics", {}).get(m)) for m in metrics),
             (r.get("usage") or {}).get("total_tokens"), r.get("error") or ""] for r in done]
    write_atomic(sweep_dir / "results.csv", _csv(head, rows))
    head, rows = summary_rows(done, grid, metrics)
    write_atomic(sweep_dir / "summary.csv", _csv(head, rows))
    table = format_table(head, rows)
    write_atomic(sweep_dir / "summary.txt", table + "\n")
    return table


def summary_rows(done: list[dict[str, Any]], grid: list[str], metrics: list[str]
                 ) -> tuple[list[str], list[list[str]]]:
    """One row per grid point: runs ok/failed, then each metric over its successful runs:
    ``mean ± sd`` for numbers (true counts as 1), the most common value for others."""
    points: dict[int, list[dict[str, Any]]] = {}
    for record in done:
        points.setdefault(record["point"], []).append(record)
    head = [*grid, "ok", "failed", "seconds", *metrics]
    rows = []
    for _, runs in sorted(points.items()):
        ok = [r for r in runs if r["status"] == "ok"]
        row = [_cell(runs[0]["values"].get(g)) for g in grid]
        row += [str(len(ok)), str(len(runs) - len(ok)),
                _spread([r.get("seconds") for r in ok])]
        row += [_spread([r.get("metrics", {}).get(m) for r in ok]) for m in metrics]
        rows.append(row)
    return head, rows


def _spread(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return ""
    if all(isinstance(v, (int, float)) for v in present):  # bools too: a rate
        numbers = [float(v) for v in present]
        mean = statistics.fmean(numbers)
        sd = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
        return f"{mean:.3g} ± {sd:.2g}"
    value, count = Counter(_cell(v) for v in present).most_common(1)[0]
    return f"{value} ({count}/{len(present)})"


def format_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [head, *rows]]
    return "\n".join(lines)


def _metric_names(done: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for record in done:
        names.update(dict.fromkeys(record.get("metrics") or {}))
    return list(names)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _csv(head: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(rows)
    return buffer.getvalue()
