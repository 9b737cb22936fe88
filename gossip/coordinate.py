"""Vivaldi network coordinates, compatible with Serf's ``coordinate`` package (Serf 0.9.4).

Each node places itself in an 8-dimensional Euclidean space plus a non-Euclidean
*height* (the access-link delay every path to the node pays) such that the distance
between two coordinates estimates their round-trip time. After every successful direct
probe the node moves its own coordinate a little, as a spring would, toward the RTT it
just measured to the probed node whose coordinate came back in the ack. An *adjustment*
term (the mean residual of recent samples, halved) corrects what the space cannot
represent, and a weak *gravity* pulls coordinates toward the origin so the whole
system does not drift away over time.

Serf's arithmetic is followed step for step (latency filter, error-weighted spring
force, adjustment window, gravity, reset on a non-finite result) so that a claw node
and a Serf agent converge to the same coordinates and `serf rtt` agrees with ours.

Pure: no clock, no global random. Serf draws a random direction when two coordinates
coincide (every fresh node starts at the origin); here that draw comes from the
``Random`` given to the client. Times are float seconds throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import sub
from random import Random

from gossip.errors import ConfigError, RemoteProtocolError

__all__ = [
    "MAX_RTT_S",
    "Coordinate",
    "CoordinateClient",
    "CoordinateConfig",
    "InvalidCoordinate",
    "duration_seconds",
]

MAX_RTT_S = 10.0
"""Largest RTT sample (seconds) the client accepts; Serf's ``Update`` rejects longer ones."""

_ZERO_THRESHOLD = 1.0e-6
"""Below this (seconds, or a vector magnitude) Serf treats a quantity as zero."""


class InvalidCoordinate(RemoteProtocolError):
    """A peer's coordinate or an RTT sample was rejected; the caller counts it and moves on.

    Serf counts these as ``serf.coordinate.rejected``. Our own coordinate is unchanged.
    """


