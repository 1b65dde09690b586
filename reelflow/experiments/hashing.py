"""GrowthBook's hashing, bucket ranges and namespaces, so device SDKs and the server agree.

A port of GrowthBook's JavaScript SDK (``packages/sdk-js/src/util.ts``, MIT): ``hash``
(versions 1 and 2), ``getBucketRanges``, ``inRange``, ``chooseVariation`` and
``inNamespace``. The hashes take the FNV state of their fixed prefix (FNV is a left fold),
so a playback start hashes each id once. The bucket ranges keep the SDK's fallbacks
(coverage clamped to [0, 1], equal weights when the weights are missing, of the wrong
length or do not add up to 1) so every published conformance vector passes
(tests/experiments/test_hashing.py runs them); reelflow refuses such definitions before
they run (assignment.py), the fallbacks are only here to agree.
"""

from __future__ import annotations

from collections.abc import Sequence

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF
# The weights of a definition may add up to 1 within this, as in the SDK.
WEIGHT_TOLERANCE = 0.01

Range = tuple[float, float]


def _code_units(text: str) -> Sequence[int]:
    # JavaScript hashes UTF-16 code units (charCodeAt); ASCII ids are their own bytes.
    if text.isascii():
        return text.encode()
    raw = text.encode("utf-16-le")
    return [raw[i] | raw[i + 1] << 8 for i in range(0, len(raw), 2)]


def fnv1a32(text: str, state: int = _FNV_OFFSET) -> int:
    """FNV-1a, 32 bits, over ``text``; ``state`` continues a hash of a prefix."""
    prime, mask = _FNV_PRIME, _MASK  # locals: this loop runs per character of every id
    for unit in _code_units(text):
        state = (state ^ unit) * prime & mask
    return state


def hash_v1(value_state: int, seed: str) -> float:
    """GrowthBook's hash version 1, ``fnv1a32(value + seed) % 1000 / 1000``, from
    ``value_state = fnv1a32(value)``: the value comes first, so one viewer's part serves
    every layer. Kept by GrowthBook (and here) for namespaces only: it is biased."""
    return (fnv1a32(seed, value_state) % 1000) / 1000


def hash_v2(seed_state: int, value: str) -> float:
    """GrowthBook's hash version 2, ``fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000``,
    from ``seed_state = fnv1a32(seed)``: the seed (the experiment key) comes first, so its
    part is computed once per experiment, not per viewer."""
    inner = fnv1a32(value, seed_state)
    return (fnv1a32(str(inner)) % 10000) / 10000


def in_range(n: float, bucket: Range) -> bool:
    return bucket[0] <= n < bucket[1]


def bucket_ranges(
    count: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[Range]:
    """Each variation's slice of [0, 1): weights laid end to end, each cut to ``coverage``
    of its length, so raising the coverage only adds viewers and never moves one."""
    coverage = min(max(coverage, 0.0), 1.0)
    equal = [1 / count] * count if count > 0 else []
    chosen = list(weights) if weights is not None else equal
    if len(chosen) != count or not 1 - WEIGHT_TOLERANCE <= sum(chosen) <= 1 + WEIGHT_TOLERANCE:
        chosen = equal
    ranges: list[Range] = []
    cumulative = 0.0
    for weight in chosen:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[Range]) -> int:
    """The index of the range holding ``n``, or -1 (outside the coverage)."""
    for index, bucket in enumerate(ranges):
        if in_range(n, bucket):
            return index
    return -1


def in_namespace(value_state: int, namespace: tuple[str, float, float]) -> bool:
    """Whether the value (``value_state = fnv1a32(value)``) falls in the namespace's slice
    ``(id, start, end)``: hash version 1 with the seed ``"__" + id``, so experiments sharing a
    namespace id with disjoint slices never share a viewer, and different ids are independent
    of each other and of the variant hash."""
    ident, start, end = namespace
    return start <= hash_v1(value_state, "__" + ident) < end
