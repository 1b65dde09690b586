"""Temporal client factory and the custom search attributes ops filter on in the Web UI."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client

from reelflow.config import Settings, get_settings
from reelflow.workflows.search_attributes import SEARCH_ATTRIBUTES, STAGE_ATTR, TITLE_ID_ATTR

__all__ = [
    "SEARCH_ATTRIBUTES",
    "STAGE_ATTR",
    "TITLE_ID_ATTR",
    "connect",
    "register_search_attributes",
]


class TemporalUnavailable(RuntimeError):
    """The Temporal frontend could not be reached; the message says where we looked."""


async def connect(settings: Settings | None = None) -> Client:
    settings = settings or get_settings()
    try:
        return await Client.connect(
            settings.temporal_address, namespace=settings.temporal_namespace
        )
    except Exception as exc:  # the SDK raises a bare RuntimeError on connection failures
        raise TemporalUnavailable(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.temporal_namespace}): {exc}. "
            "Start the stack with ./deploy/dev.sh up, or set REELFLOW_TEMPORAL_ADDRESS."
        ) from exc


async def register_search_attributes(client: Client) -> list[str]:
    """Add reelflow's search attributes if missing; returns the names that were added."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)
