"""The bad-input corpus: malformed local-authority folders derived from the hand-written fixture.

:mod:`bad_inputs.cases` builds each case from a small valid base folder (see
:func:`bad_inputs.cases.make_base`) and states what the ingest must do with it:
reject it with a clear :class:`~evaluation.ingest.errors.InputError`, or accept
it with the bad rows in the quarantine. :mod:`bad_inputs.large` writes the
oversized files on the fly and measures the ingest in a child process.
"""
