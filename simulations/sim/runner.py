"""Shared plumbing of the scenarios: build a world from options, bootstrap a cluster,
advance time with progress, and measure traffic over a window."""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gossip.config import Compression, GossipConfig

from .metrics import Observatory
from .network import NetworkOptions
from .world import SimWorld, WorldOptions

__all__ = ["RunOptions", "Run", "peak_rss_mb"]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything a scenario run depends on (printed first; the seed reproduces it)."""

    scenario: str
    nodes: int
    seed: int
    profile: str = "lan"
    """Gossip preset: lan, wan or local (``GossipConfig.profile``)."""
    memberlist: bool = False
    """Run memberlist 0.2.2 exactly (``GossipConfig.memberlist()``: its failure detector,
    packing and compression) instead of claw-node's departures."""
    compression: bool = True
    """LZW as the config says (claw-node: streams; memberlist: streams and datagrams);
    off (``Compression.OFF``) is faster to simulate."""
    loss: float = 0.0
    """Random datagram loss during the measured phase (the loss scenario sweeps it)."""
    delay_min_ms: float = 0.5
    delay_mean_ms: float = 1.5
    warmup_s: float = 5.0
    """Quiet time between the bootstrap and the measured phase (seconds); longer lets the
    join's broadcast queues drain so traffic figures show the steady state."""
    duration_s: float | None = None
    """Length of the measured phase (scenario default when None)."""
    crashes: int | None = None
    pause_s: float = 2.0
    pause_every_s: float = 4.0
    slow_nodes: int = 1
    lag_s: float = 1.0
    """slow: extra delay on every input of a lagging node (seconds)."""
    partition_s: float = 20.0
    partition_mode: str = "split"
    join_window_s: float = 1.0
    churn_interval_s: float = 2.0
    losses: tuple[float, ...] = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)
    slow_variants: tuple[str, ...] = ("claw", "memberlist", "swim-timers")
    """slow: claw-node's detector, memberlist's (Lifeguard as memberlist has it), and/or
    SWIM's fixed timers (memberlist's detector without local health or dynamic suspicion)."""
    trace_packets: bool = True
    share_decoder: bool = False
    """One decode cache for all simulated cores (``WorldOptions.share_decoder``): faster,
    same results and trace hash."""
    progress: bool = True
    settle_pairs: int = 0
    """A bootstrap counts as done when at most this many (observer, subject) pairs still
    disagree (0: every view equal). Large clusters leave a few rumours to the slow
    anti-entropy push-pull; a small tolerance lets a run start measuring."""
    snapshot_dir: str | None = None
    """Where converged bootstraps are cached (pickles) and reused; None: always bootstrap."""
    push_pull_interval_s: float | None = None
    """Override of the profile's periodic push-pull interval (seconds, before memberlist's
    scaling with N); 0 turns periodic anti-entropy off (memberlist allows it too). None:
    the profile's (30 s on LAN). At N = 10,000 each push-pull moves ~1 MB each way and
    costs the simulator ~1 CPU-s, ~33 of them per simulated second."""
    catch_up_burst: int | None = None
    """Override of ``GossipConfig.catch_up_burst`` (members; 0 = off) for claw-mode
    nodes; None: the config's default (8)."""
    start: str = "join"
    """How the cluster comes to be: ``join`` (every node joins through one seed: the
    bootstrap is simulated) or ``converged`` (every core starts knowing every member,
    ``SimWorld.add_converged_nodes``: no join is simulated, for steady-state runs)."""
    extra: dict[str, object] = field(default_factory=dict)

    def gossip_config(self, *, memberlist: bool | None = None,
                      **changes: object) -> GossipConfig:
        """The profile's config, memberlist's exact one if ``memberlist`` (default: the
        ``memberlist`` option), with ``changes`` and this run's compression and
        push-pull overrides."""
        config = GossipConfig.profile(self.profile)
        exact = self.memberlist if memberlist is None else memberlist
        if exact:
            config = config.memberlist()
        if not self.compression:
            changes.setdefault("compression", Compression.OFF)
        if self.push_pull_interval_s is not None:
            changes.setdefault("push_pull_interval_s", self.push_pull_interval_s)
        if self.catch_up_burst is not None and not exact:
            changes.setdefault("catch_up_burst", self.catch_up_burst)
        return config.replace(**changes)

    def network_options(self) -> NetworkOptions:
        return NetworkOptions(
            one_way_delay_min_s=self.delay_min_ms / 1000.0,
            one_way_delay_mean_s=self.delay_mean_ms / 1000.0,
        )


