"""Bad input to the config and experiment loaders: every input loads or is a ConfigError with
a useful message; nothing else escapes, nothing hangs, memory stays bounded.

Three sources of input: the corpus in ``tests/data/broken/`` (wrong types, unknown keys, tabs,
duplicate keys, deep nesting, YAML anchor bombs and recursive aliases, ``!!python/...`` tags,
non-UTF-8 and binary files, broken experiments), inputs generated here because they are too
big to keep (100,000 nested lists, files over the size limit, too many values), and
hypothesis (random bytes and text, random and mutated config documents, random experiments,
``--set`` overrides, nesting of every depth).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentscope_legacy import experiment
from agentscope_legacy.config import MAX_FILE_BYTES, MAX_NESTING, read_configs
from agentscope_legacy.errors import ConfigError
from agentscope_legacy.models.manager import ModelManager

BROKEN = Path(__file__).resolve().parent / "data" / "broken"
CORPUS = sorted(p for p in BROKEN.iterdir() if p.is_file())
# A load still running after this long is taken to hang (SIGALRM interrupts it). It is a hang
# detector, not a speed limit: loads take well under a second, and how fast is measured in
# benchmarks/, since a busy machine can be many times slower than an idle one.
HANG_LIMIT = 120.0  # seconds
MEMORY_LIMIT = 64 * 2**20  # bytes of Python allocations, per load

# What the ConfigError of a corpus file must say (case-insensitive), per loader; files not
# listed may load or fail, as long as a failure is a ConfigError naming the file.
PARSE = {  # the same for both loaders: the YAML parser and the file reader are shared
    "tabs.yaml": "invalid YAML",
    "anchor_bomb.yaml": "aliases",
    "recursive_alias.yaml": "recursive",
    "recursive_list.yaml": "nested too deeply",
    "alias_chain.yaml": "nested too deeply",
    "python_object.yaml": "could not determine a constructor",
    "python_name.yaml": "could not determine a constructor",
    "python_tuple.yaml": "could not determine a constructor",
    "custom_tag.yaml": "could not determine a constructor",
    "deep_150.yaml": "nested too deeply",
    "deep_150.json": "nested too deeply",
    "deep_block.yaml": "nested too deeply",
    "deep_mapping.yaml": "nested too deeply",
    "deep_in_config.yaml": "nested too deeply",
    "multiple_documents.yaml": "another document",
    "unhashable_key.yaml": "unhashable",
    "unclosed_flow.yaml": "invalid YAML",
    "bad_indent.yaml": "invalid YAML",
    "undefined_alias.yaml": "undefined alias",
    "duplicate_keys.yaml": "duplicate key 'config_name'",
    "non_utf8.yaml": "utf-8",
    "utf16.yaml": "utf-8",
    "experiment_model_configs_bomb.yaml": "aliases",
}
EXPECTED: dict[str, dict[str, str]] = {
    "config": {
        **PARSE,
        "wrong_types.yaml": "expected boolean",
        "unknown_keys.yaml": "did you mean 'stream'",
        "unknown_model_type.yaml": "did you mean 'openai_chat'",
        "missing_fields.yaml": "missing required field 'config_name'",
        "duplicate_keys.json": "duplicate key 'config_name'",
        "duplicate_names.yaml": "duplicate config_name",
        "truncated.json": "invalid JSON",
        "trailing_comma.json": "invalid JSON",
        "comments.json": "invalid JSON",
        "nan.json": "field 'retry_interval': expected a finite number, got nan",
        "weird_numbers.yaml": "field 'timeout': expected a finite number, got -inf",
        "lone_surrogate.json": "contains a lone surrogate",
        "control_chars.yaml": "control characters are not allowed in a name",
    },
    "experiment": {
        **PARSE,
        "missing_fields.yaml": "expected a mapping of description",
        "experiment_wrong_types.yaml": "pipeline",
        "experiment_unknown_keys.yaml": "did you mean 'agents'",
        "experiment_bad_steps.yaml": "nobody",
        "experiment_deep_pipeline.yaml": "nested too deeply",
        "experiment_unquoted_var.yaml": "must be quoted",
        "experiment_missing_file.yaml": "file not found",
        "experiment_dev_zero.yaml": (
            "not a regular file (a character device): /dev/zero"
            if os.path.exists("/dev/zero")
            else ""
        ),
        "experiment_bad_values.yaml": "expected a finite number",
    },
}


@contextlib.contextmanager
def bounded(memory: int = MEMORY_LIMIT) -> Iterator[None]:
    """Fail if the block allocates more than ``memory`` bytes at its peak (tracemalloc counts
    allocations, which do not depend on the machine's load), or if it hangs: interrupted by
    SIGALRM after HANG_LIMIT seconds, where there is one."""
    alarm = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if alarm:

        def expire(signum: int, frame: Any) -> None:
            raise TimeoutError(f"still running after {HANG_LIMIT} s: hangs")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, HANG_LIMIT)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        if not tracing:
            tracemalloc.stop()
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    assert peak < memory, f"allocated {peak / 2**20:.0f} MiB at the peak"


def load_configs(source: Any) -> ConfigError | None:
    """Read and validate model configs as ``init`` does; the ConfigError, or None if valid."""
    try:
        ModelManager().load_model_configs(source)
    except ConfigError as err:
        return err
    return None


def load_experiment(source: Any, overrides: Any = None) -> ConfigError | None:
    try:
        experiment.load(source, overrides=overrides)
    except ConfigError as err:
        return err
    return None


def assert_useful(err: ConfigError | None, file: str | None = None) -> None:
    """A ConfigError lists at least one issue, each with a message (and the file, if any)."""
    if err is None:
        return
    assert err.issues and all(i.message.strip() for i in err.issues), err
    text = str(err)
    assert text.strip()
    if file is not None:
        assert file in text, text
    assert "Traceback" not in text


LOADERS: dict[str, Callable[[Any], ConfigError | None]] = {
    "config": load_configs,
    "experiment": load_experiment,
}


# -- the corpus -------------------------------------------------------------------------------
def test_the_corpus_is_listed():
    names = {p.name for p in CORPUS}
    assert set(EXPECTED["config"]) | set(EXPECTED["experiment"]) <= names
    assert len(CORPUS) >= 50


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_corpus(path, loader):
    with bounded():
        err = LOADERS[loader](path)
    assert_useful(err, str(path))
    expected = EXPECTED[loader].get(path.name)
    if expected is not None:
        assert err is not None and expected.lower() in str(err).lower(), str(err)


def test_corpus_specifics():
    # Parsed safely: a tag never runs or imports anything.
    err = load_configs(BROKEN / "python_object.yaml")
    assert err is not None and err.line == 2
    # A wrongly typed key is not echoed, the other wrong values are, with their fields.
    text = str(load_configs(BROKEN / "wrong_types.yaml"))
    for field in ("stream", "max_retries", "retry_interval", "timeout", "generate_args"):
        assert f"field '{field}" in text, text
    assert "12345" not in text
    # Every problem of a broken experiment is reported at once, each with its line.
    err = load_experiment(BROKEN / "experiment_bad_steps.yaml")
    assert err is not None and len(err.issues) >= 6 and all(i.line for i in err.issues)


def test_values_no_config_may_hold_are_refused_with_their_location():
    # NaN and infinity in any number field: refused at load, each with its field and line.
    err = load_configs(BROKEN / "nan.json")
    assert err is not None and (err.file, err.line, err.config_name) == (
        str(BROKEN / "nan.json"),
        1,
        "x",
    )
    assert [i.field for i in err.issues] == ["retry_interval", "timeout"]
    # A lone surrogate cannot be written as UTF-8: refused, and the name is shown escaped.
    err = load_configs(BROKEN / "lone_surrogate.json")
    assert err is not None and err.field == "config_name" and err.config_name == "\\ud800"
    str(err).encode("utf-8")  # printable: nothing raw in the message
    # Control characters and terminal escapes in a name: refused, never printed raw.
    err = load_configs([{"config_name": "red\x1b[31m", "model_type": "openai_chat"}])
    assert err is not None and err.field == "config_name" and "\x1b" not in str(err)
    err = load_configs(BROKEN / "control_chars.yaml")
    assert err is not None and err.line == 1 and "\x00" not in str(err)
    # Through ${VAR} too: checked once expanded.
    os.environ["FUZZ_TEST_ESCAPE"] = "\x1b]0;title\x07"
    try:
        err = load_configs([{"config_name": "${FUZZ_TEST_ESCAPE}", "model_type": "openai_chat"}])
    finally:
        del os.environ["FUZZ_TEST_ESCAPE"]
    assert err is not None and err.field == "config_name"
    # The experiment loader: every bad value with its line and path.
    err = load_experiment(BROKEN / "experiment_bad_values.yaml")
    assert err is not None
    assert [(i.line, i.field) for i in err.issues] == [
        (2, "model_configs[0].timeout"),
        (2, "model_configs[0].retry_interval"),
        (4, "agents.a.memory_window"),
        (6, "pipeline[0].loop.until.gte"),
        (7, "run.name"),
    ]
    # ... also when an override brings them.
    for override in ("agents.a.memory_window=.nan", "agents.a.sys_prompt=x\ud800"):
        err = load_experiment(
            {
                "agents": {"a": {"class": "UserAgent"}},
                "pipeline": ["a"],
            },
            [override],
        )
        assert err is not None and ("finite number" in str(err) or "lone surrogate" in str(err))
        str(err).encode("utf-8")


# -- generated inputs: too big to keep -------------------------------------------------------
def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# Each refused with one of these, before it is composed into objects.
REFUSED = (
    "nested too deeply",
    "aliases",
    "too many values",
    "5000 unknown fields",
    "expected a mapping",
)
GENERATED: dict[str, Callable[[], str]] = {
    "nested_lists_100k.yaml": lambda: "[" * 100_000 + "]" * 100_000,
    "nested_lists_100k.json": lambda: "[" * 100_000 + "]" * 100_000,
    "nested_maps_100k.yaml": lambda: "{a: " * 100_000 + "1" + "}" * 100_000,
    "nested_maps_100k.json": lambda: '{"a": ' * 100_000 + "1" + "}" * 100_000,
    "nested_config_10k.yaml": lambda: (
        "- {config_name: x, model_type: openai_chat, generate_args: {a: "
        + "[" * 10_000
        + "]" * 10_000
        + "}}"
    ),
    "alias_bomb_9.yaml": lambda: (
        "config_name: bomb\nmodel_type: openai_chat\ngenerate_args:\n  l0: &l0 [x, x, x, x, x]\n"
        + "".join(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10))
    ),
    "too_many_values.yaml": lambda: "[" + ",".join(["1"] * 260_000) + "]",
    "many_keys.json": lambda: json.dumps(
        {"config_name": "x", "model_type": "openai_chat", **{f"k{i}": i for i in range(5_000)}}
    ),
}


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("name", list(GENERATED))
def test_generated_inputs_are_refused_in_bounded_memory(tmp_path, name, loader):
    if loader == "experiment" and name in ("too_many_values.yaml", "many_keys.json"):
        pytest.skip("the same parser as the config loader's; slow under tracemalloc")
    path = write(tmp_path, name, GENERATED[name]())
    with bounded(memory=48 * 2**20):
        err = LOADERS[loader](path)
    assert err is not None
    assert_useful(err, str(path))
    assert any(s in str(err) for s in REFUSED), str(err)


@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_file_over_the_size_limit_is_not_read(tmp_path, loader):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:  # sparse: instant to make, 20 MiB to read
        fh.truncate(MAX_FILE_BYTES + 12 * 2**20)
    with bounded(memory=2 * MAX_FILE_BYTES):
        err = LOADERS[loader](path)
    assert err is not None and "file too large" in str(err) and str(path) in str(err)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("loader", list(LOADERS))
def test_an_endless_file_is_not_read_at_all(loader):
    with bounded(memory=2 * 2**20):  # not even the 8 MiB a regular file may have
        err = LOADERS[loader]("/dev/zero")
    assert err is not None and err.file == "/dev/zero"
    assert err.issues[0].message == "not a regular file (a character device)", str(err)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path, loader):
    fifo = tmp_path / "configs.yaml"
    os.mkfifo(fifo)
    with bounded():  # opening it for a blocking read would wait forever
        err = LOADERS[loader](fifo)
    assert err is not None and err.file == str(fifo)
    assert err.issues[0].message == "not a regular file (a named pipe)", str(err)


@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_directory_is_not_a_file(tmp_path, loader):
    err = LOADERS[loader](tmp_path)
    assert err is not None and "not a regular file (a directory)" in str(err), str(err)


@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_large_file_says_its_size_and_the_limit(tmp_path, loader):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as fh:
        fh.truncate(50 * 10**6)
    err = LOADERS[loader](path)
    assert err is not None and err.file == str(path)
    assert err.issues[0].message == (
        f"file too large: 50,000,000 bytes, limit {MAX_FILE_BYTES:,} bytes"
    ), str(err)


def test_a_large_valid_file_loads_in_bounded_memory(tmp_path):
    # 500 configs (1.3 MB with a long model name each): far larger than any real file.
    configs = [
        {
            "config_name": f"c{i}",
            "model_type": "openai_chat",
            "generate_args": {"temperature": 0.5, "stop": ["x"]},
            "model_name": "m" * 2500,
        }
        for i in range(500)
    ]
    path = write(tmp_path, "large.yaml", yaml.safe_dump(configs))
    assert path.stat().st_size > 2**20
    with bounded(memory=64 * 2**20):
        err = load_configs(path)
    assert err is None


def chain(levels: int) -> tuple[Any, str]:
    """A mapping nesting ``levels`` containers (mappings and lists by turns), and its JSON
    text (built without recursion: json.dumps itself would overflow at 5,000)."""
    value: Any = "leaf"
    head, tail = "", ""
    for i in range(levels):
        if i % 2 == levels % 2:
            value, head, tail = [value], "[" + head, tail + "]"
        else:
            # `extra_body`: a generate_args key openai_chat takes, whatever it holds
            value, head, tail = {"extra_body": value}, '{"extra_body": ' + head, tail + "}"
    return value, head + '"leaf"' + tail


def depth_of(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend(
                (c, depth + 1) for c in (node.values() if isinstance(node, dict) else node)
            )
    return deepest


@pytest.mark.parametrize("levels", [MAX_NESTING - 4, MAX_NESTING - 2, MAX_NESTING - 1, 5000])
@pytest.mark.parametrize("kind", ["yaml", "json", "dict"])
def test_nesting_at_and_over_the_limit(tmp_path, levels, kind):
    """Up to the limit a document loads, also through the experiment loader's recursive walks
    (no RecursionError); past it, a ConfigError says why. ``levels`` is the depth of
    ``generate_args``; the config and the document around it add two or three."""
    value, text = chain(levels)
    config = {"config_name": "deep", "model_type": "openai_chat", "generate_args": value}
    config_text = '[{"config_name": "deep", "model_type": "openai_chat", "generate_args": %s}]'
    doc = {
        "model_configs": [config],
        "agents": {"a": {"class": "DialogAgent", "model": "deep", "sys_prompt": "Hi."}},
        "pipeline": ["a"],
    }
    doc_text = (
        '{"model_configs": %s, "agents": {"a": {"class": "DialogAgent", "model": "deep", '
        '"sys_prompt": "Hi."}}, "pipeline": ["a"]}' % (config_text % text)
    )  # JSON is YAML: the same text serves both
    for loader, data, data_text in (
        (load_configs, [config], config_text % text),
        (load_experiment, doc, doc_text),
    ):
        source = data if kind == "dict" else write(tmp_path, f"x.{kind}", data_text)
        err = loader(source)
        # Python sources are checked config by config: the list holding them is not a level.
        measured = depth_of(config if source is data and loader is load_configs else data)
        if measured > MAX_NESTING:
            assert err is not None and "nested too deeply" in str(err), str(err)
        else:
            assert err is None, str(err)


# -- hypothesis -------------------------------------------------------------------------------
FUZZ = settings(
    max_examples=120,
    deadline=None,  # bounded() guards every example against hangs; speed is not tested
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: failures reproduce
    database=None,  # nothing written to .hypothesis/
)
FIELDS = [
    "config_name", "model_type", "model_name", "stream", "generate_args", "max_retries",
    "retry_interval", "max_retry_interval", "timeout", "replace", "api_key", "base_url",
    "client_args", "organization", "headers", "api_url", "json_args", "budget", "host",
]  # fmt: skip
MODEL_TYPES = sorted(ModelManager().model_wrapper_mapping)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from([*MODEL_TYPES, "${HOME}", "${NOPE_UNSET}", "${X:-d}", "$${", "{{v}}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=25,
)
config_dicts = st.fixed_dictionaries(
    {},
    optional={
        "config_name": st.one_of(st.text(min_size=1, max_size=8), scalars),
        "model_type": st.one_of(st.sampled_from(MODEL_TYPES), scalars),
        **{f: values for f in FIELDS[2:]},
    },
)
documents = st.one_of(values, st.lists(config_dicts, max_size=4), config_dicts)


def check_text(text: str | bytes, suffix: str) -> None:
    """Every loader given this file content loads it or raises a useful ConfigError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), f"fuzz{suffix}", text)
        for loader in LOADERS.values():
            with bounded():
                err = loader(path)
            assert_useful(err, str(path))


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".yaml", ".json"]))
def test_random_bytes(data, suffix):
    check_text(data, suffix)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text):
    check_text(text, ".yaml")


