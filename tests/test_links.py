import dataclasses

import pytest

from fmnist_core.nets import links
from fmnist_core.nets.spec import ModelSpec, preset, presets


def test_a_preset_is_a_one_key_link_and_an_edit_adds_its_field():
    assert links.to_query(preset("seed-cnn")) == {"preset": "seed-cnn"}
    edited = preset("seed-cnn").replace(kernel_size=5, filters=(32, 64))
    query = links.to_query(edited, "seed-cnn")
    assert query == {"preset": "seed-cnn", "kernel_size": "5", "filters": "32,64"}
    assert links.from_query(query) == (edited, None)


def test_every_field_round_trips():
    spec = ModelSpec(dataset="mnist", conv_blocks=3, filters=(8, 16, 32), convs_per_block=2,
                     kernel_size=3, padding="same", activation="gelu", pooling="avg",
                     pool_size=2, batch_norm=True, dropout=0.35, dense_units=64,
                     optimizer="sgd", learning_rate=0.03, lr_schedule="cosine",
                     batch_size=256, epochs=7, target_accuracy=0.91, validation_split=0.2,
                     train_images=12_000, seed=123)
    query = links.to_query(spec)
    base = presets()[query["preset"]].to_dict()
    for field in dataclasses.fields(ModelSpec):  # in the link, or the preset's own value
        assert field.name in query or base[field.name] == getattr(spec, field.name) or (
            field.name == "filters" and tuple(base["filters"]) == spec.filters)
    for name in presets():
        query = links.to_query(spec, name)
        assert links.from_query(query) == (spec, None), name
    # as a browser hands them over: strings, or lists of strings
    assert links.from_query({k: [v] for k, v in links.to_query(spec).items()}) == (spec, None)


def test_other_keys_of_the_page_are_left_alone():
    assert links.from_query({"run": "0123456789ab", "preset": "quick"}) == (preset("quick"),
                                                                          None)


@pytest.mark.parametrize("query,sentence", [
    ({"preset": "huge"}, "The link asks for the preset `huge`, which does not exist"),
    ({"epochs": "many"}, "The link's `epochs=many` cannot be read as a whole number"),
    ({"epochs": "500"}, "The link's settings are not possible: Epochs must be an integer "
                        "from 1 to 200, not 500."),
    ({"conv_blocks": "3", "kernel_size": "9"}, "The link's settings are not possible: A 9×9 "
                                               "kernel does not fit the 1×1 map"),
    ({"batch_norm": "maybe"}, "cannot be read as true or false"),
    ({"learning_rate": "nan"}, "cannot be read as a number"),
    ({"padding": "full"}, "The link's `padding=full` cannot be read as one of valid, same"),
    ({"filters": "a,b"}, "cannot be read as at most 3 whole numbers separated by commas"),
    ({"train_images": "lots"}, "`train_images=lots` cannot be read as a whole number or all"),
    ({"train_images": "50"}, "Training images must be an integer from 100 to 60000, not 50."),
    ({"filters": "64," * 1000}, "`filters=64,64,64,64,64,64,64,64,64,64,6…` cannot be read"),
    ({"conv_blocks": "1" + "0" * 22}, "Conv blocks must be an integer from 0 to 3"),
])
def test_a_bad_link_is_one_sentence(query, sentence):
    spec, problem = links.from_query(query)
    assert spec is None and sentence in problem and "\n" not in problem
    assert problem.endswith("the form shows the defaults.") or problem.endswith(
        "The form shows the defaults.")


@pytest.mark.parametrize("query,shown", [
    # once repeated raw: a line break split the sentence, a Markdown link became a link
    ({"epochs": "many\nlines\x1b[2J"}, "`epochs=many lines[2J`"),
    ({"seed": "[sign in](https://example.com)"}, "`seed=[sign in](https://example.com)`"),
    ({"dropout": "`x` " + "y" * 100}, "`dropout=x " + "y" * 29 + "…`"),
    ({"preset": "\x00\u202e"}, "preset “”,"),
    # a word field's value once reached the spec, whose sentence quotes it as Python does
    ({"pooling": "[sign in](https://example.com)"}, "`pooling=[sign in](https://example.com)`"),
    ({"dataset": "<https://example.com>"}, "`dataset=<https://example.com>`"),
])
def test_a_bad_value_is_repeated_as_one_line_of_inline_code(query, shown):
    spec, problem = links.from_query(query)
    assert spec is None and shown in problem and problem.isprintable()


def test_every_word_field_is_read_against_its_choices():
    words = {name for name, field in links.FIELDS.items() if isinstance(field.default, str)}
    assert words == set(links.CHOICES)
    for name, choices in links.CHOICES.items():
        for choice in choices:
            assert links._parse(name, choice) == choice


def test_a_link_names_its_training_images_or_all():
    assert links.to_query(preset("quick").replace(train_images=6000)) == {
        "preset": "quick", "train_images": "6000"}
    assert links.from_query({"preset": "quick", "train_images": "6000"}) == (
        preset("quick").replace(train_images=6000), None)
    assert links.from_query({"preset": "quick", "train_images": "all"}) == (preset("quick"),
                                                                            None)
