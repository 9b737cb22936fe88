"""Nothing acknowledged is lost, on the multi-host lab with default flags: a registration
answered 200 by the coordinator, whose agent is then SIGKILLed at once, is on every
survivor within ``SURVIVORS_WITHIN_S``, and on every host after all of them restart.

``ROUNDS`` fresh records, one per round; each round kills the coordinator of that moment
and restarts it once its record is on the survivors. Then one record is deleted the same
way (the coordinator killed at its 200): gone from every survivor, and still gone after
the full restart. The figures are printed (``-s``).
"""

from __future__ import annotations

import time

import pytest

from simulations.realproc.netns import NetnsLab
from tests.lab import lab_eventually, nodes_of
from tests.test_lab_writes import answers, coordinator_of, start_cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

HOSTS = 4
ROUNDS = 20
"""Coordinator kills, one fresh record each: ~2-3 s a round on the lab (2 shared cores),
~60 s for the whole test."""
SURVIVORS_WITHIN_S = 30.0
"""An acknowledged record is listed on every survivor within this many seconds."""
WRITE_TIMEOUT_S = 30.0


def worker(n: int) -> dict[str, object]:
    return {"hostname": f"worker-{n}", "platform": "linux", "arch": "x64",
            "available_skills": ["python"], "node_id": f"worker-{n}"}


def agreed_coordinator(lab: NetnsLab, hosts: list[int]) -> int | None:
    """The host every one of ``hosts`` names coordinator, if they agree on a live one."""
    names = {coordinator_of(lab, i) for i in hosts}
    if len(names) != 1:
        return None
    name = names.pop()
    return next((i for i in hosts if lab.hosts[i].hostname == name), None)


def register_on_coordinator(lab: NetnsLab, n: int) -> int:
    """Register worker ``n`` on the coordinator's own API until answered 200; the
    coordinator's host index. 503s (a coordinator just elected) are retried: idempotent."""
    every = list(range(len(lab.hosts)))
    found: list[int] = []

    def attempt() -> bool:
        c = agreed_coordinator(lab, every)
        if c is None:
            return False
        answer = lab.request(c, "POST", "/api/v1/nodes/register", worker(n),
                             timeout_s=WRITE_TIMEOUT_S)
        if answer.status == 200:
            found.append(c)
            return True
        assert answer.status == 503, answer.body  # no coordinator yet / unconfirmed
        return False

    lab_eventually(attempt, what=f"worker-{n} registered on the coordinator")
    return found[-1]


def test_acknowledged_registrations_survive_a_coordinator_kill_and_a_full_restart(make_lab):
    lab = make_lab(HOSTS)
    start_cluster(lab)
    every = list(range(HOSTS))
    figures: list[str] = []
    started = time.monotonic()
    for n in range(ROUNDS):
        t0 = time.monotonic()
        c = register_on_coordinator(lab, n)
        lab.kill_agent(c)  # the moment the 200 arrived
        survivors = [i for i in every if i != c]
        took = lab_eventually(lambda n=n, survivors=survivors: all(
                        f"worker-{n}" in nodes_of(lab, i) for i in survivors), timeout=SURVIVORS_WITHIN_S,
                        what=f"worker-{n} on every survivor of host{c}")
        lab.start_agent(c)  # rejoins from the peers in its store
        lab_eventually(lambda c=c: answers(lab, c), what=f"host{c} back")
        figures.append(f"round {n}: coordinator host{c} killed, record on the survivors "
                       f"after {took:.1f} s, round {time.monotonic() - t0:.1f} s")
    figures.append(f"{ROUNDS} rounds: {time.monotonic() - started:.1f} s")

    lab_eventually(lambda: agreed_coordinator(lab, every) is not None,
                   what="a coordinator every host names")
    c = agreed_coordinator(lab, every)
    assert c is not None
    answer = lab.request(c, "DELETE", "/api/v1/nodes/worker-0", timeout_s=WRITE_TIMEOUT_S)
    assert answer.status == 200, answer.body
    lab.kill_agent(c)
    survivors = [i for i in every if i != c]
    took = lab_eventually(lambda: all("worker-0" not in nodes_of(lab, i) and nodes_of(lab, i)
                            for i in survivors), timeout=SURVIVORS_WITHIN_S,
                            what="worker-0 deleted on every survivor")
    figures.append(f"delete: coordinator host{c} killed, gone from the survivors after {took:.1f} s")

    for i in every:  # the whole cluster dies at once, then comes back from its stores
        lab.kill_agent(i)
    for i in every:
        lab.start_agent(i)
    expected = {f"worker-{n}" for n in range(1, ROUNDS)}
    took = lab_eventually(lambda: all(
                    expected <= set(view) and "worker-0" not in view
                    for view in (nodes_of(lab, i) for i in every)),
                    what="every acknowledged record on every host after a full restart, the "
                "deleted one on none")
    figures.append(f"after the full restart: every record on every host in {took:.1f} s")
    print("\n".join(figures))