@FUZZ
@given(documents, st.sampled_from(["yaml", "json", "dict"]))
def test_random_config_documents(document, form):
    if form == "dict":
        with bounded():
            assert_useful(load_configs(document))
        return
    try:
        if form == "json":
            text = json.dumps(document, allow_nan=True)
        else:
            text = yaml.safe_dump(document, allow_unicode=True)
    except (TypeError, ValueError, yaml.YAMLError):  # keys JSON cannot hold, and the like
        return
    check_text(text, "." + form)


VALID = """\
- config_name: gpt
  model_type: openai_chat
  model_name: gpt-4o-mini
  api_key: ${OPENAI_API_KEY:-sk-fuzz-000001}
  stream: true
  generate_args: {temperature: 0.5, stop: ["\\n"]}
  timeout: {connect: 2, read: 30}
  budget: {max_tokens: 1000}
- config_name: local
  model_type: post_api_chat
  api_url: http://127.0.0.1:9/v1/chat/completions
  headers: {Authorization: Bearer sk-fuzz-000002}
  json_args: {model: m}
"""
EXPERIMENT = """\
description: A tiny debate.
vars: {rounds: 2, topic: cats}
model_configs:
  - {config_name: m, model_type: openai_chat, api_key: sk-fuzz-000003, stream: true}
agents:
  alice: {class: DialogAgent, model: m, sys_prompt: "For {{topic}}", memory_window: 4}
  bob: {class: DialogAgent, model: m, sys_prompt: Against}
  judge: {class: DictDialogAgent, model: m, sys_prompt: Judge.}
pipeline:
  - say: {content: "Debate: {{topic}}", name: host}
  - loop:
      max_rounds: "{{rounds}}"
      steps: [alice, bob]
  - if: {condition: "rounds > 1", then: [judge]}
run: {name: fuzz, seed: 1}
"""
mutations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2000),  # position (modulo the length)
        st.integers(min_value=0, max_value=6),  # how many characters to remove there
        st.sampled_from(
            [
                "",
                " ",
                "\t",
                "\n",
                ":",
                "- ",
                "{",
                "}",
                "[",
                "]",
                "&a ",
                "*a",
                "!!",
                "'",
                '"',
                "#",
                "${",
                "{{",
                "\x00",
                "\u00e9",
                "---\n",
                "? ",
            ]
        ),
    ),  # fmt: skip
    min_size=1,
    max_size=4,
)


def mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    for position, remove, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + remove :]
    return text


@FUZZ
@given(mutations)
def test_mutated_config_files(edits):
    check_text(mutate(VALID, edits), ".yaml")


@FUZZ
@given(mutations)
def test_mutated_experiment_files(edits):
    check_text(mutate(EXPERIMENT, edits), ".yaml")


step = st.recursive(
    st.one_of(st.sampled_from(["alice", "bob", "ghost", "{{who}}"]), scalars),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "sequential",
                    "msghub",
                    "loop",
                    "if",
                    "for_each",
                    "say",
                    "steps",
                    "then",
                    "else",
                    "max_rounds",
                    "until",
                    "condition",
                    "items",
                    "as",
                    "participants",
                    "announcement",
                    "content",
                    "name",
                    "nope",
                ]
            ),  # fmt: skip
            inner,
            max_size=3,
        ),
    ),
    max_leaves=12,
)
experiments = st.fixed_dictionaries(
    {},
    optional={
        "description": scalars,
        "vars": st.dictionaries(st.text(max_size=6), values, max_size=3),
        "model_configs": st.one_of(st.lists(config_dicts, max_size=2), scalars),
        "agents": st.one_of(
            st.dictionaries(
                st.sampled_from(["alice", "bob", "1x", ""]),
                st.one_of(
                    st.fixed_dictionaries(
                        {
                            "class": st.sampled_from(
                                [
                                    "DialogAgent",
                                    "UserAgent",
                                    "DictDialogAgent",
                                    "os.path.join",
                                    "no.such.Class",
                                    "x",
                                ]
                            )
                        },
                        optional={
                            "model": st.sampled_from(["m", "nope"]),
                            "sys_prompt": scalars,
                            "memory_window": scalars,
                        },
                    ),  # fmt: skip
                    values,
                ),
                max_size=3,
            ),
            values,
        ),
        "pipeline": st.one_of(st.lists(step, max_size=4), step),
        "run": st.one_of(
            st.dictionaries(st.sampled_from(["name", "seed", "stream", "x"]), scalars), values
        ),  # fmt: skip
        "unknown": values,
    },
)


