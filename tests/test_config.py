"""Reading model configs: input forms, ``${VAR}`` expansion, located errors, duplicates, safety.

Line numbers asserted below are those of the inline documents as written (line 1 is the first
line after ``dedent``), so every expectation can be checked by reading the test.
"""

from __future__ import annotations

import json
import math
import tempfile
import textwrap
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentscope_legacy.errors import ConfigError, ConfigIssue
from agentscope_legacy.models import (
    clear_model_configs,
    get_config_by_name,
    load_model_by_config_name,
    read_model_configs,
)
from agentscope_legacy.models.manager import ModelManager

DATA = Path(__file__).parent / "data" / "configs"
BASIC_YAML = DATA / "basic.yaml"

# The configs of data/configs/basic.yaml, basic.json and experiment.yaml, as Python values.
BASIC = [
    {
        "config_name": "chat",
        "model_type": "openai_chat",
        "model_name": "gpt-4o-mini",
        "api_key": "sk-test-basic-0001",
        "stream": True,
        "max_retries": 3,
        "timeout": {"connect": 5, "read": 60},
        "generate_args": {"temperature": 0.5, "stop": ["\n\n", "User:"]},
    },
    {
        "config_name": "local",
        "model_type": "llamacpp_chat",
        "n_ctx": 1024,
        "n_threads": 1,
        "generate_args": {"max_tokens": 32},
    },
    {
        "config_name": "post",
        "model_type": "post_api_chat",
        "api_url": "http://127.0.0.1:8000/v1/chat/completions",
        "headers": {"Content-Type": "application/json"},
        "json_args": {"model": "tiny"},
        "timeout": 30,
    },
]
BASIC_NAMES = ["chat", "local", "post"]


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def registry() -> dict[str, dict]:
    """Every loaded config of the default manager, in load order."""
    manager = ModelManager.get_instance()
    return {name: manager.get_config_by_name(name) for name in manager.config_names}


