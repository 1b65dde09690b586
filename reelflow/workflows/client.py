"""Temporal client factory and the custom search attributes ops filter on in the Web UI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from reelflow.config import ConfigError, Settings, get_settings
from reelflow.domain.ids import legacy_workflow_id, workflow_id
from reelflow.lifecycle.search_attributes import (
    SEARCH_ATTRIBUTES,
    STAGE_ATTR,
    STATE_ATTR,
    TITLE_ID_ATTR,
)

__all__ = [
    "SEARCH_ATTRIBUTES",
    "STAGE_ATTR",
    "STATE_ATTR",
    "TITLE_ID_ATTR",
    "HistorySize",
    "connect",
    "find_title_run",
    "history_size",
    "register_search_attributes",
]


class TemporalUnavailable(RuntimeError):
    """The Temporal frontend could not be reached; the message says where we looked."""


def _read_pem(path: Path, variable: str, marker: str) -> bytes:
    """A PEM file's bytes; errors name the variable and path, never the contents."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    if marker.encode() not in data:
        raise ConfigError(f"{variable}: {path} is not a PEM file with {marker}")
    return data


def temporal_tls(settings: Settings) -> TLSConfig | bool:
    """The TLS setup for the Temporal frontend: False (plain gRPC, the dev server), True
    (TLS with the system's roots: an API key alone) or a TLSConfig with a private CA and/or
    a client certificate (mTLS)."""
    cert, key, ca = (
        settings.temporal_tls_cert_path,
        settings.temporal_tls_key_path,
        settings.temporal_tls_ca_path,
    )
    if (cert is None) != (key is None):
        have, need = ("CERT", "KEY") if key is None else ("KEY", "CERT")
        raise ConfigError(
            f"REELFLOW_TEMPORAL_TLS_{have}_PATH is set without REELFLOW_TEMPORAL_TLS_{need}_PATH"
        )
    if cert is None and ca is None:
        return settings.temporal_api_key is not None
    return TLSConfig(
        server_root_ca_cert=_read_pem(ca, "REELFLOW_TEMPORAL_TLS_CA_PATH", "CERTIFICATE-----")
        if ca
        else None,
        client_cert=_read_pem(cert, "REELFLOW_TEMPORAL_TLS_CERT_PATH", "CERTIFICATE-----")
        if cert
        else None,
        client_private_key=_read_pem(key, "REELFLOW_TEMPORAL_TLS_KEY_PATH", "PRIVATE KEY-----")
        if key
        else None,
    )


async def connect(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Client:
    """A client for the configured frontend; ``runtime`` carries workers' SDK metrics."""
    settings = settings or get_settings()
    tls = temporal_tls(settings)
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            tls=tls,
            api_key=api_key,
            runtime=runtime,
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


async def find_title_run(
    client: Client, title_id: str, version: int, *, rpc_timeout: Any = None
) -> WorkflowHandle[Any, Any] | None:
    """The workflow of a title version: under ``workflow_id``, else under the legacy id a
    version >= 2 had before ``@v`` (only if that run is this title's: the legacy id of
    ``foo`` v2 is also the id of title ``foo-v2``). None when neither exists."""
    handle = client.get_workflow_handle(workflow_id(title_id, version))
    legacy = legacy_workflow_id(title_id, version)
    for candidate in (handle, client.get_workflow_handle(legacy) if legacy else None):
        if candidate is None:
            continue
        try:
            desc = await candidate.describe(rpc_timeout=rpc_timeout)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        owner = desc.typed_search_attributes.get(TITLE_ID_ATTR)
        # A run that has not run its first task yet has no attributes: only under its id.
        if owner == title_id or (owner is None and candidate is handle):
            return candidate
    return None


@dataclass(frozen=True)
class HistorySize:
    """How big a run's history is: what the server stores and every replay reads."""

    events: int
    bytes: int  # serialized size of all events
    largest_event_bytes: int  # the server refuses a payload over ~2 MB


async def history_size(handle: WorkflowHandle[Any, Any]) -> HistorySize:
    history = await handle.fetch_history()
    sizes = [event.ByteSize() for event in history.events]
    return HistorySize(len(sizes), sum(sizes), max(sizes, default=0))
