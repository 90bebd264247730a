"""Record and replay: answer a run's model calls from the record of an earlier run.

Every experiment run records each call (``invocations.jsonl``: request, reply, usage; keys
redacted; a stream's pieces in order) and which experiment it was (``record.json``)::

    agentscope-legacy run examples/debate.yaml --replay runs/run_<time>_debate/
    experiment.load("examples/debate.yaml").run(replay="runs/run_<time>_debate/")

    with replay.replaying("runs/my_run/"):      # any code calling 0.x wrappers
        model(messages)

Calls are matched by ``config_name`` and the request key (``request_key``: a hash of the
normalised request; see ``_key``); streams are replayed piece by piece, usage as recorded. A
request the record lacks raises :class:`ReplayMismatchError` naming the first difference
(``missing="error"``) or goes to the model (``missing="call"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._experiment import (
    RECORD_FILE,
    check_same_experiment,
    fingerprint,
    override_strings,
    recorded_overrides,
    replay_runs,
    run_dirs,
    write_record,
)
from ._key import normalise, request_key
from ._record import MISSING_CHOICES, Recording, ReplayError, ReplayMismatchError

__all__ = [
    "MISSING_CHOICES",
    "RECORD_FILE",
    "Recording",
    "ReplayError",
    "ReplayMismatchError",
    "check_same_experiment",
    "fingerprint",
    "normalise",
    "override_strings",
    "recorded_overrides",
    "replay_runs",
    "replaying",
    "request_key",
    "run_dirs",
    "write_record",
]


@contextmanager
def replaying(run_dir: str | Path, missing: str = "error") -> Iterator[Recording]:
    """Answer every 0.x wrapper call (and so every newer-layer chat model's) from the record
    in ``run_dir`` while the block runs; yields the :class:`Recording` (its counts)."""
    from ..models._base import set_interceptor

    recording = Recording(run_dir, missing=missing)
    previous = set_interceptor(recording)
    try:
        yield recording
    finally:
        set_interceptor(previous)
