"""ABCI socket framing and the asyncio server: varints, split and batched frames, request dispatch."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.abci.framing import MAX_FRAME_BYTES, FrameDecoder, FrameError, encode_frame
from app.abci.handlers import AbciHandlers
from app.abci.server import AbciServer
from app.app import SynodApp
from app.core.codec import VarintError, decode_uvarint, encode_uvarint
from app.state.backend import MemoryBackend
from tendermint.abci import types_pb2 as abci
from tests.integration import harness

# --- varints --------------------------------------------------------------------------------------


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_uvarint_round_trip(n: int) -> None:
    encoded = encode_uvarint(n)

    decoded = decode_uvarint(encoded + b"\xff trailing")

    assert decoded == (n, len(encoded))
    assert len(encoded) == max(1, (n.bit_length() + 6) // 7)


@pytest.mark.parametrize(
    ("n", "size"), [(0, 1), (127, 1), (128, 2), (16383, 2), (16384, 3), ((1 << 21) - 1, 3), (1 << 21, 4)]
)
def test_uvarint_length_boundaries(n: int, size: int) -> None:
    encoded = encode_uvarint(n)

    assert len(encoded) == size
    assert decode_uvarint(encoded) == (n, size)


def test_uvarint_incomplete_returns_none_and_negative_is_rejected() -> None:
    encoded = encode_uvarint(1 << 30)

    assert decode_uvarint(encoded[:-1]) is None
    with pytest.raises(VarintError):
        encode_uvarint(-1)


# --- frames ---------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(st.binary(max_size=300), st.integers(min_value=128, max_value=70_000).map(bytes)),
        max_size=6,
    )
)
def test_frames_round_trip_in_one_feed(payloads: list[bytes]) -> None:
    decoder = FrameDecoder()

    frames = decoder.feed(b"".join(encode_frame(p) for p in payloads))

    assert frames == payloads
    assert decoder.pending == 0


@pytest.mark.parametrize("length", [(1 << 21), (1 << 21) + 77])
def test_frame_with_four_byte_length_prefix(length: int) -> None:
    payload = bytes(range(256)) * (length // 256) + b"\x01" * (length % 256)
    wire = encode_frame(payload)
    decoder = FrameDecoder()

    first = decoder.feed(wire[:-1])
    last = decoder.feed(wire[-1:])

    assert wire[:4] == encode_uvarint(length) and len(encode_uvarint(length)) == 4
    assert first == []
    assert last == [payload]


def test_every_split_point_of_a_few_frames() -> None:
    payloads = [b"", b"a", b"x" * 127, b"y" * 128, bytes(range(256)) * 3]
    wire = b"".join(encode_frame(p) for p in payloads)

    for cut in range(len(wire) + 1):
        decoder = FrameDecoder()
        frames = decoder.feed(wire[:cut]) + decoder.feed(wire[cut:])
        assert frames == payloads, f"split at byte {cut}"
        assert decoder.pending == 0


def test_frames_fed_one_byte_at_a_time() -> None:
    payloads = [b"hello", b"z" * 300, b""]
    wire = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()

    frames = [f for i in range(len(wire)) for f in decoder.feed(wire[i : i + 1])]

    assert frames == payloads


def test_batched_frames_with_partial_tail_kept() -> None:
    payloads = [bytes([i]) * i for i in range(1, 50)]
    wire = b"".join(encode_frame(p) for p in payloads)
    tail = encode_frame(b"t" * 1000)
    decoder = FrameDecoder()

    frames = decoder.feed(wire + tail[:10])

    assert frames == payloads
    assert decoder.pending == 10
    assert decoder.feed(tail[10:]) == [b"t" * 1000]
    assert decoder.pending == 0


def test_thirty_megabyte_frame_in_64k_chunks() -> None:
    payload = bytes(range(256)) * (30 * 1024 * 1024 // 256)
    wire = encode_frame(payload) + encode_frame(b"after")
    decoder = FrameDecoder()
    chunk = 64 * 1024
    frames: list[bytes] = []

    for i in range(0, len(wire), chunk):
        frames.extend(decoder.feed(wire[i : i + chunk]))

    assert len(frames) == 2
    assert frames[0] == payload
    assert frames[1] == b"after"
    assert decoder.pending == 0


def test_oversize_length_rejected() -> None:
    decoder = FrameDecoder()

    with pytest.raises(FrameError, match="exceeds"):
        decoder.feed(encode_uvarint(MAX_FRAME_BYTES + 1))


def test_oversize_length_rejected_with_custom_limit() -> None:
    decoder = FrameDecoder(max_frame=1000)

    assert decoder.feed(encode_frame(b"x" * 1000)) == [b"x" * 1000]
    with pytest.raises(FrameError):
        decoder.feed(encode_uvarint(1001))


def test_malformed_eleven_byte_varint_rejected() -> None:
    decoder = FrameDecoder()

    with pytest.raises(FrameError):
        decoder.feed(b"\x80" * 10 + b"\x01")


# --- the socket server ----------------------------------------------------------------------------


def _request(**kind: object) -> bytes:
    """One framed Request with the given oneof set."""
    return encode_frame(abci.Request(**kind).SerializeToString())


async def _read_responses(reader: asyncio.StreamReader, n: int) -> list[abci.Response]:
    """Read until n framed Responses arrived."""
    decoder = FrameDecoder()
    out: list[abci.Response] = []
    while len(out) < n:
        data = await asyncio.wait_for(reader.read(1 << 16), timeout=10)
        assert data, f"server closed the connection after {len(out)} of {n} responses"
        out.extend(abci.Response.FromString(f) for f in decoder.feed(data))
    return out


async def _with_server(body) -> None:  # noqa: ANN001 - an async callable(port)
    """Run `body(port)` against a server over a fresh in-memory app."""
    server = AbciServer(AbciHandlers(SynodApp(MemoryBackend(), check_invariants=True)))
    await server.start("tcp://127.0.0.1:0")
    try:
        await body(server)
    finally:
        await server.stop()


def test_server_answers_a_batch_in_order() -> None:
    async def body(server: AbciServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            _request(echo=abci.RequestEcho(message="ping"))
            + _request(info=abci.RequestInfo(version="0.38.25"))
            + _request(check_tx=abci.RequestCheckTx(tx=b"\xde\xad\xbe\xef garbage"))
            + _request(flush=abci.RequestFlush())
        )
        await writer.drain()

        responses = await _read_responses(reader, 4)

        assert [r.WhichOneof("value") for r in responses] == ["echo", "info", "check_tx", "flush"]
        assert responses[0].echo.message == "ping"
        assert responses[1].info.last_block_height == 0
        assert responses[2].check_tx.code != 0
        assert responses[2].check_tx.codespace == "sdk"
        writer.close()
        await writer.wait_closed()

    asyncio.run(_with_server(body))


def test_two_interleaved_connections_keep_their_own_order() -> None:
    async def body(server: AbciServer) -> None:
        r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        first = _request(echo=abci.RequestEcho(message="one-a")) + _request(
            echo=abci.RequestEcho(message="one-b")
        )
        # Connection 1 sends half a frame, connection 2 a full batch, then connection 1 the rest.
        w1.write(first[:5])
        await w1.drain()
        w2.write(_request(echo=abci.RequestEcho(message="two")) + _request(flush=abci.RequestFlush()))
        await w2.drain()
        second = await _read_responses(r2, 2)
        w1.write(first[5:] + _request(flush=abci.RequestFlush()))
        await w1.drain()
        firsts = await _read_responses(r1, 3)

        assert [r.echo.message for r in second[:1]] == ["two"]
        assert second[1].WhichOneof("value") == "flush"
        assert [r.echo.message for r in firsts[:2]] == ["one-a", "one-b"]
        assert firsts[2].WhichOneof("value") == "flush"
        assert server.connections == 2
        for w in (w1, w2):
            w.close()
            await w.wait_closed()

    asyncio.run(_with_server(body))


def test_large_check_tx_split_across_writes_gets_a_code() -> None:
    async def body(server: AbciServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        wire = _request(check_tx=abci.RequestCheckTx(tx=b"\x0a" * (3 << 20))) + _request(
            echo=abci.RequestEcho(message="still here")
        )
        for i in range(0, len(wire), 100_000):
            writer.write(wire[i : i + 100_000])
            await writer.drain()
        writer.write(_request(flush=abci.RequestFlush()))

        responses = await _read_responses(reader, 3)

        assert (responses[0].check_tx.codespace, responses[0].check_tx.code) == ("sdk", 21)
        assert responses[1].echo.message == "still here"
        writer.close()
        await writer.wait_closed()

    asyncio.run(_with_server(body))


def _all_request_kinds() -> list[abci.Request]:
    """Every ABCI request kind, in an order a fresh app can answer (plus a second VerifyVoteExtension)."""
    genesis = harness.genesis_app_state({"alice": 1000})
    return [
        abci.Request(echo=abci.RequestEcho(message="e")),
        abci.Request(info=abci.RequestInfo()),
        abci.Request(
            init_chain=abci.RequestInitChain(chain_id="synod-test", app_state_bytes=genesis, initial_height=1)
        ),
        abci.Request(query=abci.RequestQuery(path="/synod.bank.v1.Query/Supply")),
        abci.Request(check_tx=abci.RequestCheckTx(tx=b"junk")),
        abci.Request(
            prepare_proposal=abci.RequestPrepareProposal(max_tx_bytes=100, txs=[b"a" * 60, b"b" * 60])
        ),
        abci.Request(process_proposal=abci.RequestProcessProposal(height=1, txs=[b"junk"])),
        abci.Request(extend_vote=abci.RequestExtendVote(height=1)),
        abci.Request(verify_vote_extension=abci.RequestVerifyVoteExtension(height=1)),
        abci.Request(verify_vote_extension=abci.RequestVerifyVoteExtension(height=1, vote_extension=b"x")),
        abci.Request(finalize_block=abci.RequestFinalizeBlock(height=1, txs=[b"junk", b""])),
        abci.Request(commit=abci.RequestCommit()),
        abci.Request(info=abci.RequestInfo()),
        abci.Request(list_snapshots=abci.RequestListSnapshots()),
        abci.Request(offer_snapshot=abci.RequestOfferSnapshot(snapshot=abci.Snapshot(height=1, format=1))),
        abci.Request(load_snapshot_chunk=abci.RequestLoadSnapshotChunk(height=1, format=1, chunk=0)),
        abci.Request(apply_snapshot_chunk=abci.RequestApplySnapshotChunk(index=0, chunk=b"c")),
        abci.Request(flush=abci.RequestFlush()),
    ]


def test_all_sixteen_request_kinds_answered_in_kind() -> None:
    requests = _all_request_kinds()
    kinds = {r.WhichOneof("value") for r in requests}
    assert kinds == {f.name for f in abci.Request.DESCRIPTOR.oneofs_by_name["value"].fields}
    assert len(kinds) == 16

    async def body(server: AbciServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"".join(encode_frame(r.SerializeToString()) for r in requests))
        await writer.drain()

        responses = await _read_responses(reader, len(requests))

        assert [r.WhichOneof("value") for r in responses] == [r.WhichOneof("value") for r in requests]
        by_index = dict(enumerate(responses))
        assert by_index[0].echo.message == "e"
        assert len(by_index[2].init_chain.app_hash) == 32
        assert by_index[3].query.code == 0
        assert by_index[4].check_tx.code != 0
        assert list(by_index[5].prepare_proposal.txs) == [b"a" * 60]
        assert by_index[6].process_proposal.status == abci.ResponseProcessProposal.ACCEPT
        assert by_index[8].verify_vote_extension.status == abci.ResponseVerifyVoteExtension.ACCEPT
        assert by_index[9].verify_vote_extension.status == abci.ResponseVerifyVoteExtension.REJECT
        finalized = by_index[10].finalize_block
        assert len(finalized.tx_results) == 2
        assert all(r.code != 0 for r in finalized.tx_results)
        assert by_index[12].info.last_block_height == 1
        assert by_index[12].info.last_block_app_hash == finalized.app_hash
        assert by_index[14].offer_snapshot.result != abci.ResponseOfferSnapshot.UNKNOWN
        assert by_index[16].apply_snapshot_chunk.result != abci.ResponseApplySnapshotChunk.UNKNOWN
        writer.close()
        await writer.wait_closed()

    asyncio.run(_with_server(body))


def test_handle_request_rejects_an_empty_request() -> None:
    server = AbciServer(AbciHandlers(SynodApp(MemoryBackend())))

    with pytest.raises(ValueError, match="empty"):
        server.handle_request(abci.Request())


class _SlowQueries(AbciHandlers):
    """Handlers whose queries take until `release` is set, however they are called."""

    def __init__(self) -> None:
        super().__init__(SynodApp(MemoryBackend()))
        self.release = threading.Event()

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        assert self.release.wait(timeout=10), "the slow query was never released"
        return super().query(req)

    def pin_query(self, req: abci.RequestQuery):  # noqa: ANN201
        job = super().pin_query(req)

        def slow() -> abci.ResponseQuery:
            assert self.release.wait(timeout=10), "the slow query was never released"
            return job()

        return slow


def test_a_slow_query_does_not_hold_up_the_consensus_connection() -> None:
    handlers = _SlowQueries()

    async def body() -> None:
        server = AbciServer(handlers)
        await server.start("tcp://127.0.0.1:0")
        try:
            rq, wq = await asyncio.open_connection("127.0.0.1", server.port)
            rc, wc = await asyncio.open_connection("127.0.0.1", server.port)
            wq.write(
                _request(query=abci.RequestQuery(path="/store", data=b"k"))
                + _request(flush=abci.RequestFlush())
            )
            await wq.drain()
            await asyncio.sleep(0.05)  # the query is in its worker now
            wc.write(_request(info=abci.RequestInfo()) + _request(flush=abci.RequestFlush()))
            await wc.drain()
            consensus = await _read_responses(rc, 2)  # answered while the query still runs
            assert consensus[0].WhichOneof("value") == "info" and not handlers.release.is_set()
            handlers.release.set()
            answered = await _read_responses(rq, 2)
            assert [r.WhichOneof("value") for r in answered] == ["query", "flush"]  # in order
            assert answered[0].query.code == 0 and answered[0].query.height == 0
            for w in (wq, wc):
                w.close()
                await w.wait_closed()
        finally:
            handlers.release.set()
            await server.stop()

    asyncio.run(body())
