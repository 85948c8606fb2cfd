"""Push secrets at rest: what is stored verifies the client state it was made from, and
nothing else; it reveals neither the client state nor the key."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from calbridge import push_secrets

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


# Client states as calbridge makes them (secrets.token_urlsafe(32): 43 characters).
CLIENT_STATES = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_", min_size=43, max_size=43)


@given(CLIENT_STATES)
def test_the_stored_form_verifies_its_own_client_state_only(state: str) -> None:
    stored = push_secrets.digest(KEY, state)
    assert state not in stored
    assert push_secrets.matches(KEY, state, stored)
    assert not push_secrets.matches(KEY, state + "x", stored)
    assert not push_secrets.matches(OTHER_KEY, state, stored)
    assert not push_secrets.matches(KEY, stored, stored)  # the table's value is no password


def test_nothing_given_or_nothing_stored_never_matches() -> None:
    assert not push_secrets.matches(KEY, "", push_secrets.digest(KEY, ""))
    assert not push_secrets.matches(KEY, None, push_secrets.digest(KEY, ""))
    assert not push_secrets.matches(KEY, "state", None)


def test_a_key_id_names_the_key_without_revealing_it() -> None:
    assert push_secrets.key_id(KEY) == push_secrets.key_id(bytes(KEY))
    assert push_secrets.key_id(KEY) != push_secrets.key_id(OTHER_KEY)
    assert KEY.decode() not in push_secrets.key_id(KEY)
