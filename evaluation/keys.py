"""The pseudonymisation key: read from its text, refused when it cannot be a random key, and
known afterwards only by its fingerprint.

Apart from :mod:`evaluation.pseudonymise` (which hashes identifiers under it) and free of pandas,
so that ``make run`` checks the key and starts the executor's fork server before it imports
anything heavy: the server's imports are the longest wait before a run's first step.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field

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

#: A random 32-byte key has about 30 distinct byte values; fewer than this is not random.
MIN_DISTINCT_BYTES = 16

_HEX = re.compile(r"^[0-9a-fA-F]+$")


class PseudonymisationKeyError(KeyError):
    """The pseudonymisation key is missing, too short, malformed, or not allowed here."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class PseudonymisationKey:
    """A secret HMAC key. Its repr shows the fingerprint only, never the key."""

    secret: bytes = field(repr=False)
    #: The council (DfE LA code) whose child and family ids this key hashes; ``None`` outside the door.
    council: str | None = None
    #: Pseudonyms already computed, by namespace (:meth:`remembering`); ``None``: none kept.
    memo: dict | None = field(default=None, repr=False, compare=False)

    def for_council(self, la_code: str) -> "PseudonymisationKey":
        """The same secret, scoped to one council's child and family ids."""
        return PseudonymisationKey(self.secret, la_code)

    def remembering(self) -> "PseudonymisationKey":
        """The same key, keeping each pseudonym it computes so that an id met again (the same
        child in the next year's return) is not hashed again. The memo holds raw ids: the door
        makes such a key for one call of :func:`~evaluation.ingest.ingest_local_authority`
        only, and it goes with the call."""
        return PseudonymisationKey(self.secret, self.council, memo={})

    @property
    def fingerprint(self) -> str:
        """First 16 hex of SHA-256 over a fixed label and the key: safe to record."""
        return hashlib.sha256(b"fsp-key-fingerprint" + self.secret).hexdigest()[:16]

    @property
    def is_demo(self) -> bool:
        """True for the public :data:`DEMO_KEY` (synthetic data only)."""
        return hmac.compare_digest(self.secret, bytes.fromhex(DEMO_KEY))

    def __repr__(self) -> str:
        scope = f", council={self.council!r}" if self.council else ""
        return f"PseudonymisationKey(fingerprint={self.fingerprint!r}{scope})"


def load_key(text: str | bytes | None) -> PseudonymisationKey:
    """Parse a key given as hex (``secrets.token_hex(32)``) or base64 (``secrets.token_urlsafe(32)``).

    Fails closed with :class:`PseudonymisationKeyError` (saying how to make a key,
    never quoting it) when the key is missing or empty, ambiguous (a ``0x`` prefix,
    hex with a character missing), shorter than 32 bytes, or not random enough to
    be a key: all one character, a short alphabet (``deadbeef`` repeated), or a
    passphrase (base64 text of letters only).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise PseudonymisationKeyError(
                f"the pseudonymisation key is not hex or base64 text; {MAKE_KEY_HINT}") from None
    if text is None or not str(text).strip():
        raise PseudonymisationKeyError(f"no pseudonymisation key was given (missing or empty); "
                                       f"{MAKE_KEY_HINT}")
    text = str(text).strip()
    if text[:2].lower() == "0x" and _HEX.match(text[2:]):
        raise PseudonymisationKeyError(
            "the pseudonymisation key starts with 0x: give the hex digits alone "
            f"(64 hex characters, as secrets.token_hex(32) prints); {MAKE_KEY_HINT}")
    if _HEX.match(text):
        if len(text) % 2:
            raise PseudonymisationKeyError(
                f"the pseudonymisation key looks like hex but has an odd number of characters "
                f"({len(text)}): a character is missing or extra. Hex keys are read as hex, never "
                f"as base64; {MAKE_KEY_HINT}")
        secret, encoding = bytes.fromhex(text), "hex"
    else:
        secret, encoding = _decode_base64(text), "base64"
    if secret is None:
        raise PseudonymisationKeyError(
            "the pseudonymisation key is neither hex (64 characters 0-9a-f) nor base64 "
            f"(as secrets.token_urlsafe(32) prints); {MAKE_KEY_HINT}")
    if len(secret) < MIN_KEY_BYTES:
        raise PseudonymisationKeyError(
            f"the pseudonymisation key is {len(secret)} bytes (read as {encoding}); at least "
            f"{MIN_KEY_BYTES} random bytes are needed; {MAKE_KEY_HINT}")
    weakness = _weakness(text, secret, encoding)
    if weakness:
        raise PseudonymisationKeyError(
            f"the pseudonymisation key is not random enough to be a key ({weakness}); {MAKE_KEY_HINT}")
    return PseudonymisationKey(secret)


def _weakness(text: str, secret: bytes, encoding: str) -> str | None:
    """Why ``secret`` cannot have come from a random generator, or ``None``.

    Thresholds are far below what a random key shows (32 random bytes: ~30 distinct byte
    values; 64 random hex characters: ~16 distinct; 43 random base64 characters hold a digit
    or symbol, or else upper and lower case in similar shares), so that a generated key is
    refused with a probability of about one in ten million.
    """
    distinct = len(set(secret))
    if distinct < MIN_DISTINCT_BYTES:
        return f"{distinct} distinct byte values in {len(secret)} bytes"
    if encoding == "hex" and len(set(text.lower())) < 10:
        return f"only {len(set(text.lower()))} distinct hex characters"
    if encoding == "base64":
        letters = re.sub(r"[^A-Za-z]", "", text)
        lower = sum(c.islower() for c in letters) / max(len(letters), 1)
        if len(letters) == len(text) and not 0.25 < lower < 0.75:
            return "base64 text of letters in mostly one case, as a passphrase is: a passphrase is not a key"
        if len(set(text)) < 16:
            return f"only {len(set(text))} distinct base64 characters"
    return None


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
