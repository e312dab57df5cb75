"""Keyed pseudonymisation at the door: HMAC-SHA256 over normalised identifiers.

A plain or publicly salted hash of a council person id is reversible by
enumeration, so every pseudonym is an HMAC-SHA256 under a secret key held apart
from the data, truncated to 64 bits and written as 16 lower-case hex characters
(:data:`evaluation.tables.PSEUDONYM_PATTERN`). The same key gives the same
pseudonym across extracts and datasets, which is what links the CIN census
(``LAchildID``), SSDA903 (``CHILD``) and the family table (``person_id``).

* Ids are normalised before hashing: surrounding space stripped, upper-cased,
  leading zeros kept (``" 0012a "`` and ``"0012A"`` are one child).
* Every message is prefixed with a namespace (``b"child\\x00"``,
  ``b"family\\x00"``, ...) so a child id and a family id with the same text give
  different pseudonyms.
* Derived ids (a CIN episode, an assessment) are HMACs over their namespace and
  the parts that identify them, joined by a unit separator, so they are the same
  in every extract that repeats the record.
* Each distinct value is hashed once and mapped back (no per-row ``apply``).
* Council-scoped: child and family ids are a council's own numbering, so the
  door hashes them under :meth:`PseudonymisationKey.for_council` — the LA code
  is part of the message — and two councils' child ``123`` (or family ``77``)
  never become one pseudonym or one cluster.

Only the key's :attr:`PseudonymisationKey.fingerprint` is ever recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.arrays import ArrowStringArray

from evaluation.keys import (DEMO_KEY, MAKE_KEY_HINT, MIN_KEY_BYTES,  # noqa: F401  (the key's API, here too)
                             PseudonymisationKey, PseudonymisationKeyError, load_key)
from evaluation.tables import PSEUDONYM_HEX_CHARS, PSEUDONYM_PATTERN, as_dates

CHILD = b"child"
FAMILY = b"family"
CIN_EPISODE = b"cin-episode"
ASSESSMENT = b"assessment"
#: The DfE unique pupil number: national, so never scoped by council (the optional national link).
UPN = b"upn"
#: A UPN: a check letter, 11 digits, then a digit or letter (DfE's format; "UN1".."UN10" mean
#: unknown and are not identifiers).
UPN_SHAPE = re.compile(r"[A-Z][0-9]{11}[0-9A-Z]")

#: Namespaces whose ids are a council's own numbering: scoped by the LA code at the door.
COUNCIL_SCOPED = frozenset({CHILD, FAMILY})

_UNIT_SEPARATOR = "\x1f"
_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)


class PseudonymLeakError(AssertionError):
    """An id column of an outgoing table holds something that is not a pseudonym."""


def normalise_ids(values: pd.Series) -> pd.Series:
    """Strip surrounding space and upper-case; leading zeros kept. Empty becomes missing."""
    out = values.astype("string").str.strip().str.upper()
    return out.mask(out == "")


#: The ASCII characters Python's ``str.strip()`` removes (``str.isspace``: the C0 separators
#: ``\x1c``-``\x1f`` included), for Arrow's trim.
_ASCII_SPACE = "".join(c for c in map(chr, range(128)) if c.isspace())


def _normalised_ascii(values: pd.Series) -> pd.Series | None:
    """:func:`normalise_ids` of ids that are all ASCII text, in Arrow compute (as Arrow strings);
    ``None`` for anything else (non-ASCII text, whose upper case Python and Arrow may map
    differently; values that are not text), which :func:`normalise_ids` takes.

    On ASCII text the two are the same operations: the strip removes :data:`_ASCII_SPACE`, the
    characters ``str.strip()`` removes from ASCII text; ASCII upper case is ``str.upper()``'s.
    """
    array = values.array
    if isinstance(array, ArrowStringArray):
        text = array._pa_array
    elif values.dtype == object and pd.api.types.infer_dtype(
            raw := values.to_numpy(dtype=object), skipna=False) == "string":
        try:   # every value a str (no missing, no other type): one conversion
            text = pa.chunked_array([pa.array(raw, type=pa.large_string())])
        except (pa.ArrowException, TypeError, ValueError):
            return None
    else:
        return None
    if pc.all(pc.string_is_ascii(text)).as_py() is False:
        return None
    text = pc.ascii_upper(pc.ascii_trim(text, characters=_ASCII_SPACE))
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    return pd.Series(ArrowStringArray(text), index=values.index, name=values.name, copy=False)


def _prefix(key: PseudonymisationKey, namespace: bytes) -> bytes:
    """``namespace NUL [council NUL]``: the council only for :data:`COUNCIL_SCOPED`."""
    prefix = namespace + b"\x00"
    if key.council is not None and namespace in COUNCIL_SCOPED:
        prefix += key.council.encode("ascii") + b"\x00"
    return prefix


def _digest(key: PseudonymisationKey, namespace: bytes, message: str) -> str:
    """HMAC of ``namespace NUL [council NUL] message``: the council only for :data:`COUNCIL_SCOPED`."""
    mac = hmac.new(key.secret, _prefix(key, namespace) + message.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()[:PSEUDONYM_HEX_CHARS]


def _digests(key: PseudonymisationKey, namespace: bytes, messages) -> dict[str, str]:
    """``{message: _digest(key, namespace, message)}`` for distinct ``messages``: the same HMACs,
    the key and prefix absorbed once and the state copied per message."""
    start = hmac.new(key.secret, _prefix(key, namespace), hashlib.sha256)
    known = {} if key.memo is None else key.memo.setdefault(_prefix(key, namespace), {})
    out = {}
    for message in np.asarray(messages, dtype=object).tolist():
        digest = known.get(message)
        if digest is None:
            mac = start.copy()
            mac.update(message.encode("utf-8"))
            digest = known[message] = mac.hexdigest()[:PSEUDONYM_HEX_CHARS]
        out[message] = digest
    return out


def pseudonymise(values: pd.Series, key: PseudonymisationKey, namespace: bytes) -> pd.Series:
    """Pseudonyms of raw ids (normalised first), as Arrow-backed strings; missing stays missing.

    Each distinct normalised id is hashed once, then mapped back onto the rows.
    """
    normalised = _normalised_ascii(values)
    if normalised is None:
        normalised = normalise_ids(values)
    return _hashed(normalised, key, namespace)


def _hashed(messages: pd.Series, key: PseudonymisationKey, namespace: bytes) -> pd.Series:
    """The pseudonym of each message (``_digests``), as Arrow strings (what the door sorts,
    groups and looks up by: in C, not as Python objects): each distinct present message hashed
    once and put back on its rows by its factorize code; missing stays missing."""
    codes, distinct = pd.factorize(messages)
    distinct = np.asarray(distinct, dtype=object).tolist()
    lookup = _digests(key, namespace, distinct)
    digests = pa.array([lookup[m] for m in distinct], type=pa.large_string())
    return pd.Series(ArrowStringArray(pa.chunked_array([digests.take(pa.array(codes, mask=codes < 0))])),
                     index=messages.index, name=messages.name, copy=False)


def derived_id(parts: list[pd.Series], key: PseudonymisationKey, namespace: bytes) -> pd.Series:
    """Deterministic pseudonymous id of a record identified by ``parts`` (e.g. child, date).

    Parts are turned into text (dates as ISO ``YYYY-MM-DD``) and joined with a
    unit separator; a row with any missing part gets a missing id.
    """
    joined = _joined(parts)
    if joined is None:
        texts = []
        for part in parts:
            if pd.api.types.is_datetime64_any_dtype(part):
                texts.append(part.dt.strftime("%Y-%m-%d").astype("string"))
            else:
                texts.append(part.astype("string"))
        joined = texts[0]
        for text in texts[1:]:
            joined = joined + _UNIT_SEPARATOR + text
    return _hashed(joined, key, namespace)


def _joined(parts: list[pd.Series]) -> pd.Series | None:
    """The parts' texts joined by the unit separator in Arrow compute, for parts on one index that
    are text or ``datetime64[ns]`` dates (``YYYY-MM-DD``, by pandas' ``strftime``, once per
    distinct date); a row with a part missing is missing. ``None`` for other parts (pandas
    then turns them into text and joins them, aligning on the index)."""
    index = parts[0].index
    texts = []
    for part in parts:
        if part.index is not index and not part.index.equals(index):
            return None
        if part.dtype == "datetime64[ns]":   # each distinct date written once, by pandas
            codes, days = pd.factorize(part)
            written = pa.array(pd.DatetimeIndex(days).strftime("%Y-%m-%d").to_numpy(dtype=object),
                               type=pa.large_string())
            texts.append(written.take(pa.array(codes, mask=codes < 0)))
        elif isinstance(part.dtype, pd.StringDtype):
            texts.append(pa.array(part.array, type=pa.large_string()))
        else:
            return None
    texts = [t.cast(pa.large_string()) for t in texts]
    joined = pc.binary_join_element_wise(*texts, pa.scalar(_UNIT_SEPARATOR, pa.large_string())) \
        if len(texts) > 1 else texts[0]
    name = parts[0].name if all(p.name == parts[0].name for p in parts) else None
    return pd.Series(ArrowStringArray(pa.chunked_array([joined]) if isinstance(joined, pa.Array)
                                      else joined), index=index, name=name, copy=False)


def upn_pseudonyms(values: pd.Series, key: PseudonymisationKey) -> pd.Series:
    """Council-independent pseudonyms of UPNs, for the optional national link across councils.

    Only values of the UPN shape are hashed; the "UPN unknown" codes (UN1–UN10), blanks and
    anything else become missing. The key's council scope is ignored on purpose: the same child
    gets the same pseudonym in every council's extract, under the same key.
    """
    normalised = normalise_ids(values)
    normalised = normalised.where(normalised.str.fullmatch(UPN_SHAPE.pattern).fillna(False))
    return pseudonymise(normalised, PseudonymisationKey(key.secret), UPN)


def birth_month(dates: pd.Series) -> pd.Series:
    """Dates of birth coarsened to the first of their month."""
    return as_dates(dates).dt.to_period("M").dt.to_timestamp().astype("datetime64[ns]")


#: Shapes of raw identifiers that must never leave the door (UPN, postcode).
RAW_SHAPES: dict[str, str] = {
    "UPN": r"^[A-Za-z]\d{11}[0-9A-Za-z]$",
    "postcode": r"^[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}$",
}


def _distinct_text(series: pd.Series) -> pd.Series:
    """The distinct present values of ``series`` as text: what the leak guard matches (each
    value's verdict depends on the value alone, so a value repeated on many rows is matched once)."""
    present = series.dropna()
    if isinstance(series.dtype, pd.StringDtype):   # text already: distinct values are distinct texts
        return pd.Series(present.unique(), dtype=object)
    return pd.Series(present.astype(str).unique(), dtype=object)


def _all_pseudonyms(series: pd.Series) -> bool:
    """True when every present value of a text column fullmatches the pseudonym pattern, found
    by Arrow's regular expressions (RE2), which read this pattern (anchored, a fixed count of
    ASCII classes) as Python does; ``False`` means "ask Python" (which then counts the bad ones)."""
    if not isinstance(series.dtype, pd.StringDtype):
        return False
    try:
        text = pa.array(series.to_numpy(dtype=object, na_value=None), type=pa.large_string())
    except (pa.ArrowException, TypeError, ValueError):
        return False
    matched = pc.match_substring_regex(text, PSEUDONYM_PATTERN)
    return bool(pc.all(matched, skip_nulls=True).as_py() is not False)


#: A character no :data:`RAW_SHAPES` pattern can match (letters, digits and spaces only): values
#: holding it (file paths, XML element paths) cannot be shaped like a UPN or a postcode.
_NEVER_IN_RAW_SHAPES = "/"


def assert_no_leaks(tables: dict[str, pd.DataFrame]) -> None:
    """Leak guard: every ``*_id`` column holds pseudonyms (or missing), no cell looks like a UPN
    or postcode. Raises :class:`PseudonymLeakError` naming the table and column, never a value."""
    for name, frame in tables.items():
        for column in frame.columns:
            series = frame[column]
            if not series.count():   # nothing present: nothing to match (many tables are empty)
                continue
            if column.endswith("_id"):
                if _all_pseudonyms(series) or \
                        _distinct_text(series).str.fullmatch(PSEUDONYM_PATTERN[1:-1]).all():
                    continue
                present = series.dropna().astype(str)
                bad = ~present.str.fullmatch(PSEUDONYM_PATTERN[1:-1])
                raise PseudonymLeakError(
                    f"leak guard: {int(bad.sum())} value(s) of {name}.{column} are not "
                    f"pseudonyms ({PSEUDONYM_PATTERN}); nothing was returned")
            elif series.dtype == object or isinstance(series.dtype, pd.StringDtype):
                present = _distinct_text(series)
                present = present[~present.str.contains(_NEVER_IN_RAW_SHAPES, regex=False)]
                for shape, pattern in RAW_SHAPES.items():
                    if present.str.fullmatch(pattern[1:-1]).any():
                        raise PseudonymLeakError(
                            f"leak guard: {name}.{column} holds a value shaped like a {shape}; "
                            "nothing was returned")
