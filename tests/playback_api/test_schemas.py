"""http/schemas.model_from_dataclass: the API's models made from the dataclasses they show."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from pydantic import BaseModel

from reelflow.events.qoe_queries import SessionQoE
from reelflow.lifecycle.contracts import RenditionInfo
from reelflow.playback_api.http.schemas import model_from_dataclass, renamed
from reelflow.playback_api.routes.admin_qoe import SessionOut
from reelflow.playback_api.studio.status import StudioRendition


@dataclass
class _Sample:
    name: str
    size: int | None = None
    tags: list[str] = field(default_factory=list)
    secret: str = "hidden"


def test_fields_types_defaults_and_order_follow_the_dataclass() -> None:
    model = model_from_dataclass(_Sample, "SampleOut", doc="A sample.", exclude=("secret",))
    assert model.__name__ == "SampleOut" and model.__doc__ == "A sample."
    assert list(model.model_fields) == ["name", "size", "tags"]
    value = model.model_validate({"name": "a", "secret": "x"})
    assert value.model_dump() == {"name": "a", "size": None, "tags": []}
    schema = model.model_json_schema()
    assert schema["title"] == "SampleOut" and schema["required"] == ["name"]


def test_refuses_what_is_not_a_dataclass_or_an_unknown_field() -> None:
    with pytest.raises(TypeError):
        model_from_dataclass(BaseModel, "Nope")
    with pytest.raises(ValueError, match="no fields"):
        model_from_dataclass(_Sample, "SampleOut", exclude=("missing",))


def test_the_api_models_are_the_dataclasses_fields() -> None:
    assert list(StudioRendition.model_fields) == [
        n for n in RenditionInfo.__dataclass_fields__ if n != "object_key"
    ]
    assert list(SessionOut.model_fields) == list(SessionQoE.__dataclass_fields__)


def test_rename_and_describe_give_the_answer_its_own_names() -> None:
    model = model_from_dataclass(
        _Sample, "Renamed", rename={"name": "n"}, describe={"n": "the name"}, exclude=("tags",)
    )
    assert list(model.model_fields) == ["n", "size", "secret"]
    assert model.model_json_schema()["properties"]["n"]["description"] == "the name"
    assert renamed(_Sample("a", 3), {"name": "n"}) == {
        "n": "a",
        "size": 3,
        "tags": [],
        "secret": "hidden",
    }
    with pytest.raises(ValueError, match="no fields"):
        model_from_dataclass(_Sample, "Nope", rename={"missing": "m"})
