"""``agentscope-legacy sweep``: the CLI's sweep subcommand (cli.py only wires it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_sweep_parser", "sweep_command"]


def add_sweep_parser(sub: Any) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="run an experiment over a grid of values, with repeats, in parallel",
        description="Run an experiment once per grid point and repeat, each run a normal run "
        "with its own directory under runs/sweep_<time>/ (the experiment's run.save_dir), "
        "collecting its `metrics:` into results.jsonl, results.csv and a summary per grid "
        "point. FILE is an experiment, or a sweep file (a mapping with `experiment`, `grid`, "
        "`repeat`, `seed`, `seed_paths`, `set`). Exit codes: 0 every run ok, 1 invalid "
        "input or a failed run, 130 interrupted (Ctrl-C; finish with --resume DIR).",
    )
    sweep.add_argument("file", nargs="?", metavar="FILE",
                       help="the experiment or sweep file (with --resume: taken from the "
                       "sweep directory if left out)")
    sweep.add_argument("--grid", "-g", action="append", default=[], metavar="PATH=V1,V2",
                       help="vary PATH over these values (read as YAML, as --set does), e.g. "
                       "rounds=1,2,3 or agents.judge.model=local,gpt-4o-mini; repeatable: "
                       "the grid is every combination")
    sweep.add_argument("--repeat", "-r", type=int, default=None, metavar="N",
                       help="run each grid point N times (default 1)")
    sweep.add_argument("--seed", type=int, default=None,
                       help="repeat r runs with run.seed = SEED + r (default 0)")
    sweep.add_argument("--seed-path", action="append", default=[], metavar="PATH",
                       help="also set PATH to the repeat's seed, e.g. "
                       "model_configs[0].generate_args.seed; repeatable")
    sweep.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                       help="a fixed override for every run, as `run --set`; repeatable")
    sweep.add_argument("--model-configs", "-m", action="append", metavar="FILE",
                       help="use this model config file instead of the experiment's; "
                       "repeatable")
    sweep.add_argument("--tts-configs", "-t", action="append", metavar="FILE",
                       help="where agents' `tts` configs are; repeatable")
    sweep.add_argument("--jobs", "-j", type=int, default=None,
                       help="runs at once (default: the CPU count; with ray: the cluster's)")
    sweep.add_argument("--executor", choices=("local", "ray"), default=None,
                       help="local: worker processes on this machine (default); ray: each "
                       "run a Ray task (the [ray] extra); with --resume: as the sweep ran "
                       "(and its --address) unless given")
    sweep.add_argument("--address", metavar="ADDRESS",
                       help="with --executor ray: join this Ray cluster (auto: the one on "
                       "this machine) instead of starting a local Ray")
    sweep.add_argument("--resume", metavar="DIR",
                       help="finish the sweep in DIR: runs recorded ok are skipped")
    sweep.add_argument("--save-dir", metavar="DIR",
                       help="make sweep_<time>/ here (default: the experiment's run.save_dir)")
    sweep.add_argument("--dry-run", action="store_true",
                       help="validate every point and list the runs; run nothing")
    sweep.add_argument("--no-progress", action="store_true", help="no progress line")


def sweep_command(args: argparse.Namespace) -> int:
    from ..errors import AgentScopeError, ConfigError
    from .grid import parse_grid_option, plan
    from .runner import print_outcome, read_manifest, run_sweep

    try:
        saved = read_manifest(Path(args.resume)) if args.resume is not None else {}
        executor, address = args.executor, args.address
        if executor is None:
            how = saved.get("executor") if isinstance(saved.get("executor"), dict) else {}
            executor = how.get("kind") if how.get("kind") in ("local", "ray") else "local"
            if executor == "ray" and address is None:
                address = how.get("address")
        if address and executor != "ray":
            raise ConfigError("--address joins a Ray cluster: give --executor ray too")
        if args.jobs is not None and args.jobs < 1:
            raise ConfigError(f"--jobs: expected at least 1, got {args.jobs}")
        grid: dict[str, list[Any]] = {}
        for text in args.grid:
            try:
                path, values = parse_grid_option(text)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            grid[path] = values
        options: dict[str, Any] = {
            "grid": grid, "repeat": args.repeat, "seed": args.seed, "seed_paths": args.seed_path,
            "fixed": args.set, "model_configs": args.model_configs,
            "tts_configs": args.tts_configs}
        file = args.file
        if file is None:
            if args.resume is None:
                raise ConfigError("give the experiment (or sweep) FILE, or --resume DIR")
            file = saved["experiment"]
            options = {"grid": saved["grid"], "repeat": saved["repeat"],
                       "seed": saved.get("seed", 0), "seed_paths": saved.get("seed_paths", []),
                       "fixed": saved.get("set") or {}, "model_configs": saved["model_configs"],
                       "tts_configs": saved["tts_configs"]}
        sweep = plan(file, **options)
    except ConfigError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        print(f"{len(exc.issues)} error(s): nothing was run", file=sys.stderr)
        return 1
    if args.dry_run:
        for run in sweep.runs:
            values = ", ".join(f"{k}={v}" for k, v in run.values.items())
            print(f"{run.run_id}  seed={run.seed}  {values}".rstrip())
        print(f"ok: {len(sweep.runs)} run(s) valid (dry run: no model was called)")
        return 0
    try:
        result = run_sweep(sweep, executor=executor, jobs=args.jobs, address=address,
                           resume=args.resume, save_dir=args.save_dir,
                           progress=not args.no_progress)
    except AgentScopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_outcome(result)
    if result.interrupted:
        print(f"interrupted: {len(result.records)} of {len(sweep.runs)} run(s) done; finish "
              f"with: agentscope-legacy sweep --resume {result.sweep_dir}", file=sys.stderr)
        return 130
    return 1 if result.failed else 0
