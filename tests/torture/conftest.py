"""Torture tests use the scenario tests' `coupled` fixture (both real peers, koppel set up)."""

from tests.scenarios.conftest import coupled as coupled  # the fixture, re-exported
