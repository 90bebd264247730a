"""Broken experiment files: every problem is reported at once, each with its file, line,
path inside the document and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentscope_legacy.errors import ConfigError
from agentscope_legacy.experiment import ExperimentIssue, load
from agentscope_legacy.experiment.document import format_path, parse_path

DATA = Path(__file__).parent / "data" / "experiments"

STRUCTURE = [  # (line, path, expected) in broken_structure.yaml
    (
        7,
        "model_configs[0].n_thread",
        "config 'local': unknown field for model_type 'llamacpp_chat'; did you mean 'n_threads'?",
    ),
    (9, "agents.alice", "missing required key 'sys_prompt'"),
    (12, "agents.alice.sys_promt", "unknown key; did you mean 'sys_prompt'?"),
    (
        14,
        "agents.judge.class",
        "expected DialogAgent, DictDialogAgent, UserAgent or an import "
        "path (package.module.Class), got 'DictDialogAgnt'",
    ),
    (19, "pipeline[1].loopp", "unknown key; did you mean 'loop'?"),
    (23, "pipeline[2].loop.max_rounds", "expected a value >= 1, got 0"),
    (25, "pipeline[3].loop", "a loop needs `max_rounds`, `until` or both"),
    (28, "run.logger_level", "expected one of 'TRACE', 'DEBUG'"),
    (29, "run.stream", "expected boolean or null, got string 'yes please'"),
]
REFERENCES = [  # in broken_references.yaml
    (11, "agents.alice.model", "unknown model config 'lcoal'; did you mean 'local'?"),
    (
        15,
        "agents.bob.model",
        "model config 'cloud' needs the environment variable "
        "EXPERIMENT_TEST_UNSET_KEY (for api_key), which is not set",
    ),
    (18, "agents.custom.class", "cannot import module 'tests.no_such_module'"),
    (21, "agents.shouter.loudness", "tests.test_experiment.Shouter has no argument 'loudness'"),
    (24, "pipeline[0].msghub.participants[2]", "unknown agent 'judge'"),
    (25, "pipeline[0].msghub.announcement", "undefined variable 'topic'"),
    (29, "pipeline[0].msghub.steps[0].loop.until", "expected exactly one test"),
    (30, "pipeline[0].msghub.steps[0].loop.steps[1]", "unknown agent 'bbo'; did you mean 'bob'?"),
    (31, "pipeline[1].if.regex", "invalid regular expression"),
    (37, "pipeline[2].for_each.steps[0].say", "undefined variable 'other'"),
]


def issues_of(source, **kwargs) -> list:
    with pytest.raises(ConfigError) as info:
        load(source, **kwargs)
    return info.value.issues


def assert_reported(issues, file, expected) -> None:
    """Each (line, path, message) is reported, and nothing else."""
    found = [(i.file, i.line, i.field, i.message) for i in issues]
    for line, path, message in expected:
        assert any(
            (f, ln, p) == (str(file), line, path) and message in m for f, ln, p, m in found
        ), f"{file}:{line}: {path}: {message}\nnot in:\n" + "\n".join(map(str, issues))
    assert len(issues) == len(expected), "\n".join(map(str, issues))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("broken_structure.yaml", STRUCTURE), ("broken_references.yaml", REFERENCES)],
)
def test_broken_files_report_every_problem_with_its_location(name, expected, monkeypatch):
    monkeypatch.delenv("EXPERIMENT_TEST_UNSET_KEY", raising=False)
    file = DATA / name
    issues = issues_of(file)
    assert_reported(issues, file, expected)
    assert all(isinstance(i, ExperimentIssue) for i in issues)
    assert [i.line for i in issues] == sorted(i.line for i in issues)


def test_issues_read_file_line_path_message():
    issue = issues_of(DATA / "broken_structure.yaml")[5]
    assert str(issue) == (
        f"{DATA / 'broken_structure.yaml'}:23: pipeline[2].loop.max_rounds: "
        "expected a value >= 1, got 0"
    )


def test_an_override_can_fix_a_file_before_validation(monkeypatch):
    monkeypatch.setenv("EXPERIMENT_TEST_UNSET_KEY", "sk-from-env-123456")
    issues = issues_of(
        DATA / "broken_references.yaml",
        overrides=["agents.alice.model=local", "agents.shouter.loudness=3"],
    )
    paths = {i.field for i in issues}
    assert "agents.alice.model" not in paths and "agents.bob.model" not in paths
    assert "agents.shouter.loudness" in paths  # still wrong: overrides are validated too


def test_unquoted_template_gets_a_hint():
    (issue,) = issues_of(DATA / "broken_yaml.yaml")
    assert (issue.line, issue.field) == (8, None)
    assert "must be quoted" in issue.message and "invalid YAML" in issue.message


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    return path


AGENTS = "agents:\n  a: {class: UserAgent}\n  b: {class: UserAgent}\n"


@pytest.mark.parametrize(
    ("text", "line", "path", "message"),
    [
        ("- a\n- b\n", None, None, "expected a mapping of description, vars, model_configs"),
        ("", None, None, "got an empty file"),
        (AGENTS + "agents: {}\npipeline: [a]\n", 4, None, "duplicate key 'agents'"),
        (AGENTS, 1, None, "missing required key 'pipeline'"),
        (AGENTS + "pipeline:\n  - then: [a]\n", 5, "pipeline[0].then", "'then' needs 'if'"),
        (
            AGENTS + "pipeline:\n  - say: hi\n    loop: {max_rounds: 1, steps: [a]}\n",
            5,
            "pipeline[0]",
            "a step has exactly one of sequential, msghub, loop, if, for_each, say; found loop, "
            "say",
        ),
        (AGENTS + "pipeline:\n  - 42\n", 4, "pipeline[0]", "expected an agent name or a step"),
        (
            "agents:\n  bad name: {class: UserAgent}\npipeline: [a]\n",
            1,
            "agents",
            "expected an agent name of letters",
        ),
        (
            AGENTS + "pipeline:\n  - msghub: {participants: [a, a], steps: [a]}\n",
            5,
            "pipeline[0].msghub.participants[1]",
            "'a' is listed twice",
        ),
        (
            "model_configs: nowhere.yaml\n" + AGENTS + "pipeline: [a]\n",
            1,
            "model_configs",
            "file not found: ",
        ),
        (
            AGENTS + "pipeline:\n  - for_each: {items: [], steps: [a]}\n",
            5,
            "pipeline[0].for_each.items",
            "expected at least 1 item(s)",
        ),
        (
            AGENTS + "pipeline:\n  - if: {field: meta.x, equals: 1}\n    then: [a]\n",
            5,
            "pipeline[0].if.field",
            "expected content, name, role or metadata.<key>, got 'meta.x'",
        ),
        (
            "agents:\n  j:\n    class: DictDialogAgent\n    sys_prompt: s\n    model: m\n"
            "    schema: {type: 12}\n"
            "model_configs: [{config_name: m, model_type: openai_chat, api_key: sk-xyz-123}]\n"
            "pipeline: [j]\n",
            6,
            "agents.j.schema.type",
            "not a valid JSON Schema",
        ),
        (
            "agents:\n  d: {class: DialogAgent, sys_prompt: s}\npipeline: [d]\n",
            2,
            "agents.d",
            "missing 'model': the model config name this agent replies with",
        ),
    ],
)
def test_small_broken_files(tmp_path, text, line, path, message):
    file = write(tmp_path, text)
    issues = issues_of(file)
    assert any(
        i.file == str(file) and i.line == line and i.field == path and message in i.message
        for i in issues
    ), "\n".join(map(str, issues))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("nope=1", "'nope' is neither a section"),
        ("round=3", "did you mean 'rounds'?"),
        ("pipeline[5].loop.max_rounds=2", "index out of range"),
        ("agents..x=1", "invalid path"),
        ("agents.a", "expected PATH=VALUE"),
        ("pipeline.x=1", "pipeline is not a mapping"),
    ],
)
def test_bad_overrides_are_reported(tmp_path, override, message):
    file = write(tmp_path, "vars: {rounds: 1}\n" + AGENTS + "pipeline: [a]\n")
    issues = issues_of(file, overrides=[override])
    assert any(i.field == f"--set {override}" and message in i.message for i in issues), "\n".join(
        map(str, issues)
    )


def test_overrides_set_typed_values_variables_and_the_model_alias(tmp_path):
    file = write(
        tmp_path,
        "vars: {rounds: 1, who: a}\n"
        "model_configs: [{config_name: m, model_type: openai_chat, api_key: sk-xyz-123},"
        " {config_name: n, model_type: openai_chat, api_key: sk-xyz-123}]\n"
        "agents:\n  a: {class: DialogAgent, sys_prompt: s, model_config_name: m}\n"
        "pipeline:\n  - loop: {max_rounds: '{{rounds}}', steps: ['{{who}}']}\n",
    )
    experiment = load(file, overrides=["rounds=5", "agents.a.model=n", "run.name='007'"])
    data = experiment.document.data
    assert data["pipeline"][0]["loop"] == {"max_rounds": 5, "steps": ["a"]}
    assert data["agents"]["a"]["model_config_name"] == "n" and "model" not in data["agents"]["a"]
    assert experiment.name == "007"


def test_cloud_twins_validate_once_their_key_is_set(monkeypatch):
    debate = Path(__file__).resolve().parent.parent / "examples" / "debate.yaml"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (issue,) = issues_of(debate, overrides=["agents.judge.model=openai-gpt4o"])
    model_line = debate.read_text().splitlines().index("  judge:") + 3  # "    model: local"
    assert issue.field == "agents.judge.model" and issue.line == model_line
    assert "needs the environment variable OPENAI_API_KEY" in issue.message
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    assert load(debate, overrides=["agents.judge.model=openai-gpt4o"]).name == "debate"


identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True)


@given(st.tuples(identifiers), st.lists(identifiers | st.integers(0, 99), max_size=5))
def test_document_paths_round_trip(head, rest):
    path = (*head, *rest)
    assert parse_path(format_path(path)) == path
