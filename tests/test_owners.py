import pytest

from fmnist_core.store import owners
from fmnist_core.store.owners import PasscodeGuard

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


@pytest.mark.parametrize("raw", ["![](http://10.0.0.9/x)", "[x](http://evil)", "<img src=x>",
                                 ":material/delete:", "**Ann**", "`code`", "$x^2$"])
def test_names_that_markdown_would_act_on_are_refused_in_one_sentence(raw):
    with pytest.raises(ValueError) as caught:
        owners.clean_name(raw)
    assert str(caught.value).startswith("A name may not hold any of [ ] ( ) ! < >")
    assert "\n" not in str(caught.value)


def test_a_name_shown_in_markdown_is_escaped_character_by_character():
    from fmnist_core.words import markdown_text

    assert markdown_text("![](http://h/x)") == "\\!\\[\\]\\(http\\://h/x\\)"
    assert markdown_text("Ann-Marie O'Neil") == "Ann\\-Marie O'Neil"


@pytest.mark.databases("sqlite", "postgresql")
def test_wrong_passcodes_are_slowed_down_per_browser_and_per_address(store):
    now = [1000.0]
    guard = PasscodeGuard("open sesame", store, clock=lambda: now[0])
    alice = ("browser:alice", "address:10.0.0.31")
    ok, sentence = guard.check(alice, "guess")
    assert not ok and sentence == "That passcode is not right; you can try again in 2 seconds."
    ok, sentence = guard.check(alice, "open sesame")  # unheard while waiting
    assert not ok and sentence.startswith("Too many wrong tries from this browser or address: "
                                          "wait 2 seconds")
    now[0] += 1.5
    assert guard.check(alice, "x")[1].endswith("wait 1 second before the next one.")  # not 0
    now[0] += 0.5
    assert guard.check(alice, "guess2") == (
        False, "That passcode is not right; you can try again in 4 seconds.")  # doubled
    now[0] += 4.0
    assert guard.check(alice, "open sesame") == (True, None)
    assert guard.wait_left(alice) == 0  # the right one clears the slate


@pytest.mark.databases("sqlite", "postgresql")
def test_a_flood_from_fresh_browsers_holds_up_its_address_never_the_teacher(store, make_store):
    now = [1000.0]
    guard = PasscodeGuard("open sesame", store, clock=lambda: now[0])
    heard = 0
    for i in range(1200):  # a minute of tries, 20 a second, a fresh cookie each time
        ok, sentence = guard.check((f"browser:fresh{i}", "address:10.0.0.66"), "nope")
        assert not ok
        heard += sentence.startswith("That passcode is not right")
        now[0] += 0.05
    assert heard <= 6  # heard after 0, 2, 4, 8, 16 and 32 seconds of waiting
    assert guard.wait_left(("browser:fresh99", "address:10.0.0.66")) > 0
    # the teacher, at another browser and address, gets in at once
    assert guard.check(("browser:teacher", "address:10.0.0.2"), "open sesame") == (True, None)
    # another server of the class (another guard on the same database) counts the same tries
    other = PasscodeGuard("open sesame", make_store(), clock=lambda: now[0])
    assert other.wait_left(("browser:new", "address:10.0.0.66")) > 0
    # an hour on, the address starts again from the first wait
    now[0] += owners.FORGET_SECONDS + 1
    assert guard.check(("browser:fresh0", "address:10.0.0.66"), "nope")[1].endswith(
        "try again in 2 seconds.")


def test_a_teacher_token_signs_in_until_it_expires_or_the_passcode_changes():
    token = owners.sign_teacher(SECRET, "open sesame", expires=2000.0)
    assert owners.verify_teacher(token, SECRET, "open sesame", now=1999.0)
    assert not owners.verify_teacher(token, SECRET, "open sesame", now=2000.0)  # expired
    assert not owners.verify_teacher(token, SECRET, "new passcode", now=1000.0)
    assert not owners.verify_teacher(token, b"y" * 32, "open sesame", now=1000.0)
    later = token.replace("2000.", "9999.")  # a longer life, forged
    for bad in (later, None, "", "2000", "abc.def", token + "0"):
        assert not owners.verify_teacher(bad, SECRET, "open sesame", now=1000.0), bad


@pytest.mark.parametrize("attempt", ["\ud800", "open \udcff sesame", "\x00", "", "x" * 4096])
def test_any_passcode_try_is_an_answer(attempt, store):
    # a lone surrogate once raised UnicodeEncodeError instead of being a wrong try
    assert PasscodeGuard("open sesame", store).check(("browser:a", "address:a"), attempt) == (
        False, "That passcode is not right; you can try again in 2 seconds.")
    assert PasscodeGuard(attempt or "\ud800", store).check(
        ("browser:b", "address:b"), attempt or "\ud800") == (True, None)
