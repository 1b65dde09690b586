"""Fail when reelflow/ or bench/ holds code nothing calls (vulture), for `dev.sh test`.

Tests are left out of the scan on purpose: a function only tests call is dead code too.
Class-body names (dataclass, pydantic and SQLModel fields, enum members) are read by
serialisers vulture cannot follow, so only functions, methods, classes, properties and
imports are checked, plus variables vulture is certain about. What frameworks call by
name is listed, with the reason, in unused_code_whitelist.py beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import vulture

ROOT = Path(__file__).resolve().parent.parent
SCANNED = [ROOT / "reelflow", ROOT / "bench", Path(__file__).with_name("unused_code_whitelist.py")]
EXCLUDED = ["*/catalog/migrations/*"]  # Alembic calls upgrade/downgrade by convention
# Entry points that a framework registers through the decorator and calls by itself.
FRAMEWORK_DECORATORS = [
    "@*.command",
    "@*.callback",
    "@*.get",
    "@*.post",
    "@*.put",
    "@*.delete",
    "@*.options",
    "@*.api_route",
    "@*.middleware",
    "@*.exception_handler",
    "@*.on_event",
    "@field_validator",
    "@model_validator",
    "@*.defn",
    "@*.run",
    "@*.signal",
    "@*.query",
    "@*.update",
]
CHECKED_KINDS = {"function", "method", "class", "property", "import"}


def main(paths: list[Path] | None = None) -> int:
    scan = vulture.Vulture(ignore_decorators=FRAMEWORK_DECORATORS)
    scan.scavenge([str(p) for p in (paths or SCANNED)], exclude=EXCLUDED)
    found = [
        item
        for item in scan.get_unused_code(min_confidence=60)
        if item.typ in CHECKED_KINDS or item.confidence >= 100
    ]
    for item in found:
        print(item.get_report())
    if found:
        print(
            f"unused code: {len(found)} item(s); remove them, or whitelist a framework "
            "entry point in deploy/unused_code_whitelist.py with its reason",
            file=sys.stderr,
        )
        return 1
    print("unused code: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
