"""The xllamacpp runtime of the local model (the default; see ``_local_runtime.py``).

xllamacpp runs llama.cpp's own server in process: ``Server(CommonParams)`` loads the model and
``handle_chat_completions(request, callback)`` blocks while it calls ``callback`` with each
OpenAI-shaped chunk (a dict), and stops generating when the callback returns true.

* **Streams.** One worker thread per loaded model runs those blocking calls, one at a time, and
  hands each chunk over through a queue: the stream is a plain generator of chunk dicts (each
  holds one token's delta, nothing is re-copied), and the thread lives as long as the model,
  not a call. Closing the generator, or an exception such as KeyboardInterrupt while it waits,
  makes the callback return true and waits until llama.cpp has stopped (at most one token).
  Streams ask for ``stream_options.include_usage``, so their last chunk carries the usage.
* **Nothing open to others.** A ``Server`` always serves HTTP too (it cannot be turned off:
  no host at all crashes it). It listens on a Unix socket in a fresh private directory
  (mode 0700, removed when the model is released), so no TCP port is opened and other users
  cannot connect; and it requires a random per-process key (``api_keys``), so even this user's
  other programs get 401. Where Unix sockets are not available it binds 127.0.0.1 with the key.
* **Quiet.** llama.cpp's log goes to stderr only with ``verbose: true``.
* **Same calls, same errors as llama-cpp-python.** ``generate_args`` take
  ``Llama.create_chat_completion``'s names (``mirostat_mode`` becomes llama.cpp's
  ``mirostat``); an unknown name is a TypeError as llama-cpp-python raises; a prompt longer
  than the context is the same BadRequestError.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import secrets
import shutil
import socket
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import BadRequestError, ProviderError

#: ``Llama.create_chat_completion``'s parameters (llama-cpp-python's names) that llama.cpp's
#: server takes as they are, and those it spells differently.
SAME_NAME = frozenset(
    "messages stream functions function_call tools tool_choice temperature top_p top_k min_p "
    "typical_p stop seed response_format max_tokens presence_penalty frequency_penalty "
    "repeat_penalty tfs_z mirostat_tau mirostat_eta model grammar logit_bias logprobs "
    "top_logprobs".split()
)
RENAMED = {"mirostat_mode": "mirostat"}
#: llama-cpp-python's Python-object parameters, which a server cannot take.
PYTHON_ONLY = frozenset({"logits_processor"})
#: The longest Unix socket path (``sun_path`` is 108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100

_END = object()


class _Failure:
    """An exception raised by the worker's call, handed to the waiting caller."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _params(
    path: str,
    *,
    n_ctx: int,
    n_threads: int,
    n_threads_batch: int,
    n_batch: int,
    seed: int | None = None,
    chat_format: str | None = None,
    verbose: bool = False,
    warmup: bool = True,
) -> tuple[Any, str, str | None]:
    """``CommonParams`` for one model: (params, api key, private directory or None)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = path
    params.n_ctx = n_ctx
    params.n_batch = n_batch
    params.n_ubatch = min(n_batch, 512)
    params.n_parallel = 1
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads_batch
    params.warmup = warmup
    if seed is not None:
        params.sampling.seed = seed
    if chat_format:
        params.chat_template = chat_format  # a llama.cpp template name, or a Jinja template
    params.verbosity = 3 if verbose else -1
    # The HTTP side: a private socket, a random key, nothing but the API.
    key = secrets.token_urlsafe(32)
    params.api_keys = [key]
    params.ui = False
    params.endpoint_slots = False
    params.endpoint_metrics = False
    params.n_threads_http = 2
    directory = None
    if hasattr(socket, "AF_UNIX"):
        directory = tempfile.mkdtemp(prefix="agentscope-xllamacpp-")  # mode 0700
        sock = os.path.join(directory, "http.sock")
        if len(sock) > MAX_SOCKET_PATH:
            os.rmdir(directory)
            directory = None
        else:
            params.hostnames = [sock]
    if directory is None:
        params.hostnames = ["127.0.0.1"]
        params.port = 0
    return params, key, directory


def _start(params: Any, directory: str | None) -> Any:
    import xllamacpp

    try:
        return xllamacpp.Server(params)
    except BaseException:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        raise


class _Endpoint:
    """The server's HTTP side, as its owner reaches it: the address and the key."""

    def __init__(self, server: Any, key: str, directory: str | None) -> None:
        self.address: str = server.listening_address  # unix:///... or http://127.0.0.1:port
        self.key = key
        self.directory = directory

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        if self.address.startswith("unix://"):
            return _UnixConnection(self.address[len("unix://") :], timeout)
        host, port = self.address.removeprefix("http://").rsplit(":", 1)
        return http.client.HTTPConnection(host, int(port), timeout=timeout)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        conn = self.connection()
        try:
            headers = {"Authorization": f"Bearer {self.key}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise ProviderError(
                f"xllamacpp {path}: HTTP {response.status}: {payload[:500]!r}",
                status=response.status,
            )
        return json.loads(payload)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _Counts:
    """Jobs handed to the worker and jobs it has finished."""

    __slots__ = ("submitted", "done")

    def __init__(self) -> None:
        self.submitted = self.done = 0


def _serve(server: Any, jobs: queue.SimpleQueue, counts: _Counts) -> None:
    """The worker: run each job's blocking call, its chunks and its end into its sink."""
    while (job := jobs.get()) is not None:
        request, sink, cancelled = job

        def callback(
            chunk: Any, sink: Callable[[Any], None] = sink, stop: Any = cancelled.is_set
        ) -> bool:
            sink(chunk)
            return stop()

        try:
            server.handle_chat_completions(request, callback)
        except BaseException as exc:  # handed to the caller, raised there
            sink(_Failure(exc))
        finally:
            counts.done += 1
            sink(_END)
        del job, request, sink, cancelled, callback


