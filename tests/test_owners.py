import pytest

from fmnist_core import owners
from fmnist_core.owners import PasscodeGuard

SECRET = b"k" * 32


def test_a_token_stands_for_its_owner_and_cannot_be_forged():
    owner = owners.new_owner_id()
    token = owners.sign(owner, SECRET)
    assert owners.verify(token, SECRET) == owner
    other = owners.new_owner_id()
    forged = f"{other}.{token.split('.')[1]}"  # another id with a stolen signature
    for bad in (forged, owners.sign(owner, b"x" * 32), owner, "", None, token + "0",
                f"{owner}.{'0' * 32}", "../../etc.passwd", f"{owner.upper()}.{token[17:]}"):
        assert owners.verify(bad, SECRET) is None, bad


def test_owner_ids_are_unguessable_and_unique():
    ids = {owners.new_owner_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(owners.OWNER_ID_PATTERN.match(i) for i in ids)


@pytest.mark.parametrize("raw,shown", [
    ("  Ada   Lovelace ", "Ada Lovelace"), ("x" * 80, "x" * 40), ("tab\there", "tabhere"),
    ("Zoë 🙂", "Zoë 🙂"), ("", ""),
    ("x" * 39 + " tail", "x" * 39),  # the cut once kept the space before it
])
def test_names_are_cleaned_for_display(raw, shown):
    assert owners.clean_name(raw) == shown


def test_wrong_passcodes_are_slowed_down_per_browser_and_per_server():
    now = [1000.0]
    guard = PasscodeGuard("open sesame", clock=lambda: now[0])
    ok, sentence = guard.check("alice", "guess")
    assert not ok and sentence == "That passcode is not right; you can try again in 2 s."
    ok, sentence = guard.check("alice", "open sesame")  # even the right one must wait
    assert not ok and sentence.startswith("Too many wrong tries: wait 2 s")
    now[0] += 2.0
    assert guard.check("alice", "guess2") == (
        False, "That passcode is not right; you can try again in 4 s.")  # doubled
    now[0] += 4.0
    assert guard.check("alice", "open sesame") == (True, None)
    # a fresh browser each time does not get around the server's own limit
    for i in range(owners.SERVER_TRIES_PER_MINUTE - 2):
        assert not guard.check(f"browser{i}", "nope")[0]
    assert guard.wait_left("someone-new") > 0
    ok, sentence = guard.check("someone-new", "open sesame")
    assert not ok and sentence.startswith("Too many wrong tries")
    now[0] += 61
    assert guard.check("someone-new", "open sesame") == (True, None)


@pytest.mark.parametrize("attempt", ["\ud800", "open \udcff sesame", "\x00", "", "x" * 4096])
def test_any_passcode_try_is_an_answer(attempt):
    # a lone surrogate once raised UnicodeEncodeError instead of being a wrong try
    assert PasscodeGuard("open sesame").check("alice", attempt) == (
        False, "That passcode is not right; you can try again in 2 s.")
    assert PasscodeGuard(attempt or "\ud800").check("bob", attempt or "\ud800") == (True, None)
