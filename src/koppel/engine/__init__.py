"""The sync engine: change capture, the three-way planner, and the executor that applies plans."""

from koppel.engine.plan import Plan
from koppel.engine.sync import Engine, RunReport

__all__ = ["Engine", "Plan", "RunReport"]
