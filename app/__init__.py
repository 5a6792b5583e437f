"""Synod: an application-specific blockchain for decentralized machine learning.

The generated protobuf modules in app/pb import each other by proto package (`tendermint.abci`,
`synod.tx.v1`), so that folder goes on sys.path here, before anything imports them.
"""

import os as _os
import sys as _sys

_PB_DIR = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "pb")
if _PB_DIR not in _sys.path:
    _sys.path.append(_PB_DIR)