def load_error(source, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        read_model_configs(source, **kwargs)
    return info.value


def only_issue(err: ConfigError) -> ConfigIssue:
    assert len(err.issues) == 1, err.issues
    return err.issues[0]


# -- input forms -------------------------------------------------------------------------------
def _mixed(tmp_path: Path) -> list:
    first = tmp_path / "first.json"
    first.write_text(json.dumps([BASIC[0]]), encoding="utf-8")
    return [str(first), BASIC[1], BASIC[2]]


@pytest.mark.parametrize(
    "make_source",
    [
        pytest.param(lambda tmp: str(BASIC_YAML), id="yaml-path-str"),
        pytest.param(lambda tmp: BASIC_YAML, id="pathlib-path"),
        pytest.param(lambda tmp: str(DATA / "basic.json"), id="json-path"),
        pytest.param(lambda tmp: DATA / "experiment.yaml", id="experiment-file"),
        pytest.param(lambda tmp: [dict(c) for c in BASIC], id="list-of-dicts"),
        pytest.param(lambda tmp: tuple(dict(c) for c in BASIC), id="tuple-of-dicts"),
        pytest.param(_mixed, id="list-mixing-paths-and-dicts"),
        pytest.param(lambda tmp: [[BASIC[0], BASIC[1]], [BASIC[2]]], id="nested-list"),
    ],
)
def test_every_input_form_gives_the_same_registry(tmp_path, make_source):
    names = read_model_configs(make_source(tmp_path))
    assert names == BASIC_NAMES
    assert registry() == {c["config_name"]: c for c in BASIC}


def test_a_single_dict_loads_one_config():
    assert read_model_configs(dict(BASIC[0])) == ["chat"]
    assert registry() == {"chat": BASIC[0]}


def test_the_registry_records_where_each_config_came_from():
    read_model_configs(BASIC_YAML)
    manager = ModelManager.get_instance()
    assert [
        (manager.get_model_config(n).file, manager.get_model_config(n).line) for n in BASIC_NAMES
    ] == [(str(BASIC_YAML), 2), (str(BASIC_YAML), 13), (str(BASIC_YAML), 20)]
    assert manager.get_model_config("post").key_lines["api_url"] == 22


def test_an_empty_yaml_file_loads_nothing(tmp_path):
    assert (DATA / "empty.yaml").stat().st_size == 0
    assert read_model_configs(DATA / "empty.yaml") == []
    comments_only = write(tmp_path, "comments.yaml", "# nothing configured yet\n")
    assert read_model_configs(comments_only) == []
    assert read_model_configs([]) == []
    assert registry() == {}


def test_an_experiment_file_without_configs_loads_nothing(tmp_path):
    path = write(tmp_path, "exp.yaml", "project: demo\nmodel_configs:\n")
    assert read_model_configs(path) == []


@pytest.mark.parametrize("source", [42, 3.5, None, b"config.yaml", object()])
def test_a_source_of_the_wrong_kind_is_a_config_error(source):
    err = load_error(source)
    assert "file path, a dict, or a list" in str(err)


def test_a_list_with_an_item_of_the_wrong_kind_is_a_config_error():
    err = load_error([BASIC[0], 42])
    assert "must be a dict or a file path, got int" in str(err)
    assert registry() == {}


# -- ${VAR} expansion --------------------------------------------------------------------------
def test_env_vars_are_expanded_everywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("T_KEY", "sk-from-env-123456")
    monkeypatch.setenv("T_MODEL", "gpt-4o")
    monkeypatch.setenv("T_STOP", "END")
    monkeypatch.setenv("T_EMPTY", "")
    monkeypatch.delenv("T_UNSET", raising=False)
    path = write(
        tmp_path,
        "env.yaml",
        """
        - config_name: env
          model_type: openai_chat
          model_name: ${T_MODEL}-mini
          api_key: ${T_KEY}
          base_url: ${T_UNSET:-http://127.0.0.1:8000/v1}
          organization: ${T_EMPTY:-org-default}
          generate_args:
            user: "${T_MODEL}/${T_STOP}"
            stop: ["${T_STOP}", "x${T_UNSET:-}y", "$${T_STOP}"]
            extra_body: {deep: ["${T_UNSET:-a:b}"]}
        """,
    )
    read_model_configs(path)
    config = get_config_by_name("env")
    assert config["model_name"] == "gpt-4o-mini"
    assert config["api_key"] == "sk-from-env-123456"
    assert config["base_url"] == "http://127.0.0.1:8000/v1"
    assert config["organization"] == "org-default"  # set but empty: the default applies
    assert config["generate_args"] == {
        "user": "gpt-4o/END",
        "stop": ["END", "xy", "${T_STOP}"],  # $${ is a literal ${
        "extra_body": {"deep": ["a:b"]},
    }
    assert ModelManager.get_instance().get_model_config("env").missing_env == {}


def test_env_vars_are_expanded_in_dict_sources(monkeypatch):
    monkeypatch.setenv("T_NAME", "from-env")
    read_model_configs(
        {
            "config_name": "d",
            "model_type": "openai_chat",
            "model_name": "${T_NAME}",
            "generate_args": {"stop": ["${T_NAME}"]},
        }
    )
    assert get_config_by_name("d")["model_name"] == "from-env"
    assert get_config_by_name("d")["generate_args"] == {"stop": ["from-env"]}


def test_an_empty_var_without_default_is_used_as_set(monkeypatch):
    monkeypatch.setenv("T_EMPTY", "")
    read_model_configs(
        {"config_name": "e", "model_type": "openai_chat", "organization": "${T_EMPTY}"}
    )
    assert get_config_by_name("e")["organization"] == ""
    assert ModelManager.get_instance().get_model_config("e").missing_env == {}


def test_an_unset_var_fails_only_when_the_wrapper_is_built(tmp_path, monkeypatch):
    monkeypatch.delenv("T_MISSING_KEY", raising=False)
    path = write(
        tmp_path,
        "missing.yaml",
        """
        - config_name: fine
          model_type: openai_chat
          base_url: http://127.0.0.1:9/v1
        - config_name: needs-key
          model_type: openai_chat
          model_name: gpt-4o-mini
          api_key: ${T_MISSING_KEY}
        """,
    )
    assert read_model_configs(path) == ["fine", "needs-key"]  # loading succeeds
    with pytest.raises(ConfigError) as info:
        load_model_by_config_name("needs-key")
    issue = only_issue(info.value)
    assert (issue.file, issue.line, issue.config_name, issue.field) == (
        str(path),
        7,
        "needs-key",
        "api_key",
    )
    assert "T_MISSING_KEY" in issue.message
    assert str(info.value) == (
        f"{path}:7: config 'needs-key', field 'api_key': "
        "environment variable T_MISSING_KEY is not set (and has no default)"
    )


def test_unset_vars_nested_in_lists_are_reported_with_their_path(tmp_path, monkeypatch):
    monkeypatch.delenv("T_GONE", raising=False)
    monkeypatch.delenv("T_GONE_TOO", raising=False)
    path = write(
        tmp_path,
        "nested.yaml",
        """
        config_name: nested
        model_type: openai_chat
        generate_args:
          temperature: 0.1
          stop: ["a", "${T_GONE}"]
          user: ${T_GONE_TOO}
        """,
    )
    read_model_configs(path)
    with pytest.raises(ConfigError) as info:
        load_model_by_config_name("nested")
    issues = {i.field: i for i in info.value.issues}
    assert set(issues) == {"generate_args.stop[1]", "generate_args.user"}
    assert "T_GONE " in issues["generate_args.stop[1]"].message
    assert "T_GONE_TOO" in issues["generate_args.user"].message
    for issue in issues.values():
        assert issue.file == str(path) and issue.config_name == "nested"
        # Lines are tracked per top-level key: nested fields point at `generate_args:`.
        assert issue.line == 3


# -- located, readable errors ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field_line", "field", "expected"),
    [
        ('stream: "yes"', "stream", "expected boolean, got string 'yes'"),
        ("max_retries: -1", "max_retries", "expected a value >= 0, got -1"),
        ("max_retries: 2.5", "max_retries", "expected integer, got number 2.5"),
        ('timeout: "x"', "timeout", "expected number or a mapping with connect/read, got string"),
        ("timeout: 0", "timeout", "expected number or a mapping"),
        ("generate_args: [1]", "generate_args", "expected object, got array [1]"),
        ("model_name: ''", "model_name", "expected a non-empty string"),
        ("base_url: 8000", "base_url", "expected string or null, got number 8000"),
    ],
)
def test_a_wrong_type_is_reported_at_its_line(tmp_path, field_line, field, expected):
    path = write(
        tmp_path,
        "bad.yaml",
        f"""
        # a comment line
        - config_name: ok
          model_type: openai_chat

        - config_name: x
          model_type: openai_chat
          {field_line}
        """,
    )
    issue = only_issue(load_error(path))
    assert (issue.file, issue.line, issue.config_name, issue.field) == (str(path), 7, "x", field)
    assert expected in issue.message
    assert str(issue).startswith(f"{path}:7: config 'x', field '{field}': expected")
    assert registry() == {}


