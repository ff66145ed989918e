"""Tests for fmnist_core.words: counts with real singular and plural, articles, percentages."""

import pytest

from fmnist_core.words import noun, percent, plural, with_article


@pytest.mark.parametrize("count, expected", [(0, "0 epochs"), (1, "1 epoch"), (2, "2 epochs"),
                                             (1.0, "1 epoch"), (12000, "12,000 epochs"),
                                             (1.5, "1.50 epochs")])
def test_plural_writes_the_count_and_the_right_noun(count, expected):
    assert plural(count, "epoch") == expected


def test_irregular_plurals_are_given():
    assert plural(1, "class", "classes") == "1 class"
    assert plural(3, "class", "classes") == "3 classes"
    assert noun(1, "student") == "student" and noun(30, "student") == "students"


@pytest.mark.parametrize("phrase, expected", [
    ("Ankle boot", "an Ankle boot"), ("Sneaker", "a Sneaker"), ("T-shirt/top", "a T-shirt/top"),
    ("Trouser", "a Trouser"), ("8", "an 8"), ("1", "a 1"), ("uniform", "a uniform")])
def test_the_article_follows_the_sound(phrase, expected):
    assert with_article(phrase) == expected


def test_percent_never_rounds_a_near_certainty_up_to_a_hundred():
    assert percent(0.9973) == "99.7%"
    assert percent(0.5) == "50.0%" and percent(0.5, 0) == "50%"
