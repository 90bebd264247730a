"""The model registry: built-in wrapper classes, user classes, the default manager, imports."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import agentscope_legacy
from agentscope_legacy.config import ModelConfig
from agentscope_legacy.errors import ConfigError
from agentscope_legacy.models import (
    ModelResponse,
    ModelWrapperBase,
    clear_model_configs,
    load_model_by_config_name,
    read_model_configs,
    register_model_wrapper_class,
)
from agentscope_legacy.models.manager import ModelManager, builtin_wrappers

# Every built-in model_type. Other issues add providers: extend this one constant.
BUILTIN_MODEL_TYPES = frozenset(
    {
        "openai_chat",
        "openai_embedding",
        "openai_dall_e",
        "deepseek_chat",
        "kimi_chat",
        "xai_chat",
        "vllm_chat",
        "yi_chat",
        "post_api_chat",
        "post_api_embedding",
        "llamacpp_chat",
        "local_embedding",
        "dashscope_chat",
        "dashscope_multimodal",
        "dashscope_text_embedding",
        "dashscope_multimodal_embedding",
        "dashscope_image_synthesis",
        "gemini_chat",
        "gemini_embedding",
        "zhipuai_chat",
        "zhipuai_embedding",
        "ollama_chat",
        "ollama_generate",
        "ollama_embedding",
        "litellm_chat",
        "anthropic_chat",
        "local_tts",
        "openai_tts",
        "dashscope_tts",
        "dashscope_realtime_tts",
        "gemini_tts",
    }
)
# The fields a type requires beyond config_name/model_type, to build a minimal valid config.
REQUIRED_EXTRAS: dict[str, dict[str, Any]] = {
    "post_api_chat": {"api_url": "http://127.0.0.1:8000/v1/chat/completions"},
    "post_api_embedding": {"api_url": "http://127.0.0.1:8000/v1/embeddings"},
}
DATA = Path(__file__).parent / "data" / "configs"
# Imported by no part of `import agentscope_legacy` (top-level module names).
HEAVY_MODULES = [
    "openai",
    "llama_cpp",
    "xllamacpp",
    "dashscope",
    "anthropic",
    "google",
    "zhipuai",
    "ollama",
    "litellm",
    "jsonschema",
    "yaml",
    "requests",
    "loguru",
]


def minimal_config(model_type: str, name: str = "m") -> dict[str, Any]:
    return {"config_name": name, "model_type": model_type, **REQUIRED_EXTRAS.get(model_type, {})}


# -- user wrapper classes in the 0.x styles ----------------------------------------------------
class EchoWrapper(ModelWrapperBase):
    """0.0.x style: its own ``__init__`` taking **kwargs and its own ``__call__``."""

    model_type = "test_echo"

    def __init__(self, config_name: str, model_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(config_name=config_name, model_name=model_name)
        self.options = kwargs

    def __call__(self, prompt: str, **kwargs: Any) -> ModelResponse:
        return ModelResponse(text=f"{self.model_name} echoes {prompt}")


class UpperWrapper(ModelWrapperBase):
    """0.1.x style: only the hooks; the base class's ``__call__`` drives them."""

    model_type = "test_upper"

    def __init__(
        self, config_name: str, model_name: str | None = None, suffix: str = "", **kwargs: Any
    ) -> None:
        super().__init__(config_name, model_name, **kwargs)
        self.suffix = suffix

    def _build_request(self, text: str, *, stream: bool, **kwargs: Any) -> dict[str, Any]:
        return {"text": text, **kwargs}

    def _call(self, request: dict[str, Any]) -> ModelResponse:
        return ModelResponse(text=request["text"].upper() + self.suffix, raw=request)


class StrictWrapper(ModelWrapperBase):
    """No ``config_schema`` and no **kwargs: its schema comes from the signature."""

    model_type = "test_strict"

    def __init__(
        self,
        config_name: str,
        model_name: str | None = None,
        temperature: float = 0.5,
        endpoint: str = "",
    ) -> None:
        super().__init__(config_name, model_name)
        self.temperature, self.endpoint = temperature, endpoint


# -- built-in classes --------------------------------------------------------------------------
def test_the_builtin_mapping_is_exactly_the_known_types():
    assert set(builtin_wrappers()) == BUILTIN_MODEL_TYPES
    assert set(ModelManager().model_wrapper_mapping) == BUILTIN_MODEL_TYPES
    assert set(ModelManager.get_instance().model_wrapper_mapping) == BUILTIN_MODEL_TYPES
    for model_type, cls in builtin_wrappers().items():
        assert issubclass(cls, ModelWrapperBase) and cls.model_type == model_type


