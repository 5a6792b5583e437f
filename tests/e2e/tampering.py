"""Liars for the verified-reads e2e tests: a tampering gRPC stand-in and a forging header source."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import nacl.signing

from app.client.grpc_query import GrpcQueryClient
from app.client.light.hashing import header_hash, validator_set_hash, vote_sign_bytes
from app.client.light.types import (
    BlockID,
    BlockIDFlag,
    Commit,
    CommitSig,
    SignedHeader,
    Validator,
    ValidatorSet,
)
from app.client.rpc import CometRPC
from app.modules.services import SERVICES

__all__ = ["StandIn", "ForgingSource", "drop_two_signatures", "forge_validator_set"]


class StandIn:
    """An in-process gRPC server: every query goes to the real node, then `tamper` edits the answer."""

    def __init__(self, upstream: str) -> None:
        self.upstream = GrpcQueryClient(upstream)
        self.tamper: Callable = lambda response: None
        self.server = grpc.server(ThreadPoolExecutor(max_workers=2), options=[("grpc.so_reuseport", 0)])
        for service in SERVICES:
            handlers = {
                method: grpc.unary_unary_rpc_method_handler(
                    self._forward(service, method),
                    request_deserializer=service.request_class(method).FromString,
                    response_serializer=service.response_class(method).SerializeToString,
                )
                for method in service.answers
            }
            self.server.add_generic_rpc_handlers(
                [grpc.method_handlers_generic_handler(service.name, handlers)]
            )
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def _forward(self, service, method: str):  # noqa: ANN001, ANN202
        def handle(request, context):  # noqa: ANN001, ANN202
            response = self.upstream.call(service, method, request)
            self.tamper(response)
            return response

        return handle

    def close(self) -> None:
        """Stop serving and close the upstream channel."""
        self.server.stop(None)
        self.upstream.close()


class ForgingSource:
    """Real headers up to `honest_until`; above it, `forge` rewrites each (commit, validators) pair."""

    def __init__(
        self, rpc: CometRPC, honest_until: int, forge: Callable[[dict, list], tuple[dict, list]]
    ) -> None:
        self.rpc, self.honest_until, self.forge = rpc, honest_until, forge

    def _pair(self, height: int | None) -> tuple[dict, list]:
        commit = self.rpc.commit(height)
        h = int(commit["header"]["height"])
        validators = self.rpc.validators(h)
        return (commit, validators) if h <= self.honest_until else self.forge(commit, validators)

    def commit(self, height: int | None = None) -> dict:
        """The signed header at height (latest if None), forged above honest_until."""
        return self._pair(height)[0]

    def validators(self, height: int | None = None) -> list:
        """The validator set at height, forged above honest_until."""
        return self._pair(height)[1]


def drop_two_signatures(commit: dict, validators: list) -> tuple[dict, list]:
    """Keep two of the four signatures: at most 1.6M + 1M of 4.6M power here, not more than 2/3."""
    commit = json.loads(json.dumps(commit))
    for sig in commit["commit"]["signatures"][2:]:
        sig.update(block_id_flag=1, validator_address="", timestamp="0001-01-01T00:00:00Z", signature=None)
    return commit, validators


_ATTACKER = nacl.signing.SigningKey(b"\x42" * 32)


def forge_validator_set(commit: dict, validators: list) -> tuple[dict, list]:
    """The header re-pointed at the attacker's own one-validator set, and signed by it."""
    signed = SignedHeader.from_rpc(commit)
    fake = ValidatorSet((Validator(bytes(_ATTACKER.verify_key), 10),))
    header = dataclasses.replace(
        signed.header, validators_hash=validator_set_hash(fake), next_validators_hash=validator_set_hash(fake)
    )
    block_id = BlockID(header_hash(header), signed.commit.block_id.part_set_header)
    sign_bytes = vote_sign_bytes(header.chain_id, header.height, 0, block_id, header.time)
    sig = CommitSig(
        BlockIDFlag.COMMIT, fake.validators[0].address, header.time, _ATTACKER.sign(sign_bytes).signature
    )
    return SignedHeader(header, Commit(header.height, 0, block_id, (sig,))).to_rpc(), fake.to_rpc()
