"""Key rotation under encryption with a real Serf agent as a member.

Two ``claw-node --encrypt K1`` agents and ``serf agent -encrypt K1`` (Debian's Serf
0.9.4) on loopback, every datagram and stream sealed:

* rotation started from claw (``claw-node keys install/use/remove``, through the REST
  API of c0) reaches the Serf agent; ``serf keys -list`` then counts every node, claw
  nodes included, with no failure;
* rotation started from Serf (``serf keys -install/-use/-remove``) reaches the claw
  agents, which persist it in their keyring files;
* the refusal case: a ``use`` of a key no node holds and a ``remove`` of the key every
  node encrypts with are refused by claw, naming the live nodes, and change nothing;
* no node is declared failed during it: no ``member failed:`` line in the claw agents'
  logs (``node.event_log``), every member alive in Serf's view, no failure in its log.

Skipped without ``serf`` unless env ``CI``.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time

import pytest

from node.keyring_file import KEYRING_FILE, new_key, read_keyring_file
from tests.serf_harness import SERF_POLL_S, SerfAgent, SerfAgents, serf_agents  # noqa: F401 - fixture
from tests.conftest import eventually_async
from tests.test_encrypted_serf_interop import (  # noqa: F401
    ROOT,
    ClawAgent,
    ClawAgents,
    addr,
    claw_agents,
    statuses,
)

pytestmark = [pytest.mark.serf, pytest.mark.slow, pytest.mark.timeout(240)]

EVERYONE = ("c0", "c1", "s1")
CLI_TIMEOUT_S = 60.0


async def claw_keys(agent: ClawAgent, *args: str) -> tuple[int, str]:
    """``claw-node keys ARGS --api <agent's API>``: (exit code, stdout + stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "node.cli", "keys", *args, "--api", agent.api, "--timeout", "30",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    print(f"$ claw-node keys {' '.join(args)}\n{text}")
    return proc.returncode or 0, text


async def serf_keys(s1: SerfAgent, *args: str) -> tuple[int, str]:
    code, out = await s1.keys(*args)
    print(f"$ serf keys {' '.join(args)}\n{out}")
    return code, out


async def serf_lists(s1: SerfAgent, *keys: str) -> None:
    """``serf keys -list`` succeeds and shows exactly ``keys``, each on 3 of 3 nodes."""
    code, out = await serf_keys(s1, "-list")
    assert code == 0 and "failed" not in out, out
    counts = {line.split()[0]: line.split()[1] for line in out.splitlines() if "[" in line}
    assert counts == dict.fromkeys(keys, "[3/3]"), out


def file_keys(claw_agents: ClawAgents, name: str) -> list[str]:  # noqa: F811
    ring = read_keyring_file(claw_agents.workdir / f"data-{name}" / KEYRING_FILE)
    return [base64.b64encode(k).decode() for k in ring]


async def test_rotation_from_claw_and_from_serf_under_encryption(
        serf_agents: SerfAgents, claw_agents: ClawAgents) -> None:  # noqa: F811
    started = time.monotonic()
    k1, k2, k3, k4 = (new_key() for _ in range(4))
    s1 = await serf_agents.start("s1", extra_args=(f"-encrypt={k1}",))
    c0 = claw_agents.start("c0", "--encrypt", k1, "--join", addr(s1.bind))
    c1 = claw_agents.start("c1", "--encrypt", k1, "--join", addr(s1.bind))
    claws = (c0, c1)

    async def all_alive() -> bool:
        serf_view = await statuses(s1)
        return (all(serf_view.get(n) == "alive" for n in EVERYONE)
                and all(c.sees(n) for c in claws for n in EVERYONE if n != c.name))
    await eventually_async(all_alive, 90, interval=SERF_POLL_S)
    await serf_lists(s1, k1)
    rotation_started = time.monotonic()

    # From claw: install, use, remove, each answered by all three nodes.
    for action, key in (("install", k2), ("use", k2), ("remove", k1)):
        code, out = await claw_keys(c0, action, key)
        assert code == 0 and f"{action}: 3/3 nodes answered, 0 failed" in out, out
    await serf_lists(s1, k2)
    code, out = await claw_keys(c1, "list")
    assert code == 0 and f"{k2}  3/3" in out and "lacking" not in out, out
    assert all(file_keys(claw_agents, c.name) == [k2] for c in claws)

    # Refusals, naming the live nodes: nobody holds k4; everybody encrypts with k2.
    code, out = await claw_keys(c0, "use", k4)
    assert code != 0 and "do not hold it" in out and "c0, c1, s1" in out, out
    code, out = await claw_keys(c1, "remove", k2)
    assert code != 0 and "primary key of 3 live node(s)" in out and "c0, c1, s1" in out, out
    await serf_lists(s1, k2)

    # From Serf: install, use, remove reach the claw agents and their keyring files.
    for flag, key in (("-install", k3), ("-use", k3), ("-remove", k2)):
        code, out = await serf_keys(s1, f"{flag}={key}")
        assert code == 0 and "Successfully" in out, out
    await serf_lists(s1, k3)
    assert all(file_keys(claw_agents, c.name) == [k3] for c in claws)
    code, out = await claw_keys(c0, "list")
    assert code == 0 and f"{k3}  3/3" in out, out
    rotation_s = time.monotonic() - rotation_started

    # Nobody was declared failed, by anyone, at any time.
    assert await all_alive()
    for c in claws:
        assert "member failed:" not in c.log(), c.name
    assert "EventMemberFailed" not in s1.log_tail(100_000)
    print(f"rotation (claw then serf, 2 refusals): {rotation_s:.1f} s; "
          f"test total {time.monotonic() - started:.1f} s")