@pytest.mark.parametrize("model_type", sorted(BUILTIN_MODEL_TYPES))
def test_each_builtin_schema_is_valid_and_rejects_unknown_fields(model_type):
    schema = builtin_wrappers()[model_type].json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert {"config_name", "model_type"} <= set(schema["required"])
    validator = Draft202012Validator(schema)
    config = minimal_config(model_type)
    assert list(validator.iter_errors(config)) == []
    errors = list(validator.iter_errors({**config, "no_such_field": 1}))
    assert [e.validator for e in errors] == ["additionalProperties"]
    json.dumps(schema)  # plain JSON: can be published as a schema file


@pytest.mark.parametrize("model_type", sorted(BUILTIN_MODEL_TYPES))
def test_each_builtin_type_loads_a_minimal_config_and_rejects_an_unknown_field(model_type):
    assert read_model_configs(minimal_config(model_type)) == ["m"]
    with pytest.raises(ConfigError) as info:
        read_model_configs({**minimal_config(model_type, "n"), "stremm": True})
    assert [(i.config_name, i.field) for i in info.value.issues] == [("n", "stremm")]


# -- register_model_wrapper_class --------------------------------------------------------------
def test_a_registered_0_0_x_style_class_is_usable_from_a_config():
    register_model_wrapper_class(EchoWrapper)
    read_model_configs(
        {
            "config_name": "echo",
            "model_type": "test_echo",
            "model_name": "parrot",
            "anything": {"goes": [1, 2]},
        }
    )
    model = load_model_by_config_name("echo")
    assert isinstance(model, EchoWrapper)
    assert model.options == {"anything": {"goes": [1, 2]}}
    assert model("hi").text == "parrot echoes hi"


def test_a_registered_hooks_style_class_is_driven_by_the_base_call():
    register_model_wrapper_class(UpperWrapper)
    read_model_configs(
        {
            "config_name": "up",
            "model_type": "test_upper",
            "suffix": "!",
            "generate_args": {"flag": 1},
            "replace": False,
        }
    )
    model = load_model_by_config_name("up")
    response = model("hello", extra=2)
    assert response.text == "HELLO!"
    assert response.raw == {"text": "hello", "flag": 1, "extra": 2}  # generate_args merged
    totals = agentscope_legacy.get_runtime().monitor.totals[("up", "up")]
    assert totals.calls == 1  # the base class recorded the call


def test_a_duplicate_model_type_needs_exist_ok():
    register_model_wrapper_class(EchoWrapper)
    replacement = type("EchoWrapper2", (EchoWrapper,), {})
    with pytest.raises(ValueError, match="'test_echo' is already registered to EchoWrapper"):
        register_model_wrapper_class(replacement)
    assert ModelManager.get_instance().model_wrapper_mapping["test_echo"] is EchoWrapper
    register_model_wrapper_class(replacement, exist_ok=True)
    assert ModelManager.get_instance().model_wrapper_mapping["test_echo"] is replacement
    with pytest.raises(ValueError, match="already registered to EchoWrapper2"):
        register_model_wrapper_class(EchoWrapper)


def test_a_builtin_model_type_cannot_be_taken_silently():
    chat = type("MyChat", (EchoWrapper,), {"model_type": "openai_chat"})
    with pytest.raises(ValueError, match="already registered"):
        register_model_wrapper_class(chat)
    register_model_wrapper_class(chat, exist_ok=True)
    read_model_configs({"config_name": "c", "model_type": "openai_chat", "whatever": 1})
    assert isinstance(load_model_by_config_name("c"), chat)


@pytest.mark.parametrize(
    "candidate",
    [
        object,
        EchoWrapper(config_name="instance"),
        "test_echo",
        None,
        type("Plain", (), {"model_type": "plain"}),
    ],
    ids=["object", "instance", "str", "none", "plain-class"],
)
def test_a_non_subclass_is_a_type_error(candidate):
    with pytest.raises(TypeError, match="subclass of ModelWrapperBase"):
        register_model_wrapper_class(candidate)


@pytest.mark.parametrize(
    "attrs", [{}, {"model_type": ""}, {"model_type": 3}], ids=["absent", "empty", "not-a-str"]
)
def test_a_class_without_a_model_type_is_a_value_error(attrs):
    cls = type("NoType", (ModelWrapperBase,), attrs)
    with pytest.raises(ValueError, match="NoType must define a string `model_type`"):
        register_model_wrapper_class(cls)
    assert set(ModelManager.get_instance().model_wrapper_mapping) == BUILTIN_MODEL_TYPES


