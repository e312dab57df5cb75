"""Keyed pseudonymisation: key handling, normalisation, namespaces, determinism, leak guard."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pandas as pd
import pytest

from evaluation import pseudonymise as ps
from evaluation.pseudonymise import (
    CHILD, CIN_EPISODE, DEMO_KEY, FAMILY, PseudonymisationKeyError, PseudonymLeakError,
    assert_no_leaks, birth_month, derived_id, load_key, pseudonymise,
)
from evaluation.tables import PSEUDONYM_PATTERN

SECRET = bytes(range(32))
KEY = load_key(SECRET.hex())
HINT = 'python -c "import secrets; print(secrets.token_hex(32))"'


def test_hex_and_base64_keys_are_the_same_key():
    assert load_key(SECRET.hex()).secret == SECRET
    assert load_key(SECRET.hex().upper()).secret == SECRET
    assert load_key(base64.b64encode(SECRET).decode()).secret == SECRET
    assert load_key(base64.urlsafe_b64encode(SECRET).decode().rstrip("=")).secret == SECRET
    assert load_key(f"  {SECRET.hex()}\n").fingerprint == KEY.fingerprint


@pytest.mark.parametrize("text", [None, "", "   "])
def test_missing_key_is_refused_with_how_to_make_one(text):
    with pytest.raises(PseudonymisationKeyError) as err:
        load_key(text)
    assert HINT in str(err.value)
    assert isinstance(err.value, KeyError)


def test_short_key_is_refused():
    with pytest.raises(PseudonymisationKeyError, match="31 bytes") as err:
        load_key(bytes(31).hex())
    assert HINT in str(err.value)
    with pytest.raises(PseudonymisationKeyError):
        load_key(base64.b64encode(bytes(16)).decode())


@pytest.mark.parametrize("text", ["not a key at all!", "ab:cd" * 20, "abc" * 21 + "é"])
def test_malformed_key_is_refused_without_echoing_it(text):
    with pytest.raises(PseudonymisationKeyError) as err:
        load_key(text)
    assert HINT in str(err.value)
    assert text not in str(err.value)


def test_fingerprint_is_recordable_and_reveals_nothing():
    expected = hashlib.sha256(b"fsp-key-fingerprint" + SECRET).hexdigest()[:16]
    assert KEY.fingerprint == expected
    assert SECRET.hex() not in repr(KEY) and KEY.fingerprint in repr(KEY)
    other = load_key("153dfb9424bfe6736413575200711bcb3f1dd6e9a39ba11ab94048485fbff021")
    assert other.fingerprint != KEY.fingerprint


def test_demo_key_is_recognised():
    assert load_key(DEMO_KEY).is_demo
    assert not KEY.is_demo


def test_pseudonym_is_truncated_hmac_sha256_of_namespaced_normalised_id():
    expected = hmac.new(SECRET, b"child\x00" + b"0012A", hashlib.sha256).hexdigest()[:16]
    got = pseudonymise(pd.Series([" 0012a ", "0012A", "0012a"]), KEY, CHILD)
    assert list(got) == [expected] * 3
    assert re.fullmatch(PSEUDONYM_PATTERN, expected)


def test_leading_zeros_are_kept():
    got = pseudonymise(pd.Series(["0012345", "12345"]), KEY, CHILD)
    assert got[0] != got[1]


def test_namespaces_separate_child_and_family_ids():
    ids = pd.Series(["FAM-1", "12"])
    assert not (pseudonymise(ids, KEY, CHILD) == pseudonymise(ids, KEY, FAMILY)).any()


def test_same_key_same_pseudonym_other_key_other_pseudonym():
    ids = pd.Series(["0001", "0002"])
    assert pseudonymise(ids, KEY, CHILD).equals(pseudonymise(ids.copy(), load_key(SECRET.hex()), CHILD))
    other = load_key("666620d35cb488d865dfeff07a6ad0bfb6393d288c30a745d709d4ae10836608")
    assert not (pseudonymise(ids, KEY, CHILD) == pseudonymise(ids, other, CHILD)).any()


def test_missing_ids_stay_missing():
    got = pseudonymise(pd.Series(["0001", None, "  "], dtype="string"), KEY, CHILD)
    assert got.isna().tolist() == [False, True, True]


def test_each_distinct_id_is_hashed_once(monkeypatch):
    calls = []
    original = ps._digests
    monkeypatch.setattr(ps, "_digests", lambda key, namespace, messages: calls.extend(messages)
                        or original(key, namespace, messages))
    pseudonymise(pd.Series(["7", " 7", "8", "7 "] * 250), KEY, CHILD)
    assert sorted(calls) == ["7", "8"]


def test_batched_digests_are_the_one_at_a_time_hmacs():
    council = KEY.for_council("931")
    for key in (KEY, council):
        for namespace in (CHILD, CIN_EPISODE):
            messages = ["0001", "A\x1f2020-01-01", "é"]
            assert ps._digests(key, namespace, messages) == {
                m: ps._digest(key, namespace, m) for m in messages}


def test_derived_ids_are_deterministic_and_distinguish_their_parts():
    child = pseudonymise(pd.Series(["1", "1", "2"]), KEY, CHILD)
    dates = pd.to_datetime(pd.Series(["2020-01-01", "2020-01-02", "2020-01-01"]))
    first = derived_id([child, dates], KEY, CIN_EPISODE)
    again = derived_id([child.copy(), dates.copy()], KEY, CIN_EPISODE)
    assert first.equals(again)
    assert first.nunique() == 3
    assert first.str.fullmatch(PSEUDONYM_PATTERN[1:-1]).all()
    missing = derived_id([child, pd.Series([pd.NaT] * 3)], KEY, CIN_EPISODE)
    assert missing.isna().all()


def test_birth_month_is_first_of_month():
    got = birth_month(pd.Series(pd.to_datetime(["2012-05-17", "2010-11-30", None])))
    assert got.tolist()[:2] == [pd.Timestamp("2012-05-01"), pd.Timestamp("2010-11-01")]
    assert pd.isna(got.iloc[2])


def test_leak_guard_rejects_raw_ids_upns_and_postcodes_without_quoting_them():
    good = {"t": pd.DataFrame({"child_id": pseudonymise(pd.Series(["1"]), KEY, CHILD)})}
    assert_no_leaks(good)
    for frame in (pd.DataFrame({"child_id": ["0012345"]}),
                  pd.DataFrame({"code": pd.Series(["A123456789012"], dtype="string")}),
                  pd.DataFrame({"code": ["OX4 1AA"]})):
        with pytest.raises(PseudonymLeakError) as err:
            assert_no_leaks({"t": frame})
        assert str(frame.iloc[0, 0]) not in str(err.value)


def test_a_remembering_key_gives_the_same_pseudonyms_and_hashes_an_id_once(monkeypatch):
    import hmac as hmac_module

    plain = KEY.for_council("931")
    remembering = plain.remembering()
    assert remembering == plain and "memo" not in repr(remembering)
    first, second = pd.Series(["1", "2", "3"]), pd.Series(["3", "4", " 1 "])
    expected = [pseudonymise(ids, plain, CHILD) for ids in (first, second)]
    calls = []
    original = hmac_module.HMAC.copy
    monkeypatch.setattr(hmac_module.HMAC, "copy", lambda self: calls.append(1) or original(self))
    got = [pseudonymise(ids, remembering, CHILD) for ids in (first, second)]
    assert all(a.equals(b) for a, b in zip(got, expected))
    assert len(calls) == 4                              # 1, 2, 3 then only 4
    assert derived_id([first], remembering, CIN_EPISODE).equals(derived_id([first], plain, CIN_EPISODE))


@pytest.mark.parametrize("value", ["0123456789ABCDEF", "0123456789abcdef\n", "\uff10123456789abcdef",
                                   "0123456789abcde", "0123456789abcdef0", " 0123456789abcdef"])
@pytest.mark.parametrize("dtype", ["string", "string[pyarrow]", object])
def test_leak_guard_refuses_near_pseudonyms_in_every_text_dtype(value, dtype):
    frame = pd.DataFrame({"child_id": pd.Series(["0123456789abcdef", None, value], dtype=dtype)})
    with pytest.raises(PseudonymLeakError, match="1 value"):
        assert_no_leaks({"t": frame})


def test_leak_guard_still_reads_paths_and_codes_for_raw_shapes():
    assert_no_leaks({"t": pd.DataFrame({"element": ["Message/Children/Child[1]", "ssda903/2021/OX4 1AA.csv"]})})
    with pytest.raises(PseudonymLeakError, match="postcode"):
        assert_no_leaks({"t": pd.DataFrame({"note": pd.Series(["ok", "OX4 1AA"], dtype="string[pyarrow]")})})
