"""The fast path's hand-over from the ensemble sidecar to ExtendVote, off the ABCI loop.

The sidecar (`synod ensemble run`, app/agents/ensemble) writes each answer atomically as
DIR/QUERY_ID.bin. A watcher thread in the node process polls DIR for the fast queries that are
pending on committed state and loads each valid answer into an AnswerBook; ExtendVote only reads the
book, so the ABCI loop never sleeps, never reads a file another process writes (DESIGN.md 12).

Why files and a watcher rather than a local socket the sidecar pushes to: the sidecar already writes
atomically and needs no connection, handshake or retry logic, a sidecar restart or a node restart
loses nothing (the files stay), and the thread's work is a stat per missing answer per poll. A socket
would save that stat but add a listener, a framing and a trust boundary inside the node process.

Bounds: the book holds answers only for pending fast queries (at most max_pending_fast_queries),
each exactly 3 x input_count bytes (the size is checked before reading), so at most
max_pending_fast_queries x 3 x max_inputs bytes (96 KiB at the defaults).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from app.core import voteext
from app.modules.consensus import ensemble, logic
from synod.consensus.v1 import consensus_pb2, ensemble_pb2

__all__ = ["AnswerBook", "AnswerWatcher", "POLL_SECONDS"]

log = logging.getLogger("synod.abci.answers")

# How often the watcher looks for missing answers: a small delay against a block time of ~0.5 s.
POLL_SECONDS = 0.02


class AnswerBook:
    """What ExtendVote may put in its extension: the loaded answers of pending fast queries.

    Shared by the ABCI loop and the watcher thread; every method holds the lock only around dict
    operations, never across I/O.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted: dict[int, consensus_pb2.PredictionQuery] = {}
        self._answers: dict[int, bytes] = {}

    def set_pending(self, pending: Sequence[consensus_pb2.PredictionQuery]) -> None:
        """The pending fast queries on committed state: look for these, forget every other answer."""
        wanted = {q.id: q for q in pending}
        with self._lock:
            self._wanted = wanted
            self._answers = {i: blob for i, blob in self._answers.items() if i in wanted}

    def get_missing(self) -> list[consensus_pb2.PredictionQuery]:
        """Pending queries without a loaded answer, in id order (what the watcher looks for)."""
        with self._lock:
            return [q for i, q in sorted(self._wanted.items()) if i not in self._answers]

    def set_answer(self, query_id: int, blob: bytes) -> bool:
        """Keep a checked answer if its query is still pending; whether it was kept."""
        with self._lock:
            if query_id not in self._wanted:
                return False
            self._answers[query_id] = blob
            return True

    def get_answers(
        self, pending: Sequence[consensus_pb2.PredictionQuery], limit: int
    ) -> list[ensemble_pb2.EnsembleAnswer]:
        """Answers to pending, in id order: at most limit (max_extension_answers) and within
        voteext.MAX_VOTE_EXTENSION_BYTES, so peers accept the extension."""
        with self._lock:
            loaded = dict(self._answers)
        budget = voteext.MAX_VOTE_EXTENSION_BYTES - logic.BEACON_SHARE_BYTES
        out: list[ensemble_pb2.EnsembleAnswer] = []
        for query in sorted(pending, key=lambda q: q.id):
            blob = loaded.get(query.id)
            if blob is None or not ensemble.is_valid_predictions(query, blob):
                continue
            budget -= len(blob) + logic.ANSWER_FRAMING_BYTES
            if len(out) >= limit or budget < 0:
                break
            out.append(ensemble_pb2.EnsembleAnswer(query_id=query.id, predictions=blob))
        return out


def _read_exact(path: Path, size: int) -> bytes | None:
    """The file's bytes if it holds exactly size bytes (checked before reading), else None."""
    try:
        if os.stat(path).st_size != size:
            return None
        with open(path, "rb") as f:
            blob = f.read(size + 1)
    except OSError:
        return None
    return blob if len(blob) == size else None


class AnswerWatcher:
    """A thread that loads the sidecar's answer files for pending queries into an AnswerBook."""

    def __init__(
        self,
        directory: Path,
        book: AnswerBook,
        interval: float = POLL_SECONDS,
        read: Callable[[Path, int], bytes | None] = _read_exact,
    ) -> None:
        self.directory = directory
        self.book = book
        self.interval = interval
        self._read = read
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> int:
        """Load every missing answer that is on disk and well-formed; how many were loaded."""
        loaded = 0
        for query in self.book.get_missing():
            blob = self._read(self.directory / f"{query.id}.bin", logic.ENTRY_BYTES * query.input_count)
            if blob is not None and ensemble.is_valid_predictions(query, blob):
                loaded += self.book.set_answer(query.id, blob)
        return loaded

    def _run(self) -> None:
        """Poll until stopped; a failed poll is logged and retried, never fatal to the node."""
        while not self._stop.wait(self.interval):
            try:
                self.poll_once()
            except Exception:  # the node must keep voting even if the directory misbehaves
                log.exception("ensemble answers: poll of %s failed", self.directory)

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ensemble-answers", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
