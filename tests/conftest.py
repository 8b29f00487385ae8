"""Test-wide settings: property tests explore at random locally, but CI runs them with a
fixed derandomized schedule so a build's result does not depend on luck."""

import os

from hypothesis import settings

from tests.pg import pg_server, pg_url  # noqa: F401 (fixtures: the test PostgreSQL server)

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
