"""Response models built from the dataclasses they show, so a shape is written down once.

Where an answer is a dataclass the lower layers already define (a rendition from the
lifecycle contracts, a QoE session from the event log's queries), the API's pydantic model is
made from it here rather than copied field by field: a field added there appears in the API too.
The model gets its own name and docstring, so the OpenAPI document names it as before.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, create_model


def model_from_dataclass(
    cls: type[Any],
    name: str,
    *,
    doc: str | None = None,
    exclude: tuple[str, ...] = (),
    rename: Mapping[str, str] | None = None,
    describe: Mapping[str, str] | None = None,
) -> type[BaseModel]:
    """A pydantic model named ``name`` with the fields (types and defaults) of the dataclass
    ``cls``, in order, leaving out ``exclude``; ``rename`` maps a dataclass field to the
    answer's name for it, ``describe`` gives (answer) fields their OpenAPI description."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    rename, describe = dict(rename or {}), dict(describe or {})
    hints = typing.get_type_hints(cls)
    unknown = (set(exclude) | set(rename)) - set(hints)
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}")
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        answer_name = rename.get(f.name, f.name)
        description = describe.get(answer_name)
        if f.default is not dataclasses.MISSING:
            default: Any = Field(default=f.default, description=description)
        elif f.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=f.default_factory, description=description)
        else:
            default = Field(description=description)
        fields[answer_name] = (hints[f.name], default)
    return create_model(name, __doc__=doc, __module__=cls.__module__, **fields)


def renamed(obj: Any, rename: Mapping[str, str]) -> dict[str, Any]:
    """A dataclass instance as a dict, its fields under their ``rename``d answer names."""
    return {rename.get(k, k): v for k, v in dataclasses.asdict(obj).items()}
