"""What a sweep runs: the grid (``--grid PATH=v1,v2`` or a sweep file's ``grid:``), repeats
with one seed each, expanded into one :class:`RunSpec` per run and validated per point.

A grid value list is read as a YAML flow sequence, so ``rounds=1,2,3`` gives integers,
``model=local,gpt-4o-mini`` strings and ``topic="a, b",c`` two texts.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ConfigIssue
from ..experiment.document import ExperimentIssue

#: The keys of a sweep file (a mapping with ``experiment``).
SWEEP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["experiment"],
    "additionalProperties": False,
    "properties": {
        "experiment": {"type": "string", "minLength": 1},
        "grid": {
            "type": "object",
            "additionalProperties": {"type": "array", "minItems": 1},
        },
        "repeat": {"type": "integer", "minimum": 1},
        "seed": {"type": "integer"},
        "seed_paths": {"type": "array", "items": {"type": "string"}},
        "set": {"type": ["object", "array"], "items": {"type": "string"}},
    },
}


@dataclass
class RunSpec:
    """One run of the sweep: its id (its directory's name), grid point, repeat and overrides."""

    run_id: str
    point: int
    repeat: int
    seed: int
    values: dict[str, Any]
    overrides: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"run": self.run_id, "point": self.point, "repeat": self.repeat,
                "seed": self.seed, "values": self.values}


@dataclass
class SweepPlan:
    """The whole sweep, ready to run: the experiment, every run, and what each point varies."""

    experiment: str
    runs: list[RunSpec]
    grid: dict[str, list[Any]]
    repeat: int = 1
    fixed: dict[str, Any] = field(default_factory=dict)
    model_configs: list[str] | None = None
    tts_configs: list[str] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    seed_paths: list[str] = field(default_factory=list)
    #: Where ``sweep_<time>/`` goes: the experiment's ``run.save_dir``.
    save_dir: str = "./runs"
    #: The experiment and model config files (the variables they reference reach Ray workers).
    files: list[str] = field(default_factory=list)
    #: The model types of its configs (a local worker preloads their SDKs).
    model_types: list[str] = field(default_factory=list)

    def manifest(self) -> dict[str, Any]:
        """What ``sweep.json`` holds: enough to resume the sweep or replay its runs."""
        return {
            "experiment": self.experiment,
            "grid": self.grid,
            "repeat": self.repeat,
            "seed": self.seed,
            "seed_paths": self.seed_paths,
            "set": self.fixed,
            "model_configs": self.model_configs,
            "tts_configs": self.tts_configs,
            "runs": [{**r.as_json(), "overrides": r.overrides} for r in self.runs],
        }


def parse_grid_option(text: str) -> tuple[str, list[Any]]:
    """``"rounds=1,2,3"`` -> ``("rounds", [1, 2, 3])``; a ValueError says what is wrong."""
    from ..config import parse_yaml_with_locations

    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise ValueError(f"--grid {text!r}: expected PATH=v1,v2,...")
    if not raw.strip():
        raise ValueError(f"--grid {text!r}: no values after '='")
    try:
        values = parse_yaml_with_locations(f"[{raw}]", "--grid")[0]
    except ConfigError:
        values = None
    if not isinstance(values, list) or not values:  # not YAML: plain texts between commas
        values = [v.strip() for v in raw.split(",")]
    return path.strip(), values


def read_sweep_file(file: str) -> dict[str, Any] | None:
    """The sweep file's mapping (``experiment`` made absolute), or None if ``file`` is an
    experiment file rather than a sweep file."""
    from ..config import parse_yaml_with_locations, read_bounded

    try:
        data, _ = parse_yaml_with_locations(read_bounded(file).decode("utf-8-sig"), file)
    except (OSError, ValueError):
        return None  # experiment.load() reports the reason
    except ConfigError:
        return None
    if not isinstance(data, dict) or "experiment" not in data:
        return None
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(SWEEP_SCHEMA).iter_errors(data), key=str)
    if errors:
        raise ConfigError([
            ConfigIssue(e.message, file=file, field=".".join(map(str, e.absolute_path)) or None)
            for e in errors
        ])
    data["experiment"] = str((Path(file).resolve().parent / data["experiment"]).resolve())
    return data


