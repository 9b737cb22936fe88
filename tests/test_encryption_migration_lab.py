"""Moving a running plaintext cluster to encrypted gossip without downtime, on the
multi-host lab (one ``claw-node`` per network namespace), as Consul documents it:

1. restart every agent, one at a time, with ``--encrypt K --no-gossip-verify-incoming
   --no-gossip-verify-outgoing``: it reads encrypted gossip but still sends plaintext;
2. restart each with ``--no-gossip-verify-incoming``: it now sends encrypted gossip,
   still reading plaintext from the agents not yet restarted;
3. restart each with ``--encrypt K`` alone: plaintext is refused from now on.

Each agent waits until every agent lists every other online before the next restart.
No agent may ever declare another failed: each logs one line per membership event
(``node.event_log``), and no ``member failed:`` line may appear. At the end a plaintext
agent (no key) cannot join. Timing figures are printed, never asserted.
"""

from __future__ import annotations

import time

import pytest

from node.keyring_file import KEYRING_FILE, new_key
from simulations.realproc.netns import NetnsLab
from tests.lab import lab_eventually, online_everywhere

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

HOSTS = 3


def answers(lab: NetnsLab, i: int) -> bool:
    return lab.request(i, "GET", "/health").status == 200


def log_of(lab: NetnsLab, i: int) -> str:
    try:
        return lab.log_path(i).read_text(errors="replace")
    except OSError:
        return ""


def failures_declared(lab: NetnsLab) -> list[str]:
    return [f"host{i}: {line}" for i in range(HOSTS) for line in log_of(lab, i).splitlines()
            if "member failed:" in line]


def test_plaintext_cluster_moves_to_encryption_without_a_failure(make_lab) -> None:
    lab = make_lab(HOSTS)
    names = {h.hostname for h in lab.hosts}
    every = list(range(HOSTS))
    seed = lab.gossip_address(0)

    def start(i: int, *flags: str) -> None:
        lab.start_agent(i, *(() if i == 0 else ("--join", seed)), *flags)

    t0 = time.monotonic()
    for i in every:
        start(i)
        lab_eventually(lambda i=i: answers(lab, i), what=f"host{i} serves its API")
    lab_eventually(lambda: online_everywhere(lab, every, names),
                   what="the plaintext cluster lists all online")
    print(f"\nplaintext cluster converged in {time.monotonic() - t0:.1f} s")

    key = new_key()
    steps = [
        ("keys, verify nothing", ("--encrypt", key, "--no-gossip-verify-incoming",
                                  "--no-gossip-verify-outgoing")),
        ("send encrypted, accept plaintext", ("--encrypt", key, "--no-gossip-verify-incoming")),
        ("encrypted only", ("--encrypt", key)),
    ]
    for step, flags in steps:
        t = time.monotonic()
        for i in every:
            assert lab.stop_agent(i) == 0, f"host{i} did not stop cleanly"
            start(i, *flags)
            lab_eventually(lambda i=i: answers(lab, i),
                           what=f"{step}: host{i} serves its API again")
            lab_eventually(lambda: online_everywhere(lab, every, names),
                           what=f"{step}: all online after restarting host{i}")
            assert failures_declared(lab) == []
        print(f"step '{step}': {HOSTS} rolling restarts in {time.monotonic() - t:.1f} s")

    # The logs do carry member events (each restart was seen as a leave and a join).
    assert all("member left:" in log_of(lab, i) and "member join:" in log_of(lab, i)
               for i in every)
    assert all("failed to decrypt" not in log_of(lab, i) for i in every), \
        "agents of one cluster must never fail to decrypt each other"
    # Fully encrypted now: an agent without the key (and without its keyring file) is
    # refused by everyone.
    assert lab.stop_agent(2) == 0
    (lab.data_dir(2) / KEYRING_FILE).unlink()
    lab.start_agent(2, "--join", seed)
    lab_eventually(lambda: "no seed answered" in log_of(lab, 2), timeout=60,
                   what="the keyless agent gives up its first join")
    lab_eventually(lambda: "failed to decrypt" in log_of(lab, 0), timeout=60,
                   what="host0 reports what it could not decrypt")
    assert online_everywhere(lab, [0, 1], {lab.hosts[0].hostname, lab.hosts[1].hostname})
    assert failures_declared(lab) == []