@dataclass(frozen=True, slots=True)
class CoordinateConfig:
    """Knobs of the Vivaldi client; the defaults are Serf's ``coordinate.DefaultConfig``."""

    dimensionality: int = 8
    """Euclidean dimensions of the coordinate (besides the height). Serf 8. Every node of
    a cluster must use the same value: coordinates of another size are rejected."""

    vivaldi_error_max: float = 1.5
    """Upper bound of a coordinate's error estimate (relative, unitless); also the error of
    a fresh coordinate, which therefore moves fast at first. Serf 1.5."""

    vivaldi_ce: float = 0.25
    """Weight (0–1) of a new sample in the moving average of the error estimate. Serf 0.25."""

    vivaldi_cc: float = 0.25
    """Fraction (0–1) of the RTT residual a sample moves the coordinate, before weighting by
    the relative error of the two nodes. Higher converges faster, oscillates more. Serf 0.25."""

    adjustment_window_size: int = 20
    """Samples (count) in the window whose mean residual forms the adjustment term;
    0 disables the adjustment. Serf 20."""

    height_min: float = 10.0e-6
    """Smallest height (seconds): the least access-link delay of a node. Serf 10 µs."""

    latency_filter_size: int = 3
    """RTT samples (count) kept per peer; the median of them is what updates the
    coordinate, so one delayed ack does not jerk it. Serf 3."""

    gravity_rho: float = 150.0
    """Gravity scale (seconds): the pull toward the origin is ``(distance / rho)²``, so it
    only matters for coordinates far from it. Serf 150 s."""

    def __post_init__(self) -> None:
        if self.dimensionality < 1:
            raise ConfigError("dimensionality must be at least 1")
        if self.latency_filter_size < 1:
            raise ConfigError("latency_filter_size must be at least 1")
        if self.adjustment_window_size < 0:
            raise ConfigError("adjustment_window_size must not be negative")
        if not self.vivaldi_error_max > 0:
            raise ConfigError("vivaldi_error_max must be positive")
        if not self.height_min >= 0:
            raise ConfigError("height_min must not be negative")
        if not self.gravity_rho > 0:
            raise ConfigError("gravity_rho must be positive")
        for name in ("vivaldi_ce", "vivaldi_cc"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be within 0..1")


@dataclass(frozen=True, slots=True)
class Coordinate:
    """One node's position. Field names follow Serf's ``Coordinate`` struct.

    ``vec``: Euclidean part (seconds per axis); ``error``: relative confidence, lower is
    better; ``adjustment``: seconds added to every distance from this node (may be
    negative); ``height``: seconds, the node's own access-link delay.
    """

    vec: tuple[float, ...]
    error: float
    adjustment: float
    height: float

    @classmethod
    def origin(cls, config: CoordinateConfig) -> Coordinate:
        """A fresh coordinate: at the origin, maximal error, minimal height."""
        return cls((0.0,) * config.dimensionality, config.vivaldi_error_max, 0.0, config.height_min)

    def is_valid(self) -> bool:
        """False if any component is NaN or infinite."""
        return all(map(math.isfinite, self.vec)) and (
            math.isfinite(self.error) and math.isfinite(self.adjustment) and math.isfinite(self.height)
        )

    def is_compatible_with(self, other: Coordinate) -> bool:
        """Same dimensionality, so a distance between the two is defined."""
        return len(self.vec) == len(other.vec)

    def raw_distance_to(self, other: Coordinate) -> float:
        """Euclidean distance plus both heights (seconds), without the adjustments."""
        return _magnitude(_diff(self.vec, other.vec)) + self.height + other.height

    def distance_to(self, other: Coordinate) -> float:
        """Estimated RTT (seconds) between the two nodes: Serf's ``Coordinate.DistanceTo``.

        The adjustments of both ends are added unless that would make the estimate zero
        or negative, in which case the raw distance stands. Truncated to whole nanoseconds,
        as Serf's ``time.Duration`` result is; the client's updates use this value too.
        """
        if not self.is_compatible_with(other):
            raise ValueError(f"coordinate dimensionality {len(other.vec)} does not match {len(self.vec)}")
        dist = self.raw_distance_to(other)
        adjusted = dist + self.adjustment + other.adjustment
        return _whole_nanoseconds(adjusted if adjusted > 0.0 else dist)

    def apply_force(
        self, config: CoordinateConfig, force: float, other: Coordinate, rng: Random
    ) -> Coordinate:
        """Move ``force`` seconds away from ``other`` (toward it if negative).

        The height takes its share of the move in proportion to its part of the distance;
        it never drops below ``config.height_min``. ``rng`` picks the direction when the
        two coordinates coincide.
        """
        if not self.is_compatible_with(other):
            raise ValueError(f"coordinate dimensionality {len(other.vec)} does not match {len(self.vec)}")
        unit, mag = _unit_vector_at(self.vec, other.vec, rng)
        vec = tuple([a + u * force for a, u in zip(self.vec, unit, strict=True)])
        height = self.height
        if mag > _ZERO_THRESHOLD:
            height = max((height + other.height) * force / mag + height, config.height_min)
        return Coordinate(vec, self.error, self.adjustment, height)


class CoordinateClient:
    """This node's Vivaldi state: its coordinate and the samples that move it.

    Feed it ``update(node, their_coordinate, rtt_s)`` after each direct probe whose ack
    carried a coordinate; ask it ``distance_to(coordinate)`` for RTT estimates. Call
    ``forget_node`` when a member leaves the cluster so its latency samples go too:
    the client keeps ``latency_filter_size`` floats per node it has heard from.
    """

    def __init__(self, config: CoordinateConfig | None = None, *, rng: Random) -> None:
        self.config = config or CoordinateConfig()
        self._rng = rng
        self._coord = Coordinate.origin(self.config)
        self._origin = Coordinate.origin(self.config)
        self._adjustment_samples = [0.0] * self.config.adjustment_window_size
        self._adjustment_index = 0
        self._latency_samples: dict[str, list[float]] = {}
        self.resets = 0
        """Times the coordinate became non-finite and was reset to the origin (Serf's
        ``ClientStats.Resets``)."""

    @property
    def coordinate(self) -> Coordinate:
        """Our current coordinate (immutable; safe to hand out)."""
        return self._coord

    def set_coordinate(self, coord: Coordinate) -> None:
        """Replace our coordinate, e.g. with one saved before a restart."""
        self._check(coord)
        self._coord = coord

    def forget_node(self, node: str) -> None:
        """Drop ``node``'s latency samples (it left or failed)."""
        self._latency_samples.pop(node, None)

    def distance_to(self, other: Coordinate) -> float:
        """Estimated RTT (seconds) from us to ``other``; see ``Coordinate.distance_to``."""
        return self._coord.distance_to(other)

    def update(self, node: str, other: Coordinate, rtt_s: float) -> Coordinate:
        """Take one RTT sample to ``node``, whose coordinate is ``other``; return ours.

        Raises ``InvalidCoordinate`` (and changes nothing) when ``other`` has a NaN or
        infinite component or the wrong dimensionality, or ``rtt_s`` is not within
        0..``MAX_RTT_S`` seconds.
        """
        self._check(other)
        if not 0.0 <= rtt_s <= MAX_RTT_S:  # also false for NaN
            raise InvalidCoordinate(f"round trip time {rtt_s!r} s is not within 0..{MAX_RTT_S:g} s")
        rtt_s = self._latency_filter(node, rtt_s)
        self._update_vivaldi(other, rtt_s)
        self._update_adjustment(other, rtt_s)
        self._update_gravity()
        if not self._coord.is_valid():
            self.resets += 1
            self._coord = Coordinate.origin(self.config)
        return self._coord

    def _check(self, coord: Coordinate) -> None:
        if not self._coord.is_compatible_with(coord):
            raise InvalidCoordinate(
                f"coordinate has {len(coord.vec)} dimensions, expected {len(self._coord.vec)}"
            )
        if not coord.is_valid():
            raise InvalidCoordinate("coordinate has a NaN or infinite component")

    def _latency_filter(self, node: str, rtt_s: float) -> float:
        """Median of the last ``latency_filter_size`` samples to ``node``, this one included."""
        samples = self._latency_samples.setdefault(node, [])
        samples.append(rtt_s)
        if len(samples) > self.config.latency_filter_size:
            del samples[0]
        ordered = sorted(samples)
        return ordered[len(ordered) // 2]

    def _update_vivaldi(self, other: Coordinate, rtt_s: float) -> None:
        """The spring step: move by the residual, weighted by our share of the total error."""
        cfg = self.config
        dist = self._coord.distance_to(other)
        rtt_s = max(rtt_s, _ZERO_THRESHOLD)
        wrongness = abs(dist - rtt_s) / rtt_s
        total_error = max(self._coord.error + other.error, _ZERO_THRESHOLD)
        weight = self._coord.error / total_error
        error = cfg.vivaldi_ce * weight * wrongness + self._coord.error * (1.0 - cfg.vivaldi_ce * weight)
        moved = self._coord.apply_force(cfg, cfg.vivaldi_cc * weight * (rtt_s - dist), other, self._rng)
        self._coord = Coordinate(moved.vec, min(error, cfg.vivaldi_error_max), moved.adjustment, moved.height)

    def _update_adjustment(self, other: Coordinate, rtt_s: float) -> None:
        """Adjustment = half the mean residual (RTT − raw distance) over the window."""
        window = self.config.adjustment_window_size
        if window == 0:
            return
        self._adjustment_samples[self._adjustment_index] = rtt_s - self._coord.raw_distance_to(other)
        self._adjustment_index = (self._adjustment_index + 1) % window
        total = 0.0
        for sample in self._adjustment_samples:  # left to right, as Serf adds (not sum())
            total += sample
        mine = self._coord
        self._coord = Coordinate(mine.vec, mine.error, total / (2.0 * window), mine.height)

    def _update_gravity(self) -> None:
        """Pull toward the origin with force ``(distance / rho)²``, against drift."""
        dist = self._origin.distance_to(self._coord)
        ratio = dist / self.config.gravity_rho
        force = -(ratio * ratio)  # Go's Pow(x, 2); ** would raise OverflowError on huge x
        self._coord = self._coord.apply_force(self.config, force, self._origin, self._rng)


def duration_seconds(nanos: int) -> float:
    """Go's ``time.Duration(nanos).Seconds()``: whole seconds plus the nanosecond rest,
    which rounds differently from ``nanos / 1e9`` above one second."""
    whole = abs(nanos)
    seconds = float(whole // 1_000_000_000) + float(whole % 1_000_000_000) / 1e9
    return -seconds if nanos < 0 else seconds


def _whole_nanoseconds(seconds: float) -> float:
    """``seconds`` through Go's ``time.Duration(seconds * 1e9).Seconds()``: truncated
    toward zero to whole nanoseconds. Values no Duration can hold (non-finite, or beyond
    ±292 years, only reachable from hostile coordinates) pass through unchanged."""
    ns = seconds * 1e9
    if not math.isfinite(ns) or abs(ns) >= 2.0**63:
        return seconds
    return duration_seconds(int(ns))


def _diff(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(map(sub, a, b))  # x - y per axis, without a comprehension's frame


def _magnitude(vec: tuple[float, ...]) -> float:
    # sqrt of the squares added left to right, as Serf does: math.hypot and (since
    # Python 3.12) sum() round differently, and the golden test wants Serf's exact bits
    total = 0.0
    for x in vec:
        total += x * x
    return math.sqrt(total)


def _unit_vector_at(
    a: tuple[float, ...], b: tuple[float, ...], rng: Random
) -> tuple[tuple[float, ...], float]:
    """Unit vector from ``b`` toward ``a`` and the distance between them.

    When they (nearly) coincide the direction is random and the distance reported is 0,
    so the caller leaves the height alone; should even the random draw be ~0, the first
    axis is used.
    """
    d = _diff(a, b)
    mag = _magnitude(d)
    if mag > _ZERO_THRESHOLD:
        inv = 1.0 / mag  # Serf scales by the reciprocal (inv * x: the same product)
        return tuple(map(inv.__mul__, d)), mag
    d = tuple(rng.random() - 0.5 for _ in a)
    mag = _magnitude(d)
    if mag > _ZERO_THRESHOLD:
        inv = 1.0 / mag
        return tuple([x * inv for x in d]), 0.0
    return (1.0,) + (0.0,) * (len(a) - 1), 0.0