def _release(jobs: queue.SimpleQueue, directory: str | None) -> None:
    jobs.put(None)  # the worker ends, dropping the last reference to the server
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


class XllamacppChat:
    """A GGUF served in process by ``xllamacpp.Server``; calls run one at a time."""

    name = "xllamacpp"

    def __init__(self, path: str, **options: Any) -> None:
        #: The options the model was loaded with (n_ctx, n_threads, n_threads_batch...).
        self.options = options
        params, key, directory = _params(path, **options)
        server = _start(params, directory)
        self.endpoint = _Endpoint(server, key, directory)
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._counts = _Counts()
        self._worker = threading.Thread(
            target=_serve, args=(server, self._jobs, self._counts), name="xllamacpp", daemon=True
        )
        self._worker.start()
        del server  # the worker holds it; released with this object
        weakref.finalize(self, _release, self._jobs, directory)

    @property
    def busy(self) -> bool:
        """Whether a call is still running in the worker (a closed stream's has stopped)."""
        return self._counts.done < self._counts.submitted

    # -- requests ----------------------------------------------------------------------------
    @staticmethod
    def _request(request: dict[str, Any], stream: bool) -> dict[str, Any]:
        """llama-cpp-python's parameters as llama.cpp's server takes them."""
        out: dict[str, Any] = {}
        for key, value in request.items():
            if key in SAME_NAME:
                out[key] = value
            elif key in RENAMED:
                out[RENAMED[key]] = value
            elif key in PYTHON_ONLY:
                raise BadRequestError(
                    f"'{key}' takes Python objects, which only the llama-cpp-python runtime "
                    "can use: set `runtime: llama_cpp` in the config"
                )
            else:
                raise TypeError(f"chat completion got an unexpected keyword argument '{key}'")
        if out.get("grammar") is not None and not isinstance(out["grammar"], str):
            raise BadRequestError("'grammar' must be a GBNF string on the xllamacpp runtime")
        out["stream"] = stream
        if stream:
            out["stream_options"] = {"include_usage": True}
        return out

    def _submit(self, request: dict[str, Any], cancelled: threading.Event) -> queue.SimpleQueue:
        sink: queue.SimpleQueue = queue.SimpleQueue()
        self._counts.submitted += 1
        self._jobs.put((request, sink.put, cancelled))
        return sink

    def _next(self, sink: queue.SimpleQueue) -> Any:
        item = sink.get()
        if isinstance(item, _Failure):
            raise item.exc
        elif isinstance(item, dict) and "error" in item and "choices" not in item:
            raise _server_error(item["error"])
        return item

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        sink = self._submit(self._request(request, stream=False), threading.Event())
        # A non-streamed call cannot be stopped midway: interrupted, it finishes in the worker
        # (its result dropped) and the next call waits for it.
        result = None
        while (item := self._next(sink)) is not _END:
            result = item
        if result is None:
            raise ProviderError("xllamacpp returned no completion")
        return result

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Chunk dicts; the call starts at the first ``next()`` (as llama-cpp-python's)."""
        request = self._request(request, stream=True)
        cancelled = threading.Event()
        sink = self._submit(request, cancelled)
        finished = False
        try:
            while (item := self._next(sink)) is not _END:
                yield item
            finished = True
        finally:
            if not finished:
                cancelled.set()  # the callback returns true: llama.cpp stops generating
                while sink.get() is not _END:  # wait for it (at most one more token)
                    pass

    def translate_error(self, exc: Exception) -> ProviderError | None:
        # llama.cpp's server refuses a request it cannot parse by throwing while it reads it
        # (invalid_argument: ValueError, e.g. tool_choice; runtime_error: RuntimeError, e.g.
        # an image without an mmproj); errors while generating come back as error chunks.
        if isinstance(exc, (ValueError, RuntimeError)):
            return BadRequestError(f"the local model refused the request: {exc}", status=400)
        return None


def _server_error(error: Any) -> ProviderError:
    if not isinstance(error, dict):
        return ProviderError(f"xllamacpp error: {error}")
    message = str(error.get("message") or error)
    code = error.get("code")
    status = code if isinstance(code, int) else None
    if error.get("type") == "exceed_context_size_error":
        return BadRequestError(f"prompt too long for the local model: {message}", status=400)
    if status is not None and 400 <= status < 500:
        return BadRequestError(message, status=status, body=error)
    return ProviderError(message, status=status, body=error)


class XllamacppVocab:
    """The tokenizer and chat template of a GGUF, from xllamacpp's ``/tokenize`` and
    ``/props`` on the private socket (the weights are loaded: xllamacpp has no vocab-only
    mode; SmolLM2-135M loads in about 0.4 s)."""

    def __init__(self, path: str) -> None:
        params, key, directory = _params(
            path, n_ctx=256, n_threads=1, n_threads_batch=1, n_batch=256, warmup=False
        )
        self._server = _start(params, directory)
        self.endpoint = _Endpoint(self._server, key, directory)
        if directory is not None:
            weakref.finalize(self, shutil.rmtree, directory, True)
        props = self.endpoint.request("GET", "/props")
        self.chat_template: str | None = props.get("chat_template") or None
        self.bos_token = props.get("bos_token") or ""
        self.eos_token = props.get("eos_token") or ""

    def encode(self, text: str) -> list[int]:
        body = {"content": text, "add_special": False, "parse_special": True}
        return list(self.endpoint.request("POST", "/tokenize", body)["tokens"])