def test_a_wrong_type_in_a_json_file_is_reported_at_its_line(tmp_path):
    path = write(
        tmp_path,
        "bad.json",
        """
        [
          {"config_name": "ok", "model_type": "openai_chat"},
          {
            "config_name": "x",
            "model_type": "openai_chat",
            "model_name": "gpt-4o-mini",
            "stream": "yes"
          }
        ]
        """,
    )
    err = load_error(path)
    issue = only_issue(err)
    assert (issue.file, issue.line, issue.config_name, issue.field) == (str(path), 7, "x", "stream")
    assert str(err) == f"{path}:7: config 'x', field 'stream': expected boolean, got string 'yes'"


def test_a_nested_schema_error_names_the_full_field_path(tmp_path):
    path = write(
        tmp_path,
        "nested.yaml",
        """
        config_name: p
        model_type: post_api_chat
        api_url: http://127.0.0.1:1
        timeout:
          connect: 5
          read: -1
        """,
    )
    err = load_error(path)
    assert any(i.field == "timeout" and i.line == 4 for i in err.issues)
    assert f"{path}:4: config 'p', field 'timeout'" in str(err)


def test_an_unknown_field_gets_a_did_you_mean(tmp_path):
    path = write(
        tmp_path,
        "typo.yaml",
        """
        config_name: typo
        model_type: openai_chat
        strem: true
        """,
    )
    issue = only_issue(load_error(path))
    assert (issue.line, issue.field) == (3, "strem")
    assert "unknown field for model_type 'openai_chat'" in issue.message
    assert "did you mean 'stream'?" in issue.message


def test_an_unknown_field_far_from_any_known_one_has_no_suggestion():
    issue = only_issue(load_error({"config_name": "a", "model_type": "openai_chat", "zzzzzz": 1}))
    assert issue.field == "zzzzzz" and "unknown field" in issue.message
    assert "did you mean" not in issue.message


def test_an_unknown_model_type_lists_the_valid_types_and_suggests_one(tmp_path):
    path = write(
        tmp_path,
        "type.yaml",
        """
        - config_name: t
          model_type: openai_caht
          stream: true
        """,
    )
    issue = only_issue(load_error(path))
    assert (issue.line, issue.config_name, issue.field) == (2, "t", "model_type")
    assert "unknown model_type 'openai_caht'" in issue.message
    assert "did you mean 'openai_chat'?" in issue.message
    valid = sorted(ModelManager.get_instance().model_wrapper_mapping)
    assert f"Valid types: {', '.join(valid)}" in issue.message


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("- stream: true\n  model_type: openai_chat\n", "config_name"),
        ("- stream: true\n  config_name: m\n", "model_type"),
    ],
)
def test_a_missing_required_field_is_reported(tmp_path, text, missing):
    path = write(tmp_path, "missing.yaml", text)
    issue = only_issue(load_error(path))
    assert (issue.file, issue.line) == (str(path), 1)
    assert issue.message == f"missing required field '{missing}'"
    assert str(issue).startswith(f"{path}:1: config")


def test_a_missing_field_required_by_the_wrapper_is_reported():
    # post_api_chat needs base_url or its 0.x name api_url: a schema without anyOf cannot say
    # "one of two", so the wrapper says it when built (tests/test_wrapper_base_url.py).
    read_model_configs({"config_name": "p", "model_type": "post_api_chat"}, clear_existing=True)
    with pytest.raises(ConfigError) as info:
        load_model_by_config_name("p")
    issue = only_issue(info.value)
    assert (issue.config_name, issue.field) == ("p", "base_url")
    assert issue.message.startswith("missing required field 'base_url'")


@pytest.mark.parametrize("value", ["''", "42", "[a]"])
def test_config_name_must_be_a_non_empty_string(tmp_path, value):
    path = write(tmp_path, "name.yaml", f"config_name: {value}\nmodel_type: openai_chat\n")
    issue = only_issue(load_error(path))
    assert (issue.line, issue.field) == (1, "config_name")
    assert "expected a non-empty string" in issue.message


