"""Structure-aware mutation of protobuf messages, driven by atheris.FuzzedDataProvider.

A fuzz input picks fields of a real message (by descriptor) and sets them to values chosen from
boundary numbers, a vocabulary of meaningful strings (the chain's addresses, denoms, rule names) or
raw fuzzed bytes, so a mutated message still reaches the handlers behind the stateless checks.
"""

from __future__ import annotations

from collections.abc import Sequence

import atheris
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = ["mutate", "fuzz_value", "INT_EDGES"]

INT_EDGES = (0, 1, 2, 3, 7, 255, 256, 65_535, 2**31 - 1, 2**31, 2**32 - 1, 2**53, 2**63 - 1, 2**64 - 1)
_SIGNED = (
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
)
_BITS = {
    FieldDescriptor.CPPTYPE_INT32: 32,
    FieldDescriptor.CPPTYPE_UINT32: 32,
    FieldDescriptor.CPPTYPE_INT64: 64,
    FieldDescriptor.CPPTYPE_UINT64: 64,
}
_MAX_DEPTH = 4


def _fuzz_int(fdp: atheris.FuzzedDataProvider, field: FieldDescriptor) -> int:
    """A number of the field's width: an edge value, a small one, or any."""
    bits = _BITS[field.cpp_type]
    signed = field.type in _SIGNED
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 0:
        value = fdp.PickValueInList(list(INT_EDGES))
        value = -value if signed and fdp.ConsumeBool() else value
    elif mode == 1:
        value = fdp.ConsumeIntInRange(0, 16)
    else:
        value = fdp.ConsumeIntInRange(lo, hi)
    return min(max(value, lo), hi)


def fuzz_value(
    fdp: atheris.FuzzedDataProvider, field: FieldDescriptor, words: Sequence[str], blobs: Sequence[bytes]
) -> object:
    """A value for one (non-message) field."""
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return fdp.ConsumeBool()
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        return fdp.ConsumeIntInRange(0, max(v.number for v in field.enum_type.values) + 1)
    if cpp in _BITS:
        return _fuzz_int(fdp, field)
    if cpp == FieldDescriptor.CPPTYPE_STRING and field.type == FieldDescriptor.TYPE_STRING:
        if words and fdp.ConsumeBool():
            return fdp.PickValueInList(list(words))
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 64))
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        if blobs and fdp.ConsumeBool():
            return fdp.PickValueInList(list(blobs))
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300))
    return None  # floats: no consensus message has one


def _set(
    fdp: atheris.FuzzedDataProvider, msg: Message, depth: int, words: Sequence[str], blobs: Sequence[bytes]
) -> None:
    """Set (or clear, or append to) one field of msg, descending into sub-messages."""
    fields = msg.DESCRIPTOR.fields
    if not fields:
        return
    field = fields[fdp.ConsumeIntInRange(0, len(fields) - 1)]
    repeated = field.is_repeated
    if fdp.ConsumeIntInRange(0, 7) == 0:
        msg.ClearField(field.name)
        return
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        if depth >= _MAX_DEPTH:
            return
        if repeated:
            items = getattr(msg, field.name)
            sub = (
                items.add()
                if not items or fdp.ConsumeBool()
                else items[fdp.ConsumeIntInRange(0, len(items) - 1)]
            )
        else:
            sub = getattr(msg, field.name)
        _set(fdp, sub, depth + 1, words, blobs)
        if not repeated:
            sub.SetInParent()
        return
    value = fuzz_value(fdp, field, words, blobs)
    if value is None:
        return
    if repeated:
        getattr(msg, field.name).append(value)
    else:
        setattr(msg, field.name, value)


def mutate(
    fdp: atheris.FuzzedDataProvider,
    msg: Message,
    words: Sequence[str] = (),
    blobs: Sequence[bytes] = (),
    max_edits: int = 4,
) -> Message:
    """A copy of msg with 0..max_edits fields changed by the fuzzer."""
    out = type(msg)()
    out.CopyFrom(msg)
    for _ in range(fdp.ConsumeIntInRange(0, max_edits)):
        _set(fdp, out, 0, words, blobs)
    return out
