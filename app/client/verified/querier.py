"""Verified reads: a gRPC answer is accepted only if it is exactly what proven state says.

For an answer at height H: the light client verifies header H+1 (which carries the app hash of
H); every raw entry's proof must lead to that app hash; then the module's own answer function runs
over the proven entries alone, with the keys the *client* computes from the request, and its result
must equal the served answer field for field. Nothing the server derived is taken on trust.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf.message import Message

from app.client.grpc_query import GrpcQueryClient
from app.client.light import LightClient
from app.client.light.types import Header
from app.client.rpc import NodeUnreachable, RpcError
from app.client.verified.errors import HeaderUnavailable, TamperedAnswer
from app.client.verified.proven import ProvenReader, ProvenState
from app.grpc.base import QueryService
from app.grpc.registry import get_service

__all__ = ["Verified", "VerifiedQuerier", "merge_pages", "verified_header", "verify_answer"]

_HEADER_TIMEOUT_S = 15.0
_POLL_S = 0.2


@dataclass(frozen=True)
class Verified:
    """An answer re-derived from entries proven against the app hash of `height`."""

    answer: Message
    height: int
    app_hash: bytes


def _differing_fields(a: Message, b: Message) -> list[str]:
    """Names of the top-level fields on which two messages of one type differ."""
    names = [f.name for f in a.DESCRIPTOR.fields if getattr(a, f.name) != getattr(b, f.name)]
    return names or ["field presence"]


def verify_answer(
    service: QueryService, method: str, request: Message, response: Message, trusted_app_hash: bytes
) -> Message:
    """Check response against trusted_app_hash; return the answer rebuilt from its proven entries."""
    state = ProvenState.verify(response.proof, trusted_app_hash)  # type: ignore[attr-defined]
    served_page = response.pagination if "pagination" in response.DESCRIPTOR.fields_by_name else None  # type: ignore[attr-defined]
    rebuilt = service.answers[method](ProvenReader(state, served_page), request)
    state.require_all_used()
    served = type(response)()
    served.CopyFrom(response)
    served.ClearField("proof")
    if rebuilt != served:
        raise TamperedAnswer(
            f"{service.path(method)}: the answer's {', '.join(_differing_fields(rebuilt, served))} "
            f"differ from what its proven entries say at height {state.height}"
        )
    return rebuilt


def merge_pages(pages: list[Verified]) -> Message:
    """One answer holding every page's items (repeated fields concatenated), no pagination."""
    merged = type(pages[0].answer)()
    for page in pages:
        merged.MergeFrom(page.answer)
    if "pagination" in merged.DESCRIPTOR.fields_by_name:
        merged.ClearField("pagination")
    return merged


class VerifiedQuerier:
    """Queries a node's gRPC services and verifies each answer with a light client."""

    def __init__(
        self, client: GrpcQueryClient, light: LightClient, header_timeout_s: float = _HEADER_TIMEOUT_S
    ) -> None:
        self.client = client
        self.light = light
        self.header_timeout_s = header_timeout_s

    def query(self, module: str, method: str, request: Message) -> Verified:
        """One verified answer; raises a VerificationError or a LightClientError naming what failed."""
        service = get_service(module)
        response = self.client.call(service, method, request)
        height = response.proof.height  # type: ignore[attr-defined]
        trusted = self.trusted_app_hash(height) if height > 0 else b""
        return Verified(verify_answer(service, method, request, response, trusted), height, trusted)

    def query_pages(self, module: str, method: str, request: Message) -> Iterator[Verified]:
        """Every page of a list query, each verified (pages may come from different heights)."""
        request = type(request).FromString(request.SerializeToString())
        while True:
            page = self.query(module, method, request)
            yield page
            next_key = page.answer.pagination.next_key  # type: ignore[attr-defined]
            if not next_key:
                return
            request.pagination.key = next_key  # type: ignore[attr-defined]

    def trusted_app_hash(self, height: int) -> bytes:
        """The app hash of height, from the verified header height + 1 (waiting for it to be made)."""
        return verified_header(self.light, height + 1, self.header_timeout_s).app_hash


def verified_header(light: LightClient, height: int, timeout_s: float = _HEADER_TIMEOUT_S) -> Header:
    """Header `height`, verified by the light client; waits up to timeout_s for the chain to make it."""
    deadline = time.monotonic() + timeout_s
    seen_made = False
    while True:
        try:
            return light.verify_to_height(height)
        except NodeUnreachable:
            raise
        except RpcError as e:
            latest = int(light.rpc.commit()["header"]["height"])
            if latest >= height:
                # Made just after the failed read: retry once, then the failure is real.
                if seen_made:
                    raise
                seen_made = True
                continue
            if time.monotonic() >= deadline:
                raise HeaderUnavailable(
                    f"header {height} is not available after {timeout_s:.0f}s (the node's latest is "
                    f"{latest}): was the answer made at a height the chain has not reached?"
                ) from e
            time.sleep(_POLL_S)