def test_several_problems_are_reported_together_and_nothing_is_registered(tmp_path):
    read_model_configs({"config_name": "earlier", "model_type": "openai_chat"})
    path = write(
        tmp_path,
        "many.yaml",
        """
        - config_name: good
          model_type: openai_chat
        - config_name: a
          model_type: openai_chat
          strem: true
          max_retries: -1
        - config_name: b
          model_type: openai_caht
        - model_type: openai_chat
        """,
    )
    err = load_error(path, clear_existing=True)
    assert [(i.line, i.config_name, i.field) for i in err.issues] == [
        (5, "a", "strem"),
        (6, "a", "max_retries"),
        (8, "b", "model_type"),
        (9, None, None),
    ]
    assert str(err).startswith("4 problems:\n")
    assert isinstance(err, ValueError)  # 0.x raised ValueError for bad configs
    # All or nothing: the good config is not registered and clear_existing did not happen.
    assert list(registry()) == ["earlier"]


def test_a_failing_source_in_a_list_registers_nothing_from_the_others(tmp_path):
    bad = write(tmp_path, "bad.yaml", "config_name: bad\nmodel_type: nope\n")
    load_error([BASIC_YAML, bad])
    assert registry() == {}


# -- duplicates --------------------------------------------------------------------------------
DUPLICATES = """
- config_name: a
  model_type: openai_chat
  model_name: first
- config_name: b
  model_type: openai_chat
- config_name: a
  model_type: openai_chat
  model_name: second
"""


def test_a_duplicate_within_one_file_names_both_locations(tmp_path):
    path = write(tmp_path, "dup.yaml", DUPLICATES)
    issue = only_issue(load_error(path))
    assert (issue.file, issue.line, issue.config_name, issue.field) == (
        str(path),
        6,
        "a",
        "config_name",
    )
    assert f"first defined at {path}:1" in issue.message
    assert "replace: true" in issue.message
    assert registry() == {}


def test_a_duplicate_across_two_loads_names_both_files(tmp_path):
    first = write(tmp_path, "one.yaml", "- {config_name: a, model_type: openai_chat}\n")
    second = write(tmp_path, "two.yaml", "# two\n- {config_name: a, model_type: openai_chat}\n")
    read_model_configs(first)
    err = load_error(second)
    assert str(err) == (
        f"{second}:2: config 'a', field 'config_name': duplicate config_name "
        f"(first defined at {first}:1); set `replace: true` on the later config to replace it"
    )
    assert ModelManager.get_instance().get_model_config("a").file == str(first)


def test_a_duplicate_dict_is_reported_too():
    read_model_configs({"config_name": "a", "model_type": "openai_chat"})
    issue = only_issue(load_error({"config_name": "a", "model_type": "openai_chat"}))
    assert (issue.config_name, issue.field) == ("a", "config_name")
    assert "duplicate config_name" in issue.message


def test_replace_true_on_the_later_config_replaces_it(tmp_path):
    text = DUPLICATES.replace("name: second", "name: second\n  replace: true")
    path = write(tmp_path, "dup.yaml", text)
    assert read_model_configs(path) == ["a", "b"]
    assert get_config_by_name("a")["model_name"] == "second"
    again = {"config_name": "b", "model_type": "openai_chat", "model_name": "new", "replace": True}
    read_model_configs(again)
    assert get_config_by_name("b")["model_name"] == "new"


def test_replace_true_on_the_earlier_config_does_not_allow_a_duplicate(tmp_path):
    text = DUPLICATES.replace("name: first", "name: first\n  replace: true")
    path = write(tmp_path, "dup.yaml", text)
    issue = only_issue(load_error(path))
    assert (issue.line, issue.field) == (7, "config_name")


def test_allow_replace_accepts_duplicates(tmp_path):
    path = write(tmp_path, "dup.yaml", DUPLICATES)
    assert read_model_configs(path, allow_replace=True) == ["a", "b"]
    assert get_config_by_name("a")["model_name"] == "second"
    read_model_configs({"config_name": "a", "model_type": "openai_chat"}, allow_replace=True)
    assert "model_name" not in get_config_by_name("a")


def test_clear_existing_forgets_earlier_configs():
    read_model_configs(BASIC)
    assert read_model_configs(
        {"config_name": "chat", "model_type": "openai_embedding"}, clear_existing=True
    ) == ["chat"]
    assert registry() == {"chat": {"config_name": "chat", "model_type": "openai_embedding"}}


def test_clear_model_configs_allows_loading_the_same_names_again():
    read_model_configs(BASIC_YAML)
    clear_model_configs()
    assert registry() == {}
    assert read_model_configs(BASIC_YAML) == BASIC_NAMES


# -- safety and robustness of parsing ----------------------------------------------------------
@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/apply:subprocess.call",
        "!!python/object/new:os.system",
    ],
)
def test_python_tags_are_rejected_and_never_executed(tmp_path, tag):
    marker = tmp_path / "pwned"
    path = write(
        tmp_path,
        "evil.yaml",
        f"""
        config_name: evil
        model_type: openai_chat
        model_name: {tag} ["touch {marker}"]
        """,
    )
    err = load_error(path)
    issue = only_issue(err)
    assert issue.file == str(path) and issue.line == 3
    assert "invalid YAML" in issue.message and "python/object" in issue.message
    assert not marker.exists()
    assert registry() == {}


