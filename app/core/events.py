"""Typed events emitted by handlers; the ABCI layer converts them to `tendermint.abci.Event`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Event", "EventManager"]


@dataclass(frozen=True)
class Event:
    """An event type with ordered string attributes (all indexed)."""

    type: str
    attributes: tuple[tuple[str, str], ...]

    @classmethod
    def new(cls, type_: str, **attrs: object) -> Event:
        """Build an event; attribute order is the keyword order (deterministic)."""
        return cls(type_, tuple((k, str(v)) for k, v in attrs.items()))


class EventManager:
    """Collects events in emission order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, type_: str, **attrs: object) -> None:
        """Record one event."""
        self.events.append(Event.new(type_, **attrs))

    def extend(self, events: list[Event]) -> None:
        """Append events from a nested context."""
        self.events.extend(events)
