"""The fast path's hand-over: the sidecar writes predictions, a watcher thread loads them into the
book ExtendVote reads (app/abci/answers.py)."""

from __future__ import annotations

import threading
from pathlib import Path

from app.abci.answers import AnswerBook, AnswerWatcher
from app.agents.ensemble.agent import write_answer
from app.modules.consensus.logic import encode_predictions
from synod.consensus.v1 import consensus_pb2

BLOB = encode_predictions([(1, 9000), (0, 5000)])


def _query(query_id: int) -> consensus_pb2.PredictionQuery:
    return consensus_pb2.PredictionQuery(id=query_id, input_count=2, label_count=3, fast=True)


def _loaded(book: AnswerBook, pending: list[consensus_pb2.PredictionQuery], limit: int = 16) -> list[int]:
    return [a.query_id for a in book.get_answers(pending, limit)]


def test_the_watcher_loads_the_well_formed_files_of_pending_queries(tmp_path: Path) -> None:
    write_answer(tmp_path, 2, BLOB)
    write_answer(tmp_path, 1, BLOB)
    write_answer(tmp_path, 3, b"junk")  # malformed: left out
    write_answer(tmp_path, 9, BLOB)  # not pending: never read
    book = AnswerBook()
    pending = [_query(3), _query(2), _query(1)]
    book.set_pending(pending)
    assert AnswerWatcher(tmp_path, book).poll_once() == 2
    assert _loaded(book, pending) == [1, 2] and _loaded(book, pending, limit=1) == [1]
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temp file left


def test_a_file_of_the_wrong_size_is_never_read_and_loaded_answers_are_not_reread(tmp_path: Path) -> None:
    write_answer(tmp_path, 1, BLOB + b"\x00" * 1_000_000)  # oversized: skipped on its size alone
    write_answer(tmp_path, 2, BLOB)
    book = AnswerBook()
    book.set_pending([_query(1), _query(2)])
    reads: list[tuple[str, int]] = []

    def read(path: Path, size: int) -> bytes | None:
        reads.append((path.name, size))
        data = path.read_bytes()
        return data if len(data) == size else None

    watcher = AnswerWatcher(tmp_path, book, read=read)
    assert watcher.poll_once() == 1 and watcher.poll_once() == 0
    assert reads == [("1.bin", 6), ("2.bin", 6), ("1.bin", 6)]  # 2 is loaded: only 1 is looked for
    assert AnswerWatcher(tmp_path, book).poll_once() == 0  # the real reader stats before reading


def test_the_book_forgets_answers_of_queries_no_longer_pending(tmp_path: Path) -> None:
    write_answer(tmp_path, 1, BLOB)
    book = AnswerBook()
    book.set_pending([_query(1)])
    AnswerWatcher(tmp_path, book).poll_once()
    book.set_pending([_query(2)])  # 1 settled
    assert _loaded(book, [_query(1), _query(2)]) == [] and not book.set_answer(1, BLOB)


def test_the_watcher_thread_loads_an_answer_written_after_it_started(tmp_path: Path) -> None:
    book = AnswerBook()
    book.set_pending([_query(5)])
    loaded = threading.Event()

    watcher = AnswerWatcher(tmp_path, book, interval=0.001)
    original = book.set_answer

    def set_answer(query_id: int, blob: bytes) -> bool:
        kept = original(query_id, blob)
        loaded.set()
        return kept

    book.set_answer = set_answer  # type: ignore[method-assign]
    watcher.start()
    try:
        write_answer(tmp_path, 5, BLOB)
        assert loaded.wait(timeout=30)
    finally:
        watcher.stop()
    assert _loaded(book, [_query(5)]) == [5]