def test_duplicate_yaml_keys_are_an_error_with_their_line(tmp_path):
    path = write(
        tmp_path,
        "dupkey.yaml",
        """
        - config_name: a
          model_type: openai_chat
          stream: true
          stream: false
        """,
    )
    issue = only_issue(load_error(path))
    assert (issue.file, issue.line) == (str(path), 4)
    assert "duplicate key 'stream'" in issue.message


def test_duplicate_json_keys_are_an_error(tmp_path):
    path = write(
        tmp_path,
        "dupkey.json",
        '{"config_name": "a", "model_type": "openai_chat", "config_name": "b"}\n',
    )
    issue = only_issue(load_error(path))
    assert issue.file == str(path)
    assert "duplicate key 'config_name'" in issue.message
    assert registry() == {}


def test_invalid_yaml_reports_its_line(tmp_path):
    path = write(
        tmp_path,
        "syntax.yaml",
        """
        - config_name: a
          model_type: openai_chat
          generate_args: {temperature: 0.5
        - config_name: b
        """,
    )
    issue = only_issue(load_error(path))
    assert issue.file == str(path) and issue.line == 4
    assert issue.message.startswith("invalid YAML: ")


def test_invalid_json_reports_its_line(tmp_path):
    path = write(tmp_path, "syntax.json", '[\n  {"config_name": "a",\n   "model_type": }\n]\n')
    issue = only_issue(load_error(path))
    assert (issue.file, issue.line) == (str(path), 3)
    assert issue.message.startswith("invalid JSON: ")


def test_tabs_for_indentation_are_a_located_error(tmp_path):
    path = tmp_path / "tabs.yaml"
    path.write_text("config_name: a\nmodel_type: openai_chat\ngenerate_args:\n\ttemperature: 1\n")
    issue = only_issue(load_error(path))
    assert (issue.file, issue.line) == (str(path), 4)
    assert "invalid YAML" in issue.message


def test_non_utf8_bytes_are_a_config_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("config_name: caf\u00e9\nmodel_type: openai_chat\n".encode("latin-1"))
    issue = only_issue(load_error(path))
    assert issue.file == str(path)
    assert "not UTF-8" in issue.message


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfconfig_name: bom\nmodel_type: openai_chat\n")
    assert read_model_configs(path) == ["bom"]


@pytest.mark.parametrize(
    ("text", "kind"), [("42\n", "int"), ("just text\n", "str"), ("true\n", "bool")]
)
def test_a_top_level_scalar_is_a_config_error(tmp_path, text, kind):
    path = write(tmp_path, "scalar.yaml", text)
    issue = only_issue(load_error(path))
    assert issue.file == str(path)
    assert f"expected a config mapping or a list of them, got {kind}" in issue.message


@pytest.mark.parametrize(("item", "kind"), [("42", "int"), ("[a, b]", "list"), ("text", "str")])
def test_a_list_containing_a_non_mapping_is_a_config_error(tmp_path, item, kind):
    path = write(tmp_path, "items.yaml", f"- config_name: a\n  model_type: openai_chat\n- {item}\n")
    issue = only_issue(load_error(path))
    assert issue.file == str(path)
    assert f"a model config must be a mapping, got {kind}" in issue.message
    assert registry() == {}


def test_a_missing_file_is_a_config_error_naming_it(tmp_path):
    path = tmp_path / "nowhere" / "model_configs.yaml"
    err = load_error(path)
    assert str(err) == f"{path}: config: file not found"
    assert only_issue(err).file == str(path)


def test_a_directory_is_a_config_error(tmp_path):
    issue = only_issue(load_error(tmp_path))
    assert issue.file == str(tmp_path) and issue.message == "not a regular file (a directory)"


def test_a_path_with_a_nul_byte_is_a_config_error():
    # Path.read_bytes raises a plain ValueError for this; it must not escape as such.
    err = load_error(["model\x00configs.yaml"])
    assert type(err) is ConfigError
    assert "invalid file path" in only_issue(err).message


def test_a_recursive_yaml_alias_is_a_located_error(tmp_path):
    path = write(
        tmp_path,
        "loop.yaml",
        "config_name: a\nmodel_type: openai_chat\ngenerate_args: &g {stop: [*g]}\n",
    )
    issue = only_issue(load_error(path))
    assert (issue.file, issue.line) == (str(path), 3)
    assert "recursive" in issue.message


def test_yaml_aliases_to_scalars_and_mappings_work(tmp_path):
    path = write(
        tmp_path,
        "alias.yaml",
        """
        - config_name: a
          model_type: openai_chat
          generate_args: &args {temperature: 0.2}
          max_retries: &n 4
        - config_name: b
          model_type: openai_chat
          generate_args: *args
          max_retries: *n
        """,
    )
    read_model_configs(path)
    assert get_config_by_name("b")["generate_args"] == {"temperature": 0.2}
    assert get_config_by_name("b")["max_retries"] == 4


