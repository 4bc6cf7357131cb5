"""Suite-wide fixtures: each concern's fixtures live in a plugin module of `tests/fixtures/`."""

from hypothesis import settings

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.sandbox",
    "tests.fixtures.workers",
    "tests.fixtures.browser",
]

# No per-example deadline: examples that load data lazily (time zone files, phone metadata) or
# talk to Redis take longer on a loaded machine, and timing goals belong in bench/, not in tests.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")
