"""Stored events to Parquet: one Arrow schema per event type, derived from its model.

Columns are the common fields, then the type's own fields by their names in the schema,
then the fields only the server fills (``schema.SERVER_FIELDS``, e.g. a qoe event's DRM
system and device class). Columns are only ever added, as nullable: a file written before a
column existed lacks it, and readers take it as null (``events.queries``).
``type``, ``date`` and ``hour`` are not stored in the file: they are the Hive partition
(``events/type=<t>/date=<YYYY-MM-DD>/hour=<HH>/``), which every engine reads from the path.
"""

from __future__ import annotations

import io
import types
import typing
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from reelflow.events.schema import EVENT_MODELS, SERVER_FIELDS, ClientEvent

_TS = pa.timestamp("us", tz="UTC")
COMMON_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("id", pa.string()),
    ("schema_version", pa.int16()),
    ("ts", _TS),
    ("server_ts", _TS),
    ("viewer", pa.string()),
    ("device", pa.string()),
    ("session", pa.string()),
    ("title", pa.string()),
    ("country", pa.string()),
    ("plan", pa.string()),
)
_COMMON_NAMES = frozenset(name for name, _ in COMMON_COLUMNS) | {"type"}


def _arrow_type(annotation: Any) -> pa.DataType:
    """The Arrow type of a model field: Optional and Annotated unwrapped, Literal as string."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _arrow_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _arrow_type(inner[0])
    if origin is typing.Literal:
        return pa.string()
    if origin is list:
        return pa.list_(_arrow_type(typing.get_args(annotation)[0]))
    simple = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"no Arrow type for {annotation!r}")


def _own_fields(model: type[BaseModel]) -> list[tuple[str, pa.DataType]]:
    return [
        (name, _arrow_type(field.annotation))
        for name, field in model.model_fields.items()
        if name not in _COMMON_NAMES and name not in ClientEvent.model_fields
    ]


@cache
def arrow_schema(event_type: str) -> pa.Schema:
    """The columns of ``event_type``'s files; KeyError for a type the schema does not know."""
    server = SERVER_FIELDS.get(event_type)
    filled = _own_fields(server) if server is not None else []
    return pa.schema([*COMMON_COLUMNS, *_own_fields(EVENT_MODELS[event_type]), *filled])


def to_table(event_type: str, records: Sequence[Mapping[str, Any]]) -> pa.Table:
    """One file's table from stored events as the log holds them (``events.log.Record``)."""
    schema = arrow_schema(event_type)
    own = [name for name in schema.names if name not in _COMMON_NAMES]
    columns: dict[str, list[Any]] = {name: [r[name] for r in records] for name, _ in COMMON_COLUMNS}
    for name in own:
        columns[name] = [r["fields"].get(name) for r in records]
    return pa.table(columns, schema=schema)


def to_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
