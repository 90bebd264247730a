"""Multi-agent experiments declared in YAML and run without Python.

::

    from agentscope_legacy import experiment
    result = experiment.load("examples/debate.yaml", overrides=["rounds=2"]).run()
    result.final, result.run_dir

See :func:`load` for the file format entry point and ``agentscope-legacy run --help``.
"""

from __future__ import annotations

from .conditions import evaluate
from .core import Experiment, RunResult, load
from .document import ExperimentIssue

__all__ = ["Experiment", "ExperimentIssue", "RunResult", "evaluate", "load"]
