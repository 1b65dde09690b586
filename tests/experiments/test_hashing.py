"""GrowthBook's published SDK vectors (tests/experiments/data/growthbook_cases.json, copied
from its sdk-js cases.json with source, commit and licence): every one must pass, so a
device SDK and the server put a viewer in the same variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reelflow.experiments.hashing import (
    bucket_ranges,
    choose_variation,
    fnv1a32,
    hash_v1,
    hash_v2,
    in_namespace,
)

CASES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "growthbook_cases.json").read_text()
)


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """The SDK's ``hash(seed, value, version)`` made of reelflow's two hashes; reelflow
    knows no other version, so the SDK's "unknown version" answer is None here too."""
    if version == 2:
        return hash_v2(fnv1a32(seed), value)
    if version == 1:
        return hash_v1(fnv1a32(value), seed)
    return None


def test_the_vectors_are_all_there() -> None:
    counts = {
        k: len(CASES[k]) for k in ("hash", "getBucketRange", "inNamespace", "chooseVariation")
    }
    assert counts == {"hash": 15, "getBucketRange": 13, "inNamespace": 16, "chooseVariation": 13}
    assert CASES["_source"]["licence"].startswith("MIT")


@pytest.mark.parametrize(("seed", "value", "version", "expected"), CASES["hash"])
def test_hash(seed: str, value: str, version: int, expected: float | None) -> None:
    assert gb_hash(seed, value, version) == expected


@pytest.mark.parametrize(("name", "args", "expected"), CASES["getBucketRange"])
def test_bucket_ranges(name: str, args: list[Any], expected: list[list[float]]) -> None:
    count, coverage, weights = args
    got = bucket_ranges(count, coverage, weights)
    assert [(round(a, 6), round(b, 6)) for a, b in got] == [tuple(r) for r in expected], name


@pytest.mark.parametrize(("name", "value", "namespace", "expected"), CASES["inNamespace"])
def test_in_namespace(name: str, value: str, namespace: list[Any], expected: bool) -> None:
    assert in_namespace(fnv1a32(value), (namespace[0], namespace[1], namespace[2])) is expected, (
        name
    )


@pytest.mark.parametrize(("name", "n", "ranges", "expected"), CASES["chooseVariation"])
def test_choose_variation(name: str, n: float, ranges: list[list[float]], expected: int) -> None:
    assert choose_variation(n, [(a, b) for a, b in ranges]) == expected, name


def test_non_ascii_ids_hash_as_utf16_code_units_like_javascript() -> None:
    # Worked out with the SDK's hashFnv32a in Node: charCodeAt gives UTF-16 code units, so
    # the clef (outside the BMP) counts as two surrogates, not one code point.
    assert gb_hash("x", "ü€𝄞", 2) == 0.6477
    by_code_point = 0x811C9DC5
    for char in "ü€𝄞":
        by_code_point = ((by_code_point ^ ord(char)) * 0x01000193) & 0xFFFFFFFF
    assert fnv1a32("ü€𝄞") != by_code_point


def test_continuing_a_prefix_state_is_hashing_the_whole_string() -> None:
    for prefix, rest in [("exp-a", "acct-1"), ("", "z"), ("startup-abr", "9f0c2b"), ("ü", "€")]:
        assert fnv1a32(rest, fnv1a32(prefix)) == fnv1a32(prefix + rest)