def _alias_bomb(levels: int) -> str:
    lines = [
        "config_name: bomb",
        "model_type: openai_chat",
        "generate_args:",
        "  l0: &l0 [x, x, x, x, x, x, x, x, x]",
    ]
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_not_expanded(tmp_path):
    # 5 levels (59,049 leaves) loads in milliseconds either way; what is checked is that the
    # aliases were kept shared (or the file rejected), which is what bounds a 9-level bomb.
    path = write(tmp_path, "bomb.yaml", _alias_bomb(5))
    try:
        read_model_configs(path)
    except ConfigError:
        return
    args = ModelManager.get_instance().get_model_config("bomb").data["generate_args"]
    assert args["l4"][0] is args["l4"][1] is args["l3"]


def test_a_deep_yaml_alias_bomb_is_refused_quickly(tmp_path):
    path = write(tmp_path, "bomb9.yaml", _alias_bomb(9))  # ~387 million values once expanded
    tracemalloc.start()
    try:
        issue = only_issue(load_error(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "aliases" in issue.message and issue.file == str(path)
    # Refused before expanding: the expansion would take gigabytes (bounded work, not time).
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB while refusing the bomb"


# -- secrets -----------------------------------------------------------------------------------
def test_a_wrongly_typed_api_key_is_not_echoed(tmp_path):
    path = write(
        tmp_path,
        "key.yaml",
        """
        - config_name: k
          model_type: openai_chat
          api_key: 987654321987
        - config_name: h
          model_type: post_api_chat
          api_url: http://127.0.0.1:1
          headers:
            Authorization: 123456789123
        """,
    )
    err = load_error(path)
    assert [(i.line, i.field) for i in err.issues] == [(3, "api_key"), (7, "headers.Authorization")]
    for issue in err.issues:
        assert issue.message.endswith("got number <hidden>")
    assert "987654321987" not in str(err) and "123456789123" not in str(err)


def test_repr_of_a_loaded_config_masks_the_api_key():
    read_model_configs(BASIC_YAML)
    config = ModelManager.get_instance().get_model_config("chat")
    text = repr(config)
    assert "sk-test-basic-0001" not in text
    assert "'api_key': '***'" in text
    assert f"from {BASIC_YAML}:2" in text
    assert "gpt-4o-mini" in text  # only secrets are masked


def test_get_config_by_name_returns_a_copy():
    read_model_configs(BASIC_YAML)
    copy = get_config_by_name("chat")
    copy["model_type"] = "changed"
    copy["generate_args"]["temperature"] = 2.0
    copy["generate_args"]["stop"].append("more")
    copy["timeout"]["read"] = 1
    assert get_config_by_name("chat") == BASIC[0]
    assert get_config_by_name("no-such-config") is None


# -- property-based: arbitrary input never escapes as anything but ConfigError -----------------
_FIELDS = [
    "config_name",
    "model_type",
    "model_name",
    "stream",
    "generate_args",
    "max_retries",
    "timeout",
    "api_key",
    "base_url",
    "api_url",
    "headers",
    "replace",
    "n_ctx",
]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(["${HYPO_UNSET}", "${HYPO_X:-d}", "$${"])
)
_keys = st.text(max_size=8) | st.sampled_from(["read", "connect"])
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_random_configs = st.fixed_dictionaries(
    {},
    optional={
        "config_name": st.sampled_from(["a", "b"]) | _scalars,
        "model_type": st.sampled_from(
            ["openai_chat", "post_api_chat", "llamacpp_chat", "openai_embedding"]
        )
        | _scalars,
    },
).flatmap(
    lambda base: st.dictionaries(
        st.sampled_from(_FIELDS) | st.text(max_size=8), _values, max_size=6
    ).map(lambda extra: {**extra, **base})
)
# Mostly-valid openai_chat configs, so that the success path is exercised too.
_plausible_configs = st.fixed_dictionaries(
    {"config_name": st.sampled_from(["a", "b", "c"]), "model_type": st.just("openai_chat")},
    optional={
        "model_name": st.text(max_size=8) | _scalars,
        "stream": st.booleans() | _scalars,
        "max_retries": st.integers(-1, 21) | _scalars,
        "timeout": st.floats(-1, 100) | st.dictionaries(_keys, st.floats(-1, 100)) | _scalars,
        "generate_args": st.dictionaries(_keys, _values, max_size=4) | _values,
        "api_key": st.text(max_size=12) | st.none() | _scalars,
        "replace": st.booleans(),
    },
)
_configs = _random_configs | _plausible_configs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=_configs | st.lists(_configs | _values, max_size=4))
def test_random_configs_load_or_raise_config_error(source):
    try:
        names = read_model_configs(source, clear_existing=True)
    except ConfigError as err:
        assert err.issues and all(isinstance(i, ConfigIssue) for i in err.issues)
        assert str(err)
        return
    # What was loaded is registered, and is valid: loading never lets a bad config through.
    manager = ModelManager.get_instance()
    assert set(names) == set(manager.config_names)
    assert manager.validate([manager.get_model_config(n) for n in names]) == []


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=200)
    | st.lists(_configs, max_size=3).map(json.dumps)
    | st.lists(_configs, max_size=3).map(yaml.safe_dump)
)
def test_random_file_contents_load_or_raise_config_error(text):
    with tempfile.TemporaryDirectory() as directory:
        for name in ("c.yaml", "c.json"):
            path = Path(directory, name)
            path.write_text(text, encoding="utf-8")
            try:
                read_model_configs(path, clear_existing=True)
            except ConfigError as err:
                assert err.issues and err.issues[0].file == str(path)


