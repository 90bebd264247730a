"""The CLI's model discovery: ``models --provider P [--json]``, and chatting with a
``"provider:model"`` string. ``cli.py`` holds the parser and calls these.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_provider_arguments(parser: argparse.ArgumentParser) -> None:
    """``models``' options beside its files."""
    parser.add_argument(
        "--provider",
        "-p",
        metavar="PROVIDER",
        help="list the models a provider has (openai, anthropic, dashscope, gemini, ollama, "
        "deepseek, kimi, xai, vllm, local); the key comes from its environment variable",
    )
    parser.add_argument(
        "--base-url", help="the provider's endpoint (an OpenAI-compatible server, Ollama's host)"
    )
    parser.add_argument("--json", action="store_true", help="print the model cards as JSON")
    parser.add_argument(
        "--refresh", action="store_true", help="ask the provider even when the cache is fresh"
    )


def list_provider_models(args: argparse.Namespace) -> int:
    """``models --provider P``: a table of model, display name and context size (or JSON)."""
    from .credential import credential_for
    from .errors import AgentScopeError

    kwargs: dict[str, Any] = {}
    if args.base_url:
        # The local model has a file, not an endpoint.
        kwargs["model_path" if args.provider == "local" else "base_url"] = args.base_url
    try:
        cards = credential_for(args.provider, **kwargs).list_models_sync(refresh=args.refresh)
    except (AgentScopeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([card.to_dict() for card in cards], indent=2, ensure_ascii=False))
        return 0
    rows = [("model", "display name", "context size")]
    for card in cards:
        size = card.context_size
        rows.append((card.model_name, card.display_name or "-", "-" if size is None else str(size)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not cards:
        print(f"({args.provider} listed no models)", file=sys.stderr)
    return 0


def chat_stream_default(args: argparse.Namespace, model: Any) -> bool | None:
    """Whether ``chat`` streams: ``--stream``/``--no-stream``, else the config's choice; a
    model named by a ``"provider:model"`` string has no config, so it streams if it can."""
    from .models import get_config_by_name

    if args.stream is not None or get_config_by_name(args.config_name) is not None:
        return args.stream
    return True if model.can_stream else None
