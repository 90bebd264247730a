"""Optional peers (``--peers``), each in its own virtual environment under ``benchmarks/.venvs``.

* ``agentscope==0.1.6``: the library this package re-implements. Its wheel imports ``tqdm``
  without declaring it, so ``tqdm`` is installed alongside.
* ``litellm``: pinned to the version verified against the loopback server in
  ``shared/spec/wire_protocols.md`` section 7 (it needs ``openai<3``, hence its own venv).

A venv is created and filled once; a marker file records what was installed, so later runs
reuse it. Each peer is measured by ``peer_worker.py`` inside its venv against the same server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

from harness import HERE

VENVS = HERE / ".venvs"
PEERS: dict[str, list[str]] = {
    "agentscope": ["agentscope==0.1.6", "tqdm"],
    "litellm": ["litellm==1.106.2"],
}
INSTALL_TIMEOUT = 900  # seconds, per peer


def ensure_venv(name: str) -> Path:
    """The Python of the peer's venv, created and installed if needed."""
    requirements = PEERS[name]
    root = VENVS / name
    python = root / "bin" / "python"
    marker = root / ".installed"
    if marker.exists() and python.exists() and marker.read_text() == json.dumps(requirements):
        return python
    print(f"[peers] creating {root} and installing {' '.join(requirements)} ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *requirements],
        check=True,
        timeout=INSTALL_TIMEOUT,
    )
    marker.write_text(json.dumps(requirements))
    return python


def run_peer(name: str, base_url: str, plan: dict[str, Any]) -> dict[str, Any]:
    """The peer's measurements, or ``{"status": "error", ...}`` if it cannot be set up."""
    try:
        python = ensure_venv(name)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        return {"status": "error", "reason": f"install failed: {exc}"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peer.json"
        cmd = [
            str(python),
            str(HERE / "peer_worker.py"),
            "--peer",
            name,
            "--base-url",
            base_url,
            "--plan",
            json.dumps(plan),
            "--out",
            str(out),
        ]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout)[-2000:]
            print(tail, file=sys.stderr)
            return {"status": "error", "reason": f"worker exited {proc.returncode}: {tail[-300:]}"}
        return {"status": "ok", **json.loads(out.read_text())}
