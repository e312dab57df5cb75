"""Errors of the ingest. Messages name the file, position and field, never a value."""

from __future__ import annotations


class InputError(ValueError):
    """A file (or folder) cannot be read at all: not well-formed, wrong root, not a known table.

    The message names the file (name only) and the position; it never quotes a value,
    so it is safe to log.
    """


class ReconciliationError(AssertionError):
    """Rows read != rows kept + rows quarantined + rows merged for some file."""
