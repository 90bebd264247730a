"""Experiment sweeps: one experiment run over a grid of values and repeats, in parallel on
worker processes (``local``) or as Ray tasks (``ray``), its ``metrics:`` collected per run.

::

    from agentscope_legacy import sweep
    plan = sweep.plan("examples/debate.yaml", grid={"rounds": [1, 2]}, repeat=3)
    result = sweep.run_sweep(plan, jobs=4)
    print(result.summary)          # per grid point: runs ok/failed, mean ± sd of each metric

The sweep directory's layout is in :mod:`agentscope_legacy.sweep.runner`; the command is
``agentscope-legacy sweep --help``.
"""

from __future__ import annotations

from .grid import RunSpec, SweepPlan, parse_grid_option, plan
from .runner import SweepResult, run_sweep

__all__ = ["RunSpec", "SweepPlan", "SweepResult", "parse_grid_option", "plan", "run_sweep"]
