"""Identities that cannot collide, on the multi-host lab (issue 13 item 4).

Two hosts with one hostname (a cloned image) start claw-node with the default flags:
the one that joins later gives the id up (exit 78, one line naming the live node and
``--node-id``) and leaves nothing behind, so the first stays online everywhere, also
after the clone is killed -9. The same with a copied data dir (same node UUID). A data
dir moved to another host while its old host is down is the same node: accepted. After
a partition in which both became members, the one that started later gives the id up.

Timing figures are printed (run with ``-s``), never asserted.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from typing import Any

import pytest

from node.exit_codes import IDENTITY_CONFLICT
from node.store import STORE_FILE
from simulations.realproc.netns import AGENT_GOSSIP_PORT, NetnsLab
from tests.lab import lab_eventually, nodes_of, online_everywhere

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

STAYS_S = 12.0
"""How long the original must stay online everywhere after the clone is gone: beyond a
suspicion timeout of the LAN profile at this size (4 s, Lifeguard's maximum 24 s is
only reached without any confirmation), so a node that had taken the clone's address
for the id would have reported it suspect or failed by then."""


def health(lab: NetnsLab, i: int) -> dict[str, Any]:
    body = lab.request(i, "GET", "/health").body
    return body if isinstance(body, dict) else {}


def coordinator(lab: NetnsLab, i: int) -> str | None:
    return (health(lab, i).get("coordinator") or {}).get("node_id")


def original_online(lab: NetnsLab, observers: list[int], name: str, ip: str) -> bool:
    """``name`` is online and alive at ``ip`` for every observer."""
    for i in observers:
        node = nodes_of(lab, i).get(name, {})
        if (node.get("status"), node.get("gossip_state"), node.get("ip_address")) != (
                "online", "alive", ip):
            return False
    return True


def start_pair(lab: NetnsLab) -> None:
    """host0 (the seed), then host1 joining it; both online on both."""
    lab.start_agent(0)
    lab_eventually(lambda: health(lab, 0).get("node_id"), what="host0 serves its API")
    lab.start_agent(1, "--join", lab.gossip_address(0))
    lab_eventually(lambda: online_everywhere(lab, [0, 1], {lab.hosts[0].hostname, lab.hosts[1].hostname}),
                   what="host0 and host1 online on both")


def gives_up(lab: NetnsLab, clone: int, live: int) -> str:
    """The clone exits ``IDENTITY_CONFLICT``; its log line (returned) names the conflict,
    the live node's address and ``--node-id``."""
    t0 = time.monotonic()
    code = lab.agent(clone).wait(timeout=120)  # generous: a 15 s recheck after a heal
    print(f"\nthe clone exited {code} after {time.monotonic() - t0:.1f} s")
    log = lab.log_tail(clone, lines=200)
    assert code == IDENTITY_CONFLICT, log
    [line] = [ln for ln in log.splitlines() if "identity conflict" in ln]
    assert f"{lab.hosts[live].ip}:{AGENT_GOSSIP_PORT}" in line and "--node-id" in line, line
    assert "left the cluster" not in log  # it did not leave: a leave would be about the id
    return line


def copy_store(src: NetnsLab, i: int, j: int) -> None:
    """Copy host ``i``'s store into host ``j``'s data dir (a consistent copy, as an
    image taken of a running machine would hold once its journal is replayed)."""
    dst = src.data_dir(j)
    dst.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src.data_dir(i) / STORE_FILE) as a, \
            sqlite3.connect(dst / STORE_FILE) as b:
        a.backup(b)