def test_a_class_without_schema_or_kwargs_gets_a_schema_from_its_signature():
    schema = StrictWrapper.json_schema()
    Draft202012Validator.check_schema(schema)
    assert {"temperature", "endpoint"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    register_model_wrapper_class(StrictWrapper)
    read_model_configs(
        {"config_name": "s", "model_type": "test_strict", "temperature": 0.1, "endpoint": "x"}
    )
    model = load_model_by_config_name("s")
    assert (model.temperature, model.endpoint) == (0.1, "x")
    with pytest.raises(ConfigError) as info:
        read_model_configs({"config_name": "t", "model_type": "test_strict", "temprature": 0.1})
    [issue] = info.value.issues
    assert issue.field == "temprature"
    assert "did you mean 'temperature'?" in issue.message
    assert "t" not in ModelManager.get_instance().config_names


@pytest.mark.parametrize("field", ["stream", "generate_args", "max_retries", "timeout"])
def test_a_signature_schema_rejects_common_fields_the_constructor_does_not_take(field):
    # Accepted at load, they would only fail at build time, with a TypeError.
    register_model_wrapper_class(StrictWrapper)
    with pytest.raises(ConfigError) as info:
        read_model_configs({"config_name": "s", "model_type": "test_strict", field: 1})
    [issue] = info.value.issues
    assert issue.field == field and "unknown field for model_type 'test_strict'" in issue.message


def test_a_class_inheriting_the_base_constructor_takes_exactly_the_common_fields():
    hooks_only = type(
        "HooksOnly",
        (UpperWrapper,),
        {"model_type": "test_hooks", "__init__": ModelWrapperBase.__init__},
    )
    schema = hooks_only.json_schema()
    assert schema["additionalProperties"] is False
    register_model_wrapper_class(hooks_only)
    read_model_configs(
        {
            "config_name": "h",
            "model_type": "test_hooks",
            "stream": False,
            "generate_args": {"a": 1},
            "max_retries": 0,
        }
    )
    assert load_model_by_config_name("h").generate_args == {"a": 1}
    with pytest.raises(ConfigError) as info:
        read_model_configs({"config_name": "t", "model_type": "test_hooks", "strem": True})
    [issue] = info.value.issues
    assert issue.field == "strem" and "did you mean 'stream'?" in issue.message


def test_a_class_with_kwargs_accepts_any_field():
    schema = EchoWrapper.json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is True
    register_model_wrapper_class(EchoWrapper)
    fields = {"a": 1, "b": [None], "c": {"d": "e"}, "temperature": "hot"}
    assert read_model_configs({"config_name": "k", "model_type": "test_echo", **fields}) == ["k"]
    assert load_model_by_config_name("k").options == fields


def test_registration_is_per_manager():
    private = ModelManager()
    private.register_model_wrapper_class(EchoWrapper)
    assert "test_echo" in private.model_wrapper_mapping
    assert "test_echo" not in ModelManager.get_instance().model_wrapper_mapping
    with pytest.raises(ConfigError, match="unknown model_type 'test_echo'"):
        read_model_configs({"config_name": "e", "model_type": "test_echo"})


def test_the_unknown_type_message_lists_registered_user_types():
    register_model_wrapper_class(EchoWrapper)
    with pytest.raises(ConfigError) as info:
        read_model_configs({"config_name": "e", "model_type": "test_ecco"})
    assert "did you mean 'test_echo'?" in str(info.value)
    assert "test_echo" in str(info.value).split("Valid types:")[1]


# -- the default manager and built wrappers ----------------------------------------------------
def test_get_instance_is_the_manager_the_module_functions_use():
    manager = ModelManager.get_instance()
    assert ModelManager.get_instance() is manager
    read_model_configs(DATA / "basic.yaml")
    assert manager.config_names == ["chat", "local", "post"]
    register_model_wrapper_class(EchoWrapper)
    assert manager.model_wrapper_mapping["test_echo"] is EchoWrapper
    clear_model_configs()
    assert manager.config_names == []
    assert agentscope_legacy.read_model_configs is read_model_configs


def test_the_default_manager_is_created_once_across_threads():
    seen: list[ModelManager] = []
    barrier = threading.Barrier(8)

    def get() -> None:
        barrier.wait()
        seen.append(ModelManager.get_instance())

    threads = [threading.Thread(target=get) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(seen) == 8 and all(m is seen[0] for m in seen)


def test_a_built_wrapper_is_shared_unless_fresh():
    register_model_wrapper_class(EchoWrapper)
    read_model_configs({"config_name": "e", "model_type": "test_echo"})
    first = load_model_by_config_name("e")
    assert load_model_by_config_name("e") is first
    assert ModelManager.get_instance().get_model_by_config_name("e") is first
    fresh = load_model_by_config_name("e", fresh=True)
    assert fresh is not first and isinstance(fresh, EchoWrapper)
    assert load_model_by_config_name("e") is first  # fresh=True did not replace the shared one


def test_replacing_a_config_rebuilds_its_wrapper():
    register_model_wrapper_class(EchoWrapper)
    read_model_configs({"config_name": "e", "model_type": "test_echo", "model_name": "one"})
    first = load_model_by_config_name("e")
    read_model_configs(
        {"config_name": "e", "model_type": "test_echo", "model_name": "two", "replace": True}
    )
    second = load_model_by_config_name("e")
    assert second is not first and second.model_name == "two"
    assert "replace" not in second.options  # `replace` is not passed to the constructor


def test_building_after_clear_model_configs_says_none_are_loaded():
    read_model_configs(DATA / "basic.yaml")
    clear_model_configs()
    with pytest.raises(ConfigError, match="no model configs loaded"):
        load_model_by_config_name("chat")


def test_an_unknown_config_name_gets_a_did_you_mean():
    read_model_configs(DATA / "basic.yaml")
    with pytest.raises(ConfigError) as info:
        load_model_by_config_name("chta")
    message = str(info.value)
    assert "cannot find config_name 'chta'" in message
    assert "did you mean 'chat'?" in message
    assert "loaded: chat, local, post" in message


def test_a_config_error_from_a_constructor_is_located():
    read_model_configs(DATA / "basic.yaml")
    read_model_configs(
        {
            "config_name": "gguf",
            "model_type": "llamacpp_chat",
            "model_path": "/nonexistent/model.gguf",
        }
    )
    with pytest.raises(ConfigError) as info:
        load_model_by_config_name("gguf")
    [issue] = info.value.issues
    assert (issue.config_name, issue.field) == ("gguf", "model_path")
    assert "model file not found" in issue.message


# -- thread safety -----------------------------------------------------------------------------
def _race(manager: ModelManager, classes: list[type]) -> list[BaseException]:
    """Register ``classes`` while three threads read the registry; the errors they hit."""
    configs = [ModelConfig({"config_name": f"c{i}", "model_type": "test_t0"}) for i in range(3)]
    errors: list[BaseException] = []
    readers_running = threading.Barrier(4)
    done = threading.Event()

    def writer() -> None:
        try:
            readers_running.wait(60)
            for cls in classes:
                manager.register_model_wrapper_class(cls)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def iterate() -> None:  # what 0.x code did: walk the mapping
        for model_type, cls in manager.model_wrapper_mapping.items():
            assert cls.model_type == model_type

    def validate() -> None:  # loading configs and the unknown-type message read it too
        if "test_t0" in manager.model_wrapper_mapping:
            assert manager.validate(configs) == []
        with pytest.raises(ConfigError):
            manager.wrapper_class("test_nope")

    def reader(read) -> None:
        try:
            readers_running.wait(60)
            for _ in range(100_000):  # bounded, in case the writer dies
                read()
                if done.is_set():
                    break
        except BaseException as exc:
            errors.append(exc)

    readers = (iterate, iterate, validate)
    threads = [threading.Thread(target=reader, args=(read,)) for read in readers]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    return errors


def test_reading_the_registry_while_classes_are_registered_never_raises():
    count = 1000
    classes = [type(f"W{i}", (EchoWrapper,), {"model_type": f"test_t{i}"}) for i in range(count)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, to interleave reads and writes
    try:
        # Each round catches an unsafe registry about half the time: repeat.
        managers = [ModelManager.get_instance(), *(ModelManager() for _ in range(5))]
        for manager in managers:
            assert _race(manager, classes) == []
    finally:
        sys.setswitchinterval(interval)
    expected = BUILTIN_MODEL_TYPES | {f"test_t{i}" for i in range(count)}
    assert all(set(m.model_wrapper_mapping) == expected for m in managers)


# -- import cost and public names --------------------------------------------------------------
def _modules_after(code: str) -> tuple[list[str], str]:
    script = (
        "import sys\n" + code + "\n"
        "print('MODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("MODULES "))
    return line.split()[1:], result.stdout


def test_import_agentscope_legacy_imports_no_sdk_and_no_heavy_dependency():
    modules, _ = _modules_after("import agentscope_legacy")
    assert "agentscope_legacy" in modules
    assert sorted(set(modules) & set(HEAVY_MODULES)) == []


def test_loading_configs_imports_no_provider_sdk():
    path = DATA / "basic.yaml"  # openai_chat, llamacpp_chat and post_api_chat configs
    modules, stdout = _modules_after(
        "from agentscope_legacy.models import read_model_configs\n"
        f"print('LOADED', read_model_configs({str(path)!r}))\n"
    )
    assert "LOADED ['chat', 'local', 'post']" in stdout
    assert "jsonschema" in modules and "yaml" in modules  # validation really happened
    assert "openai" not in modules
    assert "llama_cpp" not in modules and "xllamacpp" not in modules


def test_all_is_sorted_and_every_name_resolves():
    names = agentscope_legacy.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(agentscope_legacy, name) is not None, name
    assert agentscope_legacy.ModelWrapperBase is ModelWrapperBase
    assert agentscope_legacy.load_model_by_config_name is load_model_by_config_name
    with pytest.raises(AttributeError):
        agentscope_legacy.no_such_name  # noqa: B018
