"""Live events tests use the shared client (tests/conftest.py), whose idle connections expire
before the server's, so a busy machine never races a closing keep-alive connection."""

from tests.conftest import http_client as events_client

__all__ = ["events_client"]
