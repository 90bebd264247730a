"""Realtime model configs (``realtime._config``, ``configs/realtime.yaml``): validated when read,
problems located by file, line, config and field, keys only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pydantic")

from agentscope_legacy.cli import main  # noqa: E402
from agentscope_legacy.errors import ConfigError  # noqa: E402
from agentscope_legacy.realtime import REALTIME_MODEL_TYPES  # noqa: E402
from agentscope_legacy.realtime._config import (  # noqa: E402
    RealtimeConfig,
    read_realtime_configs,
)

SHIPPED = Path(__file__).resolve().parents[1] / "configs" / "realtime.yaml"


def _write(tmp_path: Path, text: str, name: str = "rt.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _issues(path: Path) -> list:
    with pytest.raises(ConfigError) as info:
        read_realtime_configs(path)
    return info.value.issues


def test_shipped_configs_load_and_name_their_agent(monkeypatch):
    for var in ("OPENAI_API_KEY", "DASHSCOPE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    configs = read_realtime_configs(SHIPPED)
    assert set(configs) >= {"openai-realtime", "gemini-realtime"}
    for name, config in configs.items():
        assert isinstance(config, RealtimeConfig) and config.config_name == name
        assert config.model_type in REALTIME_MODEL_TYPES
        assert config.config.data["model_name"]
        assert config.agent_name == "Friday" and "Friday" in config.sys_prompt
    # Every cloud config reads its key from the environment, none is written in the file.
    for name in set(configs) - {"local-realtime"}:
        assert configs[name].config.data["api_key"] == ""
        assert configs[name].config.missing_env["api_key"].endswith("_API_KEY")


def test_build_makes_a_new_model_per_call_with_the_class_fields(tmp_path, monkeypatch):
    monkeypatch.setenv("RT_TEST_KEY", "sk-rt-config-secret-1234")
    path = _write(tmp_path, """
- config_name: rt
  model_type: openai_realtime
  model_name: gpt-4o-realtime-preview
  api_key: ${RT_TEST_KEY}
  base_url: http://127.0.0.1:9/v1
  voice: verse
  response_timeout: 5
  agent_name: Ada
  sys_prompt: Be brief.
""")
    config = read_realtime_configs(path)["rt"]
    first, second = config.build(), config.build()
    assert first is not second
    assert type(first).__name__ == "OpenAIRealtimeModel"
    assert (first.model_name, first.voice, first.response_timeout) == (
        "gpt-4o-realtime-preview", "verse", 5)
    assert (config.agent_name, config.sys_prompt) == ("Ada", "Be brief.")
    for text in (repr(first), repr(config), str(config.config)):
        assert "sk-rt-config-secret-1234" not in text


def test_unset_key_fails_only_when_built(tmp_path, monkeypatch):
    monkeypatch.delenv("RT_UNSET_KEY", raising=False)
    path = _write(tmp_path, """
- config_name: keyless
  model_type: openai_realtime
  api_key: ${RT_UNSET_KEY}
""")
    config = read_realtime_configs(path)["keyless"]  # loading is fine
    with pytest.raises(ConfigError) as info:
        config.build()
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.config_name, issue.field) == (
        str(path), 4, "keyless", "api_key")
    assert "RT_UNSET_KEY" in issue.message


def test_unknown_field_names_file_line_config_and_a_suggestion(tmp_path):
    path = _write(tmp_path, """
- config_name: typo
  model_type: openai_realtime
  respons_timeout: 3
  agent_name: Ada
""")
    (issue,) = _issues(path)
    assert (issue.file, issue.line, issue.config_name, issue.field) == (
        str(path), 4, "typo", "respons_timeout")
    assert "did you mean 'response_timeout'" in issue.message


def test_wrong_types_of_common_and_class_fields(tmp_path):
    path = _write(tmp_path, """
- config_name: bad
  model_type: openai_realtime
  connect_timeout: -1
  turn_detection: always
  agent_name: ""
""")
    issues = {i.field: i for i in _issues(path)}
    assert set(issues) == {"connect_timeout", "turn_detection", "agent_name"}
    assert issues["connect_timeout"].line == 4 and "> 0" in issues["connect_timeout"].message
    assert issues["turn_detection"].line == 5 and "always" in issues["turn_detection"].message
    assert all(i.config_name == "bad" for i in issues.values())


def test_unknown_model_type_lists_the_realtime_types(tmp_path):
    path = _write(tmp_path, "- config_name: x\n  model_type: openai_realtim\n")
    (issue,) = _issues(path)
    assert issue.field == "model_type" and "did you mean 'openai_realtime'" in issue.message
    assert all(t in issue.message for t in REALTIME_MODEL_TYPES)


def test_missing_model_type_and_duplicate_names(tmp_path):
    path = _write(tmp_path, """
- config_name: a
- config_name: b
  model_type: openai_realtime
- config_name: b
  model_type: gemini_realtime
""")
    issues = _issues(path)
    assert [(i.config_name, i.field) for i in issues] == [("a", None), ("b", "config_name")]
    assert "model_type" in issues[0].message and issues[1].line == 5


def test_replace_true_takes_the_later_config(tmp_path):
    path = _write(tmp_path, """
- config_name: b
  model_type: openai_realtime
- config_name: b
  model_type: gemini_realtime
  replace: true
""")
    assert read_realtime_configs(path)["b"].model_type == "gemini_realtime"


def test_cli_validate_checks_realtime_configs_beside_chat_configs(tmp_path, capsys):
    good = _write(tmp_path, "- config_name: rt\n  model_type: openai_realtime\n"
                  "- config_name: chat\n  model_type: openai_chat\n  api_key: k\n", "good.yaml")
    assert main(["validate", str(good)]) == 0
    assert "ok: 2 config(s)" in capsys.readouterr().out
    bad = _write(tmp_path, "- config_name: rt\n  model_type: openai_realtime\n  voise: x\n",
                 "bad.yaml")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3: config 'rt', field 'voise'" in err and "did you mean 'voice'" in err


def test_cli_validate_passes_the_shipped_file(capsys):
    assert main(["validate", str(SHIPPED)]) == 0
    assert "ok:" in capsys.readouterr().out
