"""An in-memory peer system for fast unit tests of the engine and for the offline demo."""

from koppel.connectors.memory.connector import MemoryConnector, create

__all__ = ["MemoryConnector", "create"]
