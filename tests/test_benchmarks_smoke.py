"""The benchmark suite's smoke run: tiny sizes, no thresholds, only "it runs and reports".

Benchmarks are not tests; this only keeps ``benchmarks/run.py --smoke`` from rotting: it must
exit 0 and write valid JSON holding every case (and a markdown table).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "server",
    "import",
    "nonstream",
    "stream",
    "concurrent",
    "async",
    "connection_reuse",
    "config",
    "format",
    "peers",
}


def test_benchmark_smoke_run(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--out", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    data = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert data["mode"] == "smoke"
    assert set(data["case_names"]) == CASES
    assert set(data["cases"]) == CASES
    assert data["failed"] == []
    for name, case in data["cases"].items():
        assert isinstance(case, dict) and case.get("status") != "error", name
    assert data["cases"]["peers"]["status"] == "skipped"

    stream = data["cases"]["stream"]["sizes"]
    for entry in stream.values():
        for consumer in ("raw", "wrapper_stream", "wrapper_deltas", "prototype"):
            assert entry[consumer]["us_per_chunk"] > 0
            assert entry[consumer]["ttft"]["n"] == entry["streams_per_round"] * entry[consumer]["n"]
    assert data["targets"] and all(isinstance(t["pass"], bool) for t in data["targets"])
    assert "### Targets" in (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "PASS" in proc.stdout or "MISS" in proc.stdout