@FUZZ
@given(experiments)
def test_random_experiment_mappings(doc):
    with bounded():
        assert_useful(load_experiment(doc))


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.text(max_size=30),
            st.builds(
                "{}={}".format,
                st.sampled_from(
                    [
                        "rounds",
                        "topic",
                        "agents.alice.model",
                        "pipeline[1].loop",
                        "run.seed",
                        "vars",
                        "agents.bob",
                        "pipeline[9]",
                        "x.y",
                        "a[b]",
                    ]
                ),
                st.sampled_from(
                    [
                        "5",
                        "'5'",
                        "[a, b]",
                        "{x: 1}",
                        "",
                        "null",
                        "[" * 3000,
                        "{{topic}}",
                        "&a [*a]",
                        "!!python/name:os.system",
                    ]
                ),
            ),  # fmt: skip
        ),
        max_size=3,
    )
)
def test_random_overrides(overrides):
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "exp.yaml", EXPERIMENT)
        with bounded():
            assert_useful(load_experiment(path, overrides))


@FUZZ
@given(st.integers(min_value=1, max_value=3 * MAX_NESTING), st.sampled_from(["[]", "{}", "mix"]))
def test_any_nesting_depth(depth, shape):
    value: Any = 1
    for i in range(depth):
        if shape == "[]" or (shape == "mix" and i % 2):
            value = [value]
        else:
            value = {"k": value}
    for source in ([{"config_name": "d", "model_type": "openai_chat", "generate_args": value}],):
        with bounded():
            assert_useful(load_configs(source))
            assert_useful(read_configs_error(value))
            assert_useful(load_experiment({"agents": value, "pipeline": value}))


def read_configs_error(value: Any) -> ConfigError | None:
    try:
        read_configs([{"config_name": "d", "model_type": "x", "v": value}])
    except ConfigError as err:
        return err
    return None
