"""Response models built from the dataclasses they show, so a shape is written down once.

Where an answer is a dataclass the lower layers already define (a rendition from the
lifecycle contracts, a QoE session from the QoE job), the API's pydantic model is made from
it here rather than copied field by field: a field added there appears in the API too.
The model gets its own name and docstring, so the OpenAPI document names it as before.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from pydantic import BaseModel, Field, create_model


def model_from_dataclass(
    cls: type[Any], name: str, *, doc: str | None = None, exclude: tuple[str, ...] = ()
) -> type[BaseModel]:
    """A pydantic model named ``name`` with the fields (types and defaults) of the dataclass
    ``cls``, in order, leaving out ``exclude``."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    unknown = set(exclude) - set(hints)
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}")
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=f.default_factory)
        else:
            default = ...
        fields[f.name] = (hints[f.name], default)
    return create_model(name, __doc__=doc, __module__=cls.__module__, **fields)