# -- performance sanity ------------------------------------------------------------------------
def test_a_thousand_configs_load_quickly(tmp_path):
    count = 1000
    blocks = [
        f"- config_name: model-{i}\n  model_type: openai_chat\n  model_name: m{i}\n"
        f"  stream: {'true' if i % 2 else 'false'}\n  max_retries: {i % 5}\n"
        f"  generate_args: {{temperature: {i / count}, stop: [x, y]}}\n"
        for i in range(count)
    ]
    path = tmp_path / "many.yaml"
    path.write_text("".join(blocks), encoding="utf-8")
    names = read_model_configs(path)  # its speed: benchmarks/cases.py, case_config
    assert len(names) == count == len(ModelManager.get_instance().config_names)
    last = ModelManager.get_instance().get_model_config(f"model-{count - 1}")
    assert last.line == 6 * (count - 1) + 1
    assert math.isclose(last.data["generate_args"]["temperature"], (count - 1) / count)

    # The same file with one broken config: the error still points at the right line.
    blocks[777] = blocks[777].replace("max_retries: 2", "max_retries: -2")
    path.write_text("".join(blocks), encoding="utf-8")
    issue = only_issue(load_error(path, clear_existing=True))
    assert (issue.line, issue.config_name, issue.field) == (6 * 777 + 5, "model-777", "max_retries")


# -- generate_args: checked where the accepted keys are known ----------------------------------
TYPO_FILE = """
- config_name: local
  model_type: llamacpp_chat
  generate_args: {max_token: 16, temperature: 0.5}
"""


def test_a_generate_args_typo_is_refused_at_load_with_a_did_you_mean(tmp_path):
    path = write(tmp_path, "typo.yaml", TYPO_FILE)
    issue = only_issue(load_error(path))
    assert issue.file == str(path) and issue.config_name == "local"
    assert issue.field == "generate_args.max_token"
    assert "llamacpp_chat" in issue.message and "did you mean 'max_tokens'?" in issue.message


def test_a_generate_args_typo_fails_validate_and_dry_run(tmp_path, capsys):
    from agentscope_legacy.cli import main

    path = write(tmp_path, "typo.yaml", TYPO_FILE)
    assert main(["validate", str(path)]) == 1
    assert "did you mean 'max_tokens'?" in capsys.readouterr().err
    experiment = write(
        tmp_path,
        "exp.yaml",
        """
        model_configs: typo.yaml
        agents:
          a: {class: DialogAgent, model: local, sys_prompt: Hi.}
        pipeline: [a]
        """,
    )
    assert main(["run", str(experiment), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "generate_args.max_token" in err and "did you mean 'max_tokens'?" in err


@pytest.mark.parametrize("model_type", ["openai_chat", "deepseek_chat", "kimi_chat", "xai_chat"])
def test_openai_compatible_generate_args_are_the_chat_completions_parameters(model_type):
    config = {"config_name": "c", "model_type": model_type, "api_key": "sk-test-0000"}
    issue = only_issue(load_error({**config, "generate_args": {"max_token": 5}}))
    assert issue.field == "generate_args.max_token"
    assert "did you mean 'max_tokens'?" in issue.message and "extra_body" in issue.message
    accepted = {
        "max_tokens": 5,
        "temperature": 0.1,
        "response_format": {"type": "json_object"},
        "extra_body": {"top_k": 20},  # other servers' parameters
        "extra_headers": {"X-Trace": "1"},
    }
    read_model_configs({**config, "generate_args": accepted})
    assert get_config_by_name("c")["generate_args"] == accepted


def test_generate_args_of_open_ended_providers_are_not_checked():
    # vLLM takes sampling parameters of its own; post_api servers and user wrappers anything.
    read_model_configs(
        [
            {"config_name": "v", "model_type": "vllm_chat", "generate_args": {"top_k": 5}},
            {
                "config_name": "p",
                "model_type": "post_api_chat",
                "api_url": "http://127.0.0.1:1/v1/chat/completions",
                "generate_args": {"anything": 1},
            },
        ]
    )


def test_the_declared_keys_are_the_sdks_parameters():
    """Every key a wrapper declares is a parameter of the call it goes to (a newer SDK may take
    more: those still reach it through extra_body)."""
    import inspect

    from agentscope_legacy.models._openai_shape import OPENAI_CHAT_ARGS
    from agentscope_legacy.models.llamacpp import LlamaCppChatWrapper

    openai = pytest.importorskip("openai")
    client = openai.OpenAI(api_key="sk-test-0000", base_url="http://127.0.0.1:9/v1")
    sdk = set(inspect.signature(client.chat.completions.create).parameters)
    assert OPENAI_CHAT_ARGS <= sdk - {"model", "messages", "stream"}
    llama_cpp = pytest.importorskip("llama_cpp")
    local = set(inspect.signature(llama_cpp.Llama.create_chat_completion).parameters)
    assert LlamaCppChatWrapper.generate_args_keys <= local - {"self", "messages", "stream"}


def test_a_provider_typeerror_at_call_is_a_typed_error_naming_config_and_key():
    from agentscope_legacy.errors import BadRequestError
    from agentscope_legacy.models._base import ModelWrapperBase
    from agentscope_legacy.models.response import Delta, ModelResponse

    def sdk_create(*, messages, max_tokens=None, stream=False):  # a strict SDK signature
        return iter([Delta(text="hi")]) if stream else ModelResponse(text="hi")

    class Strict(ModelWrapperBase):
        model_type = "strict_test_chat"
        can_stream = True

        def _build_request(self, messages, *, stream, **kwargs):
            return {"messages": messages, "stream": stream, **kwargs}

        def _call(self, request):
            return sdk_create(**request)

        def _open_stream(self, request):
            return sdk_create(**request)

        def _iter_deltas(self, sdk_stream):
            yield from sdk_stream

    model = Strict("strict", generate_args={"max_token": 5})
    for stream in (False, True):
        with pytest.raises(BadRequestError) as info:
            _ = model([{"role": "user", "content": "Hi"}], stream=stream).text
        err = info.value
        assert err.config_name == "strict" and "config=strict" in str(err)
        assert "'generate_args.max_token'" in str(err)
        assert isinstance(err.__cause__, TypeError)
    with pytest.raises(BadRequestError, match="'top_q'"):  # a call kwarg is named as such
        Strict("strict2")([{"role": "user", "content": "Hi"}], top_q=1)


# -- init(): run directories stay in save_dir, a failed init changes nothing ------------------
def runtime_init(**kwargs):
    from agentscope_legacy import _init

    return _init.init(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"name": "../../../x"}, "name", "cannot be used as the run directory's name"),
        ({"name": "a/b"}, "name", "cannot be used as the run directory's name"),
        ({"runtime_id": "/tmp/elsewhere"}, "runtime_id", "cannot be used as the run directory"),
        ({"runtime_id": ".."}, "runtime_id", "cannot be used as the run directory's name"),
        ({"name": "a\x00b"}, "name", "control characters are not allowed in a name"),
        ({"name": "n" * 5000}, "name", "too long: the run directory's name would be 5020 bytes"),
        ({"name": "x\ud800"}, "name", "lone surrogate"),
        ({"save_dir": "a\x00b"}, "save_dir", "invalid save_dir"),
        ({"logger_level": "LOUD"}, "logger_level", "unknown logger_level 'LOUD'"),
    ],
)
def test_init_refuses_what_cannot_be_a_run_directory(tmp_path, kwargs, field, message):
    with pytest.raises(ConfigError) as info:
        runtime_init(**{"save_dir": str(tmp_path / "runs"), **kwargs})
    assert info.value.field == field and message in str(info.value), str(info.value)
    str(info.value).encode("utf-8")  # printable
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] in ([], ["runs"])  # nothing outside save_dir


