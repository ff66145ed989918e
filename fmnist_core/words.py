"""Words for sentences a student reads: counts with their noun, "a" or "an", percentages.

Typical use:

    plural(1, "epoch")            # "1 epoch"
    plural(12000, "image")        # "12,000 images"
    plural(2, "class", "classes")  # "2 classes"
    with_article("Ankle boot")    # "an Ankle boot"
    percent(0.9973)               # "99.7%"
    duration(200)                 # "3 min 20 s"
"""

from __future__ import annotations

# Words whose first letter is a vowel but whose sound is not (and the reverse): the class
# names of both datasets need none of these, a student's own words might.
_CONSONANT_SOUNDS = ("uni", "use", "one", "eu")
_VOWEL_SOUNDS = ("hour", "honest")


def plural(count: int | float, singular: str, plural_form: str | None = None) -> str:
    """The count and its noun: "1 epoch", "0 epochs", "3 runs", "12,000 images".

    Args:
        count: How many; a whole number is written with thousands separators.
        singular: The noun for one.
        plural_form: The noun for any other count; `singular` + "s" when not given.
    """
    whole = float(count).is_integer()
    number = f"{int(count):,}" if whole else f"{count:,.2f}"
    return f"{number} {noun(count, singular, plural_form)}"


def noun(count: int | float, singular: str, plural_form: str | None = None) -> str:
    """The noun alone for `count`: "epoch" for 1, "epochs" otherwise."""
    return singular if count == 1 else (plural_form or f"{singular}s")


def with_article(phrase: str) -> str:
    """"a Sneaker", "an Ankle boot", "a T-shirt/top", "an 8"."""
    return f"{article(phrase)} {phrase}"


def article(phrase: str) -> str:
    """"an" before a vowel sound ("an Ankle boot", "an 8"), else "a"."""
    lowered = phrase.strip().lower()
    vowel = lowered[:1] in tuple("aeiou8") or lowered.startswith(("11", "18"))
    if lowered.startswith(_CONSONANT_SOUNDS):
        vowel = False
    if lowered.startswith(_VOWEL_SOUNDS):
        vowel = True
    return "an" if vowel else "a"


def markdown_text(text: str) -> str:
    """`text` as plain words inside Markdown: every character Markdown (and Streamlit's icon
    and formula syntax) would act on is escaped, so a name like "![](http://host/x)" shows
    as those characters, not as a picture fetched from that host."""
    return "".join(f"\\{ch}" if ch in _MARKDOWN_ACTIVE else ch for ch in str(text))


_MARKDOWN_ACTIVE = set("\\`*_{}[]()#+-.!|<>~$:&")


def percent(fraction: float, decimals: int = 1) -> str:
    """A fraction as a percentage with `decimals` decimals, as the probability bars write
    it, so a headline and its bar never disagree ("99.7%", not "100%")."""
    return f"{fraction:.{decimals}%}"


def duration(seconds: float | None) -> str:
    """"0.4 s", "45 s", "3 min 20 s", "1 h 05 min"; "–" for none."""
    if seconds is None:
        return "–"
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
