"""Imported once by the executor's fork server (``assets/jobs.py``): the project's definitions and
the validation project, built from this process's environment, so that every step forked from the
server starts with both ready rather than building them again (a Great Expectations project takes
about a second to open). One process runs one configuration: ``make run`` and every run the UI
launches are processes of their own."""

from assets.definitions import build_resources, defs  # noqa: F401

build_resources()["validation"].context()
