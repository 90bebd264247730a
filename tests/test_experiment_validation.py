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
        "expected DialogAgent, DictDialogAgent, ReActAgent, UserAgent or an import "
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
    (18, "agents.custom.class", "cannot find module 'tests.no_such_module'"),
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


# -- user agent classes: found without running their module, imported only by run() ----------
AGENT_MODULE = """\
import os
from pathlib import Path

from agentscope_legacy.agents import AgentBase
from agentscope_legacy.message import Msg

Path(os.environ["AGENT_MODULE_MARKER"]).write_text("imported")


class Loud(AgentBase):
    def __init__(self, name, volume=1):
        super().__init__(name)
        self.volume = volume

    def reply(self, x=None, **kwargs):
        msg = Msg(self.name, "HEY" + "!" * self.volume, "assistant")
        self.speak(msg)
        return msg


class Quiet(Loud):
    pass


class Plain:
    pass
"""


def write_as(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def user_package(tmp_path: Path, name: str, module: str) -> None:
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text(
        "import os\nfrom pathlib import Path\n\n"
        'Path(os.environ["AGENT_MODULE_MARKER"]).write_text("package imported")\n'
    )
    (tmp_path / name / "agents.py").write_text(module)


def test_user_classes_are_checked_without_running_their_module(tmp_path, monkeypatch):
    import sys

    marker = tmp_path / "marker"
    monkeypatch.setenv("AGENT_MODULE_MARKER", str(marker))
    user_package(tmp_path, "sidefx_pkg", AGENT_MODULE)
    file = write_as(
        tmp_path,
        "exp.yaml",
        "agents:\n"
        "  loud: {class: sidefx_pkg.agents.Loud, volume: 2}\n"
        "  quiet: {class: sidefx_pkg.agents.Quiet, loudness: 3}\n"
        "  plain: {class: sidefx_pkg.agents.Plain}\n"
        "  ghost: {class: sidefx_pkg.agents.Ghost}\n"
        "pipeline: [loud]\n",
    )
    issues = issues_of(file)
    assert [(i.line, i.field) for i in issues] == [
        (3, "agents.quiet.loudness"),
        (4, "agents.plain.class"),
        (5, "agents.ghost.class"),
    ], "\n".join(map(str, issues))
    assert "sidefx_pkg.agents.Quiet has no argument 'loudness'" in issues[0].message
    assert "is not a subclass of agentscope_legacy.agents.AgentBase" in issues[1].message
    assert "has no attribute 'Ghost'" in issues[2].message
    assert not marker.exists() and "sidefx_pkg" not in sys.modules

    file = write_as(
        tmp_path,
        "ok.yaml",
        "agents:\n  loud: {class: sidefx_pkg.agents.Loud, volume: 2}\n"
        f"pipeline: [loud]\nrun: {{save_dir: {tmp_path / 'runs'}}}\n",
    )
    experiment = load(file)
    assert "agent loud: sidefx_pkg.agents.Loud" in experiment.plan()  # --dry-run
    assert not marker.exists() and "sidefx_pkg" not in sys.modules
    try:
        result = experiment.run(quiet=True)  # the run imports it
        assert result.final.content == "HEY!!" and marker.exists()
    finally:
        for name in [m for m in sys.modules if m.startswith("sidefx_pkg")]:
            del sys.modules[name]


@pytest.mark.parametrize(
    ("source", "at_load", "at_run"),
    [
        ("class Agent(:\n    pass\n", "has a SyntaxError", None),
        (
            "from agentscope_legacy.agents import AgentBase\n\n"
            "raise RuntimeError('no network here')\n\n\nclass Agent(AgentBase):\n    pass\n",
            None,
            "importing module 'failing_pkg.agents' failed: RuntimeError: no network here",
        ),
    ],
)
def test_a_module_that_cannot_be_imported_is_a_located_config_error(
    tmp_path, monkeypatch, source, at_load, at_run
):
    import sys

    monkeypatch.setenv("AGENT_MODULE_MARKER", str(tmp_path / "marker"))
    user_package(tmp_path, "failing_pkg", source)
    file = write_as(
        tmp_path,
        "exp.yaml",
        f"run: {{save_dir: {tmp_path / 'runs'}}}\npipeline: [a]\n"
        "agents:\n  a:\n    class: failing_pkg.agents.Agent\n",
    )
    try:
        if at_load:
            (issue,) = issues_of(file)
            assert (issue.file, issue.line, issue.field) == (str(file), 5, "agents.a.class")
            assert at_load in issue.message and "line 1" in issue.message, issue.message
            return
        experiment = load(file)  # nothing imported: it loads
        with pytest.raises(ConfigError) as info:
            experiment.run(quiet=True)
        err = info.value
        assert (err.file, err.line, err.field) == (str(file), 5, "agents.a.class")
        assert "class 'failing_pkg.agents.Agent'" in str(err) and at_run in str(err), str(err)
    finally:
        for name in [m for m in sys.modules if m.startswith("failing_pkg")]:
            del sys.modules[name]


def test_run_save_dir_that_is_a_file_is_a_located_config_error(tmp_path):
    (tmp_path / "taken").write_text("a file")
    file = write_as(
        tmp_path,
        "exp.yaml",
        "agents:\n  u: {class: UserAgent, inputs: [hi]}\npipeline: [u]\n"
        f"run:\n  name: x\n  save_dir: {tmp_path / 'taken'}\n",
    )
    with pytest.raises(ConfigError) as info:
        load(file).run(quiet=True, interactive=False)
    err = info.value
    assert (err.file, err.line, err.field) == (str(file), 6, "run.save_dir"), str(err)
    assert "is not a directory" in err.issues[0].message


def test_a_set_path_deeper_than_any_document_fails_at_once(tmp_path):
    file = write_as(
        tmp_path, "exp.yaml", "vars: {v: 1}\nagents: {u: {class: UserAgent}}\npipeline: [u]\n"
    )
    override = "vars." + ".".join(["k"] * 5000) + "=1"
    (issue,) = issues_of(file, overrides=[override])
    assert issue.message.startswith("cannot apply: path too long (over 100 parts"), issue.message
    assert issue.field.startswith("--set vars.k.k") and len(issue.field) <= 90
