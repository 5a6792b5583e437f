"""Why an answer from a gRPC query server was rejected: one exception class per kind of lie.

Header failures (too little voting power signed, a forged validator set, a header from the future
or outside the trusting period) are the light client's own errors (app/client/light/errors.py);
VerifiedQuerier lets them through unchanged.
"""

from __future__ import annotations

__all__ = [
    "VerificationError",
    "MissingProof",
    "MalformedProof",
    "WrongHeight",
    "HeaderUnavailable",
    "TamperedEntry",
    "WrongKey",
    "TamperedAnswer",
    "BadPagination",
    "StaleAnswer",
]


class VerificationError(Exception):
    """An answer could not be verified against the light client's trusted headers."""


class MissingProof(VerificationError):
    """The answer carries no state proof (height 0 or no app hash)."""


class MalformedProof(VerificationError):
    """An entry's proof bytes do not decode as a sparse-Merkle proof."""


class WrongHeight(VerificationError):
    """The proofs are against another state: the app hash they claim is not the one header H+1 commits to."""


class HeaderUnavailable(VerificationError):
    """Header H+1, carrying the app hash of height H, did not appear in time (a future height claimed?)."""


class TamperedEntry(VerificationError):
    """An entry's value (or its proof) does not lead to the trusted app hash."""


class WrongKey(VerificationError):
    """The answer proves another key than the one the query needs, or one it did not ask about."""


class TamperedAnswer(VerificationError):
    """The answer's fields differ from what its proven entries say."""


class BadPagination(VerificationError):
    """The page key the server returned does not move forward."""


class StaleAnswer(VerificationError):
    """A verified answer is older than the caller accepts (--min-height, --max-lag): the node serves
    an old database, or is far behind the chain."""
