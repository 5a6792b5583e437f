"""Verified reads: a gRPC answer is accepted only if it is exactly what proven state says.

For an answer at height H: the light client verifies header H+1 (which carries the app hash of
H); every raw entry's proof must lead to that app hash; then the module's own answer function runs
over the proven entries alone, with the keys the *client* computes from the request, and its result
must equal the served answer field for field. Nothing the server derived is taken on trust.

Freshness: a proven answer can still be old (a node serving yesterday's database proves
yesterday's state). `Freshness` refuses one below a minimum height, or more than `max_lag` blocks
behind the newest header the light client verifies, with StaleAnswer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from app.client.grpc_query import GrpcQueryClient
from app.client.light import LightClient
from app.client.light.types import Header
from app.client.querier import merge_pages, read_pages
from app.client.rpc import NodeUnreachable, RpcError
from app.client.verified.errors import HeaderUnavailable, StaleAnswer, TamperedAnswer
from app.client.verified.proven import ProvenReader, ProvenState
from app.core.query import QueryService
from app.modules.services import get_service

__all__ = ["Freshness", "Verified", "VerifiedQuerier", "verified_header", "verify_answer"]

_HEADER_TIMEOUT_S = 15.0
_POLL_S = 0.2


@dataclass(frozen=True)
class Verified:
    """An answer re-derived from entries proven against the app hash of `height`."""

    answer: Message
    height: int
    app_hash: bytes


@dataclass(frozen=True)
class Freshness:
    """How old a verified answer may be: at least min_height, at most max_lag blocks behind the
    newest header the light client verifies (None: no bound)."""

    min_height: int = 0
    max_lag: int | None = None


# Any answer that verifies is accepted, however old.
ANY_AGE = Freshness()


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
    rebuilt.proof.CopyFrom(response.proof)  # type: ignore[attr-defined]
    state.require_all_used()
    if rebuilt != response:
        raise TamperedAnswer(
            f"{service.path(method)}: the answer's {', '.join(_differing_fields(rebuilt, response))} "
            f"differ from what its proven entries say at height {state.height}"
        )
    return rebuilt


class VerifiedQuerier:
    """Queries a node's gRPC services and verifies each answer with a light client (a `Querier`)."""

    def __init__(
        self,
        client: GrpcQueryClient,
        light: LightClient,
        header_timeout_s: float = _HEADER_TIMEOUT_S,
        freshness: Freshness = ANY_AGE,
    ) -> None:
        self.client = client
        self.light = light
        self.header_timeout_s = header_timeout_s
        self.freshness = freshness
        self.last_height = 0

    def query(self, module: str, method: str, request: Message) -> Verified:
        """One verified, fresh enough answer; raises a VerificationError or a LightClientError naming
        what failed."""
        service = get_service(module)
        return self._verify(service, method, [(request, self.client.call(service, method, request))])[0]

    def _verify(
        self, service: QueryService, method: str, pages: list[tuple[Message, Message]]
    ) -> list[Verified]:
        """Verify answers read at one height against the app hash of its header, then their freshness."""
        height = pages[0][1].proof.height  # type: ignore[attr-defined]
        trusted = self.trusted_app_hash(height) if height > 0 else b""
        verified = [
            Verified(verify_answer(service, method, request, response, trusted), height, trusted)
            for request, response in pages
        ]
        self._check_fresh(service.path(method), height)
        self.last_height = height
        return verified

    def _check_fresh(self, path: str, height: int) -> None:
        """Refuse an answer below min_height or more than max_lag blocks behind the newest header."""
        wanted = self.freshness
        if height < wanted.min_height:
            raise StaleAnswer(
                f"{path}: the answer is verified at height {height}, below the --min-height "
                f"{wanted.min_height} asked for: the node serves older state; ask another node (--grpc) "
                "or wait for it to catch up"
            )
        if wanted.max_lag is None:
            return
        newest = self.light.verify_latest().height
        # Header H+1 carries the state of H, so a node that is fully caught up answers at newest - 1.
        lag = newest - 1 - height
        if lag > wanted.max_lag:
            raise StaleAnswer(
                f"{path}: the answer is verified at height {height}, {lag} blocks behind the newest verified "
                f"header {newest} (--max-lag {wanted.max_lag}): the node serves an old database or is "
                "far behind; ask another node (--grpc)"
            )

    def ask(self, module: str, method: str, request: Message) -> Any:
        """One verified answer (the `Querier` interface)."""
        return self.query(module, method, request).answer

    def ask_all(self, module: str, method: str, request: Message) -> Any:
        """Every page of a list, all read from one height first (so no header wait falls between two
        pages), then each verified against that height's app hash."""
        service = get_service(module)

        def page(r: Message) -> tuple[Message, int]:
            answer = self.client.call(service, method, r)
            return answer, answer.proof.height  # type: ignore[attr-defined]

        pages = read_pages(page, request, service.path(method))
        return merge_pages([v.answer for v in self._verify(service, method, pages)])

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
