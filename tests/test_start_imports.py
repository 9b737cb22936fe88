"""What a member has imported once it is ready to gossip: nothing it can load later.

The agent imports its REST stack (aiohttp, pydantic, the app) on the first API
connection (``node/lazy_api.py``), Serf's tag-filter engine (``regex``) on the first tag
filter, hides ``ssl`` when its settings need no HTTPS (``node/ssl_free.py``), and never
imports ``hashlib`` or ``hmac`` (OpenSSL's libcrypto) unless it handles keys, nor
``shutil`` (argparse's help width: ``node/cli_flags.py``), nor, on Linux, psutil
(``node/linux_host.py``). Each of these costs every member megabytes of RSS and
milliseconds of start CPU; this test fails when one of them comes back on the start path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMPORT_TIMEOUT_S = 120.0
"""Longest wait for the child interpreter (generous: the host is shared)."""

LATER = ("aiohttp", "pydantic", "yarl", "multidict", "regex", "ssl", "uuid", "api.app",
         "api.routes", "hashlib", "_hashlib", "hmac", "secrets", "tempfile", "shutil", "bz2",
         "lzma", "node.service")
"""Modules a member without TLS must not have imported by its first probe (hashlib and
hmac load OpenSSL's libcrypto, ~3.4 MiB; tempfile, and argparse's own help formatter,
bring shutil, bz2 and lzma; ``node.service`` is for ``service install``)."""
LINUX_LATER = ("psutil", "platform")
"""On Linux the agent reads the host's usage and addresses itself (``node.linux_host``) and
its architecture from ``os.uname``."""

# The agent's start path as node.cli._run_agent runs it, up to building the Agent.
# Modules the interpreter's own start (``site``, ``.pth`` hooks) loaded are not counted.
_START = """
import json, sys
at_exec = set(sys.modules)
from node.cli import build_parser
from node.config import NodeConfig
from node.ssl_free import ssl_hidden
config = NodeConfig.load({})
with ssl_hidden(not config.needs_tls):
    import asyncio
from node.agent import Agent
from node.agent_start import HostSampler, tailscale_ip
from node.platform_info import normalise_arch
from node.resources import HostCpuMeter
build_parser()
HostSampler(".")(), HostCpuMeter()(), tailscale_ip(), normalise_arch()  # before the first probe
print(json.dumps(sorted(set(sys.modules) - at_exec)))
"""


@pytest.mark.slow
def test_member_start_path_leaves_rest_stack_tag_filters_and_ssl_for_later() -> None:
    out = subprocess.run([sys.executable, "-c", _START], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=IMPORT_TIMEOUT_S)
    loaded = set(json.loads(out.stdout))
    assert "node.agent" in loaded and "gossip.protocol" in loaded  # the path did run
    later = LATER + (LINUX_LATER if sys.platform.startswith("linux") else ())
    early = sorted(m for m in loaded if m.split(".")[0] in later or m in later)
    assert early == []
