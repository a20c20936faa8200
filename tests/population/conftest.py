"""Fixtures of the base library tests."""

from tests.population.area_world import world  # noqa: F401  (the area matrix world)