def expand(grid: Mapping[str, list[Any]], repeat: int = 1, seed: int = 0,
           seed_paths: Iterable[str] = (), fixed: Mapping[str, Any] | None = None
           ) -> list[RunSpec]:
    """Every run: each combination of grid values (the first path varying slowest) times
    ``repeat``; repeat ``r`` sets ``run.seed`` (and each of ``seed_paths``) to ``seed + r``."""
    paths = list(grid)
    runs = []
    combos = itertools.product(*(grid[p] for p in paths)) if paths else [()]
    for point, combo in enumerate(combos):
        values = dict(zip(paths, combo, strict=True))
        for r in range(repeat):
            overrides = {**(fixed or {}), **values, "run.seed": seed + r}
            overrides.update({p: seed + r for p in seed_paths})
            runs.append(RunSpec(f"g{point:03d}-r{r:02d}", point, r, seed + r, values, overrides))
    return runs


def plan(experiment: str | os.PathLike, grid: Mapping[str, list[Any]] | None = None,
         repeat: int | None = None, seed: int | None = None, seed_paths: Iterable[str] = (),
         fixed: Mapping[str, Any] | Iterable[str] | None = None,
         model_configs: list[str] | None = None, tts_configs: list[str] | None = None
         ) -> SweepPlan:
    """Expand and validate a sweep; every invalid point is in one ConfigError, before
    anything runs. ``experiment`` is an experiment file or a sweep file (flags win over it)."""
    from ..experiment import load

    file = os.fspath(experiment)
    sweep = read_sweep_file(file) or {"experiment": str(Path(file).resolve())}
    axes = {**(sweep.get("grid") or {}), **(grid or {})}
    fixed_map = _fixed(sweep.get("set")) | _fixed(fixed)
    repeat = repeat if repeat is not None else sweep.get("repeat", 1)
    if repeat < 1:
        raise ConfigError(ConfigIssue(f"expected at least 1, got {repeat}", field="--repeat"))
    seed = seed if seed is not None else sweep.get("seed", 0)
    seed_paths = [*sweep.get("seed_paths", []), *seed_paths]
    runs = expand(axes, repeat, seed, seed_paths, fixed_map)
    found: dict[str, list[str]] = {}  # an issue -> the points that have it
    exp = None
    for spec in runs:
        if spec.repeat and not seed_paths:
            continue  # repeats differ only in run.seed, an integer: one check per point
        try:
            exp = load(sweep["experiment"], overrides=spec.overrides,
                       model_configs=model_configs, tts_configs=tts_configs)
        except ConfigError as exc:
            label = ", ".join(f"{k}={v}" for k, v in spec.values.items())
            for issue in exc.issues:
                found.setdefault(_grid_issue(issue, spec), []).append(label)
            continue
    issues = [ExperimentIssue((f"grid point {labels[0]}" + (
        f" (and {len(labels) - 1} more)" if len(labels) > 1 else "") + ": ") * bool(labels[0])
        + text) for text, labels in found.items()]
    if issues or exp is None:
        raise ConfigError(issues or "no runs")
    files = [sweep["experiment"], *(s for s in exp.models.sources if isinstance(s, str))]
    return SweepPlan(sweep["experiment"], runs, {k: list(v) for k, v in axes.items()}, repeat,
                     fixed_map, model_configs, tts_configs,
                     exp.document.data.get("metrics") or {}, seed, seed_paths,
                     exp.settings["save_dir"], files,
                     sorted({str(c.model_type) for c in exp.models.configs}))


def _grid_issue(issue: ConfigIssue, spec: RunSpec) -> str:
    """The issue, its ``--set PATH`` label told as the grid path it came from."""
    text = str(issue)
    for path in spec.values:
        text = text.replace(f"--set {path}: ", f"--grid {path}: ")
    return text


def _fixed(value: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    """``set:``/``--set`` as a mapping of path to value (texts read as ``--set`` reads them)."""
    from ..experiment.document import parse_override

    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    out = {}
    for text in value:
        key, sep, _ = str(text).partition("=")
        try:
            out[key.strip()] = parse_override(str(text))[1]
        except ValueError as exc:
            raise ConfigError(ConfigIssue(str(exc), field=f"--set {text}")) from None
        if not sep:
            raise ConfigError(ConfigIssue("expected PATH=VALUE", field=f"--set {text}"))
    return out