def test_a_clone_with_the_same_hostname_gives_the_id_up(make_lab):
    lab = make_lab(3, hostnames=["host0", "pi", "pi"])
    start_pair(lab)
    first_ip = lab.hosts[1].ip
    lab_eventually(lambda: coordinator(lab, 0) == coordinator(lab, 1) == "host0",
                   what="one coordinator on both")

    lab.start_agent(2, "--join", lab.gossip_address(0))  # default flags: id "pi" too
    line = gives_up(lab, clone=2, live=1)
    assert "copied" not in line  # another data dir: only --node-id is needed
    took = lab_eventually(lambda: original_online(
        lab, [0, 1], "pi", first_ip), hold=STAYS_S, what="the first 'pi' stays online everywhere")
    assert took < 1.0  # it never went away
    assert coordinator(lab, 0) == coordinator(lab, 1) == "host0"

    # The clone started again (its data dir now holds id "pi" and its own UUID) and
    # killed -9 as soon as it runs, whatever it managed to send: nothing marks the
    # first one down.
    starts = lab.log_path(2).read_text(errors="replace").count("started: gossip")
    proc = lab.start_agent(2, "--join", lab.gossip_address(0))
    lab_eventually(lambda: proc.poll() is not None or lab.log_path(2).read_text(
        errors="replace").count("started: gossip") > starts, timeout=60, what="the clone runs")
    lab.kill_agent(2)
    lab_eventually(lambda: original_online(lab, [0, 1], "pi", first_ip), hold=STAYS_S,
                   what="the first 'pi' stays online everywhere after the clone's kill -9")
    assert coordinator(lab, 0) == coordinator(lab, 1) == "host0"

    # With a unique id, as the line says, the second machine joins.
    lab.start_agent(2, "--join", lab.gossip_address(0), "--node-id", "pi-2",
                    "--data-dir", str(lab.host_dir(2) / "fresh"))
    lab_eventually(lambda: online_everywhere(lab, [0, 1], {"pi", "pi-2"}),
                   what="pi-2 joins next to pi")
    for i in (0, 1, 2):
        assert lab.stop_agent(i) == 0, lab.log_tail(i)


def test_a_copied_data_dir_gives_the_id_up_while_the_original_answers(make_lab):
    lab = make_lab(3, hostnames=["host0", "pi", "pi"])
    start_pair(lab)
    copy_store(lab, 1, 2)  # the image was taken after the first start: same UUID

    # Through the original this time: it hears the clone's claim and keeps the id.
    lab.start_agent(2, "--join", lab.gossip_address(1))
    line = gives_up(lab, clone=2, live=1)
    assert "copied" in line and "--data-dir" in line
    lab_eventually(lambda: "keeping it" in lab.log_tail(1),
                   what="the original says it keeps its id")
    lab_eventually(lambda: original_online(
        lab, [0, 1], "pi", lab.hosts[1].ip), hold=STAYS_S,
        what="the first 'pi' stays online everywhere")
    for i in (0, 1):
        assert lab.stop_agent(i) == 0, lab.log_tail(i)


def test_a_data_dir_moved_to_another_host_is_the_same_node(make_lab):
    lab = make_lab(3, hostnames=["host0", "pi", "pi"])
    start_pair(lab)
    lab.kill_agent(1)  # the old machine is down (its address no longer answers)
    shutil.copytree(lab.data_dir(1), lab.data_dir(2), dirs_exist_ok=True)  # disk moved

    t0 = time.monotonic()
    proc = lab.start_agent(2, "--join", lab.gossip_address(0))
    took = lab_eventually(lambda: original_online(
        lab, [0, 2], "pi", lab.hosts[2].ip),
        what="'pi' online at its new address on host0 and itself")
    print(f"\nthe moved node is online at its new address {took:.1f} s after its start "
          f"({time.monotonic() - t0:.1f} s)")
    assert proc.poll() is None, lab.log_tail(2)
    assert "identity conflict" not in lab.log_tail(2, lines=200)
    for i in (0, 2):
        assert lab.stop_agent(i) == 0, lab.log_tail(i)


def test_after_a_partition_the_member_that_started_later_gives_the_id_up(make_lab):
    # The clone starts while the original is cut off and already declared failed, so
    # the cluster takes it in: two members hold the id when the partition heals. The
    # one that started later (the clone) gives it up; the original is online again
    # everywhere at its own address.
    lab = make_lab(3, hostnames=["host0", "pi", "pi"])
    start_pair(lab)
    first_ip = lab.hosts[1].ip
    lab.partition([[0, 2], [1]])
    lab_eventually(lambda: nodes_of(lab, 0).get("pi", {}).get("status")
         == "offline", what="host0 sees pi offline")
    lab.start_agent(2, "--join", lab.gossip_address(0))
    lab_eventually(lambda: original_online(lab, [0], "pi", lab.hosts[2].ip),
                   what="host0 took the clone in")
    t0 = time.monotonic()
    lab.heal()
    line = gives_up(lab, clone=2, live=1)
    assert "copied" not in line
    took = lab_eventually(lambda: original_online(
        lab, [0, 1], "pi", first_ip), timeout=120,
        what="the original online everywhere at its address")
    print(f"the original is back everywhere {time.monotonic() - t0:.1f} s after the heal "
          f"({took:.1f} s after the clone exited)")
    assert "keeping it" in lab.log_tail(1, lines=200)
    for i in (0, 1):
        assert lab.stop_agent(i) == 0, lab.log_tail(i)
