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

Only the key's :attr:`PseudonymisationKey.fingerprint` is ever recorded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field

import pandas as pd

from evaluation.tables import PSEUDONYM_HEX_CHARS, PSEUDONYM_PATTERN

MIN_KEY_BYTES = 32
MAKE_KEY_HINT = (
    'make one with:  python -c "import secrets; print(secrets.token_hex(32))"  '
    "and keep it apart from the data"
)

#: PUBLIC demo key, for the synthetic county only. It is published in this
#: repository, so anything pseudonymised with it can be re-identified by anyone:
#: the ingest refuses it on any local-authority folder without the
#: ``SYNTHETIC_COUNTY.json`` marker written by :mod:`evaluation.synthetic`.
DEMO_KEY = "e7cf198239ac22102cfed8915164a7c57279818e3f4f4d5925ba139a61b7ff97"

CHILD = b"child"
FAMILY = b"family"
CIN_EPISODE = b"cin-episode"
ASSESSMENT = b"assessment"

_UNIT_SEPARATOR = "\x1f"
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)


class PseudonymisationKeyError(KeyError):
    """The pseudonymisation key is missing, too short, malformed, or not allowed here."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PseudonymLeakError(AssertionError):
    """An id column of an outgoing table holds something that is not a pseudonym."""


@dataclass(frozen=True)
class PseudonymisationKey:
    """A secret HMAC key. Its repr shows the fingerprint only, never the key."""

    secret: bytes = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """First 16 hex of SHA-256 over a fixed label and the key: safe to record."""
        return hashlib.sha256(b"fsp-key-fingerprint" + self.secret).hexdigest()[:16]

    @property
    def is_demo(self) -> bool:
        """True for the public :data:`DEMO_KEY` (synthetic data only)."""
        return hmac.compare_digest(self.secret, bytes.fromhex(DEMO_KEY))

    def __repr__(self) -> str:
        return f"PseudonymisationKey(fingerprint={self.fingerprint!r})"


def load_key(text: str | bytes | None) -> PseudonymisationKey:
    """Parse a key given as hex or base64 of at least 32 random bytes.

    Raises :class:`PseudonymisationKeyError` (saying how to make a key) when the
    key is missing, malformed or shorter than 32 bytes. The message never
    contains the key.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise PseudonymisationKeyError(
                f"the pseudonymisation key is not hex or base64 text; {MAKE_KEY_HINT}") from None
    if text is None or not str(text).strip():
        raise PseudonymisationKeyError(f"no pseudonymisation key was given; {MAKE_KEY_HINT}")
    text = str(text).strip()
    if _HEX.match(text) and len(text) % 2 == 0:
        secret = bytes.fromhex(text)
    else:
        secret = _decode_base64(text)
    if secret is None:
        raise PseudonymisationKeyError(
            f"the pseudonymisation key is neither hex nor base64; {MAKE_KEY_HINT}")
    if len(secret) < MIN_KEY_BYTES:
        raise PseudonymisationKeyError(
            f"the pseudonymisation key is {len(secret)} bytes; at least {MIN_KEY_BYTES} random bytes "
            f"are needed; {MAKE_KEY_HINT}")
    return PseudonymisationKey(secret)


def _decode_base64(text: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; ``None`` if it is not base64."""
    if not re.fullmatch(r"[A-Za-z0-9+/_\-]+={0,2}", text):
        return None
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def normalise_ids(values: pd.Series) -> pd.Series:
    """Strip surrounding space and upper-case; leading zeros kept. Empty becomes missing."""
    out = values.astype("string").str.strip().str.upper()
    return out.mask(out == "")


def _digest(secret: bytes, namespace: bytes, message: str) -> str:
    mac = hmac.new(secret, namespace + b"\x00" + message.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()[:PSEUDONYM_HEX_CHARS]


def pseudonymise(values: pd.Series, key: PseudonymisationKey, namespace: bytes) -> pd.Series:
    """Pseudonyms of raw ids (normalised first); missing stays missing.

    Each distinct normalised id is hashed once, then mapped back onto the rows.
    """
    normalised = normalise_ids(values)
    distinct = normalised.dropna().unique()
    lookup = {value: _digest(key.secret, namespace, value) for value in distinct}
    return normalised.map(lookup).astype("string")


def derived_id(parts: list[pd.Series], key: PseudonymisationKey, namespace: bytes) -> pd.Series:
    """Deterministic pseudonymous id of a record identified by ``parts`` (e.g. child, date).

    Parts are turned into text (dates as ISO ``YYYY-MM-DD``) and joined with a
    unit separator; a row with any missing part gets a missing id.
    """
    texts = []
    for part in parts:
        if pd.api.types.is_datetime64_any_dtype(part):
            texts.append(part.dt.strftime("%Y-%m-%d").astype("string"))
        else:
            texts.append(part.astype("string"))
    joined = texts[0]
    for text in texts[1:]:
        joined = joined + _UNIT_SEPARATOR + text
    distinct = joined.dropna().unique()
    lookup = {value: _digest(key.secret, namespace, value) for value in distinct}
    return joined.map(lookup).astype("string")


def birth_month(dates: pd.Series) -> pd.Series:
    """Dates of birth coarsened to the first of their month."""
    dates = pd.to_datetime(dates)
    return dates.dt.to_period("M").dt.to_timestamp().astype("datetime64[ns]")


#: Shapes of raw identifiers that must never leave the door (UPN, postcode).
RAW_SHAPES: dict[str, str] = {
    "UPN": r"^[A-Za-z]\d{11}[0-9A-Za-z]$",
    "postcode": r"^[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}$",
}


def assert_no_leaks(tables: dict[str, pd.DataFrame]) -> None:
    """Leak guard: every ``*_id`` column holds pseudonyms (or missing), no cell looks like a UPN
    or postcode. Raises :class:`PseudonymLeakError` naming the table and column, never a value."""
    for name, frame in tables.items():
        for column in frame.columns:
            series = frame[column]
            if column.endswith("_id"):
                present = series.dropna().astype(str)
                bad = ~present.str.fullmatch(PSEUDONYM_PATTERN[1:-1])
                if bad.any():
                    raise PseudonymLeakError(
                        f"leak guard: {int(bad.sum())} value(s) of {name}.{column} are not "
                        f"pseudonyms ({PSEUDONYM_PATTERN}); nothing was returned")
            elif series.dtype == object or isinstance(series.dtype, pd.StringDtype):
                present = series.dropna().astype(str)
                for shape, pattern in RAW_SHAPES.items():
                    if present.str.fullmatch(pattern[1:-1]).any():
                        raise PseudonymLeakError(
                            f"leak guard: {name}.{column} holds a value shaped like a {shape}; "
                            "nothing was returned")
