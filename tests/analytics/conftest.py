"""Tests against the real Tryton and BottleCRM: the scenario tests' `coupled` fixture."""

from tests.scenarios.conftest import coupled as coupled  # the fixture, re-exported
