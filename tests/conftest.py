"""Suite-wide fixtures: each concern's fixtures live in a plugin module of `tests/fixtures/`."""

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.sandbox",
    "tests.fixtures.workers",
    "tests.fixtures.browser",
]
