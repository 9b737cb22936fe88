"""Size and CPU cost of one periodic push-pull in a converged cluster of N nodes.

Run: ``python -m simulations.bench.push_pull 1000 3000`` (one line per N; N = 10,000
takes ~30 s and ~4 GB). Builds the cluster with ``--start converged``'s loader, then times
one core's state (encode), the peer's decode and merge, with ``time.process_time()``, and
prints the push-pull bytes per node per second memberlist's schedule implies (each node
opens one exchange per scaled period and answers one on average). Not a test.
"""

from __future__ import annotations

import sys
import time

from gossip import codec
from gossip.push_pull import push_pull_scale

from ..sim.runner import Run, RunOptions


def measure(n: int) -> str:
    run = Run(RunOptions(scenario="crash", nodes=n, seed=1, compression=False,
                         start="converged", progress=False))
    run.start_converged(n)
    a, b = run.world.nodes[1].core, run.world.nodes[2].core
    assert a is not None and b is not None
    t0 = time.process_time()
    data = a._exchanges.encode(a._exchanges.local_push_pull(join=False))
    t1 = time.process_time()
    msg = codec.decode_stream(data, max_size=a._cfg.max_stream_bytes)
    t2 = time.process_time()
    b._exchanges.merge(msg, sender=a._self.address, now=run.world.now)
    t3 = time.process_time()
    period = push_pull_scale(a._cfg.push_pull_interval_s, n)
    return (f"N={n}: state {len(data)} B; encode {1000 * (t1 - t0):.0f} ms, decode "
            f"{1000 * (t2 - t1):.0f} ms, merge {1000 * (t3 - t2):.0f} ms CPU; one exchange "
            f"(both ways) ~{2000 * (t3 - t0):.0f} ms; period {period:.0f} s; push-pull "
            f"{2 * len(data) / period:.0f} B/node/s")


def main(argv: list[str]) -> int:
    for arg in argv or ["1000"]:
        print(measure(int(arg)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