def _code_version() -> bytes:
    """Digest of the sources whose objects a snapshot holds: the gossip core and the
    simulator's world, network, clock and metrics (not the scenarios that drive them)."""
    import gossip

    h = hashlib.sha256()
    sim_dir = os.path.dirname(__file__)
    files = [os.path.join(sim_dir, f"{m}.py") for m in ("world", "network", "clock", "metrics")]
    core_dir = os.path.dirname(gossip.__file__)
    files += [os.path.join(core_dir, f) for f in sorted(os.listdir(core_dir)) if f.endswith(".py")]
    for path in files:
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + f.read())
    return h.digest()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Run:
    """One world plus its observatory, driven by a scenario."""

    def __init__(self, options: RunOptions, config: GossipConfig | None = None,
                 label: str = "") -> None:
        self.options = options
        self.config = config or options.gossip_config()
        self.world = SimWorld(
            self.config, options.seed, options.network_options(),
            WorldOptions(trace_packets=options.trace_packets, share_decoder=options.share_decoder),
        )
        self.obs = Observatory(self.world)
        self.label = label
        self.samples: list[tuple[float, int]] = []
        """(time, disagreeing view pairs) sampled while advancing: the convergence curve."""
        self._wall0 = time.perf_counter()
        self._last_progress = self._wall0

    # --- time ------------------------------------------------------------------------

    def advance(self, until: float, stop: Callable[[], bool] | None = None,
                step_s: float = 0.25) -> float:
        """Run to ``until`` in steps; return early (at a step end) once ``stop()`` holds."""
        world = self.world
        while world.now < until:
            world.run_until(min(until, world.now + step_s))
            self.samples.append((world.now, self.obs.wrong))
            self._progress()
            if stop is not None and stop():
                break
        return world.now

    def _progress(self) -> None:
        if not self.options.progress:
            return
        wall = time.perf_counter()
        if wall - self._last_progress < 2.0:
            return
        self._last_progress = wall
        world = self.world
        print(f"  [{self.label or self.options.scenario}] sim {world.now:7.1f} s | wall "
              f"{wall - self._wall0:6.1f} s | live {len(world.live_nodes())} | disagreeing "
              f"view pairs {self.obs.wrong} | steps {world.steps}",
              file=sys.stderr, flush=True)

    # --- cluster setup -----------------------------------------------------------------

    def bootstrap(self, n: int, ramp_s: float, timeout_s: float = 600.0) -> float | None:
        """Start ``n`` nodes joining through the first one over ``ramp_s``; run until every
        view agrees. Returns the convergence time (from the first start) or None."""
        world = self.world
        rng = world.rng
        start = world.now
        seed_node = world.add_node()
        seeds = [seed_node.address]
        for _ in range(n - 1):
            world.at(start + rng.uniform(0.0, ramp_s), world.add_node, None, seeds)
        self.advance(start + ramp_s + 0.01)
        settle = self.options.settle_pairs
        self.advance(start + timeout_s, stop=lambda: self.obs.wrong <= settle and
                     len(world.live_nodes()) == n)
        if self.obs.wrong > settle:
            return None
        if self.obs.converged:
            return (self.obs.converged_since or world.now) - start
        return world.now - start

    def start_converged(self, n: int) -> float:
        """Start ``n`` nodes that already know each other (no join is simulated);
        returns 0.0, the time the views took to agree."""
        world = self.world
        if world.nodes:
            raise ValueError("start_converged needs an empty world")
        world.note(f"converged start {n}")
        # N cores holding N-entry tables are ~N^2 references: with the cyclic collector
        # on, its full passes re-walk them all while they are built (quadratic, minutes
        # at N = 10,000), and later ones would too; they are long-lived, so build them
        # with it off and move them out of its reach (gc.freeze).
        gc.disable()
        try:
            world.add_converged_nodes(n)
        finally:
            gc.enable()
        gc.freeze()
        self.obs.assume_converged()
        return 0.0

    def bootstrap_cached(self, n: int, ramp_s: float, directory: str | None,
                         timeout_s: float = 600.0) -> float | None:
        """``bootstrap``, but reuse a converged cluster pickled in ``directory`` by an earlier
        run with the same size, seed, gossip config and link model (and save one if none).

        A loaded run continues exactly where the saved one stopped (same RNG states), so
        it is as deterministic as a fresh one; its trace hash chains from the saved digest
        (the saving run chains the same way, so loaded and fresh runs hash alike).
        """
        if self.options.start == "converged":
            return self.start_converged(n)
        if directory is None:
            return self.bootstrap(n, ramp_s, timeout_s)
        key = hashlib.sha256(repr((n, ramp_s, self.options.seed, self.options.settle_pairs, self.config,
                                   self.world.network.options, self.world.options)).encode())
        key.update(_code_version())  # a pickle is only valid for the code that made it
        path = os.path.join(directory, f"boot-n{n}-s{self.options.seed}-{key.hexdigest()[:12]}.pickle")
        if os.path.exists(path):
            with open(path, "rb") as f:
                self.world, self.obs, self.samples, converged = pickle.load(f)
            return converged
        converged = self.bootstrap(n, ramp_s, timeout_s)
        if converged is not None:
            os.makedirs(directory, exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                pickle.dump((self.world, self.obs, self.samples, converged), f,
                            protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        if converged is not None:
            self.world.rechain_trace()  # as a loaded copy does: same hash either way
        return converged

    # --- measurements ---------------------------------------------------------------------

    def traffic_since(self, mark: tuple[float, dict[str, int]]) -> dict[str, float]:
        """Per node per second since ``mark`` (from ``traffic_mark``)."""
        t0, before = mark
        now = self.world.now
        after = self.world.totals()
        span = max(now - t0, 1e-9)
        nodes = max(len(self.world.live_nodes()), 1)
        return {
            "msgs_per_node_s": (after["datagrams"] - before["datagrams"]) / nodes / span,
            "bytes_per_node_s": (after["bytes"] - before["bytes"]) / nodes / span,
            "streams_per_node_s": (after["streams"] - before["streams"]) / nodes / span,
        }

    def traffic_mark(self) -> tuple[float, dict[str, int]]:
        return (self.world.now, self.world.totals())

    def wall_s(self) -> float:
        return time.perf_counter() - self._wall0