def test_init_with_a_save_dir_that_is_a_file(tmp_path):
    (tmp_path / "runs").write_text("not a directory")
    for save_dir in (tmp_path / "runs", tmp_path / "runs" / "sub"):
        with pytest.raises(ConfigError) as info:
            runtime_init(save_dir=str(save_dir), name="x")
        assert info.value.field == "save_dir", str(info.value)


def test_a_failed_init_leaves_the_previous_run_as_it_was(tmp_path):
    from agentscope_legacy._runtime import get_runtime

    good = [{"config_name": "good", "model_type": "openai_chat", "api_key": "sk-test-init-01"}]
    runtime_init(model_configs=good, save_dir=str(tmp_path), name="first")
    before = get_runtime()
    bad = [{"config_name": "x\ud800", "model_type": "openai_chat"}]
    for kwargs in ({"model_configs": bad}, {"name": "../x"}, {"save_dir": "a\x00"}):
        with pytest.raises(ConfigError):
            runtime_init(**{"save_dir": str(tmp_path), **kwargs})
        assert get_runtime() is before
        assert ModelManager.get_instance().config_names == ["good"]
    # ... and the next init works.
    runtime_init(model_configs=good, save_dir=str(tmp_path), name="second", allow_replace=True)
    state = json.loads((get_runtime().run_dir / ".config").read_text(encoding="utf-8"))
    assert state["name"] == "second"
    assert sorted(p.name.rsplit("_", 1)[-1] for p in tmp_path.iterdir()) == ["first", "second"]


def test_a_failure_after_the_configs_are_loaded_unloads_them(tmp_path, monkeypatch):
    from agentscope_legacy import _init, _runtime

    def fail(runtime, manager, studio_url=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_init, "_save_state", fail)
    good = [{"config_name": "good", "model_type": "openai_chat", "api_key": "sk-test-init-02"}]
    with pytest.raises(OSError):
        runtime_init(model_configs=good, save_dir=str(tmp_path), name="full")
    assert ModelManager.get_instance().config_names == []
    assert _runtime.get_runtime().run_dir is None


def test_agent_configs_from_a_named_pipe_are_refused(tmp_path):
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("needs named pipes")
    fifo = tmp_path / "agents.json"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        runtime_init(disable_saving=True, agent_configs=str(fifo))
