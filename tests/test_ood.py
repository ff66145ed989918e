"""fmnist_core.explain.ood on a small model trained here, against handwritten digits (bench/data)
and digits printed with this machine's fonts."""

import keras
import numpy as np
import pytest

from bench.ood import auroc, digit_fonts, handwritten_digits, mnist_style, printed_digits
from fmnist_core.explain import ood
from fmnist_core.nets.model import build_model, compile_model
from fmnist_core.nets.spec import ModelSpec, preset


@pytest.fixture(scope="module")
def trained(fashion):
    """The quick preset, 2 epochs on 3,000 training images (a few seconds), and its score
    fitted with 1,000 held-out training images."""
    spec = preset("quick")
    x, y = fashion.x_train[:3000], fashion.y_train[:3000]
    keras.utils.set_random_seed(spec.seed)
    model = compile_model(build_model(spec), spec, steps_per_epoch=24)
    model.fit(x, y, batch_size=spec.batch_size, epochs=2, verbose=0)
    return model, ood.fit(model, x, y, fashion.x_train[-1000:])


@pytest.fixture(scope="module")
def digits():
    return handwritten_digits()[:300]


@pytest.fixture(scope="module")
def printed():
    return printed_digits(200)


def test_digits_are_flagged_and_fashion_mnist_mostly_passes(trained, fashion, digits, printed):
    model, score = trained
    fashion_flagged = score.is_unusual(model, fashion.x_test[:1000])
    assert fashion_flagged.dtype == bool and fashion_flagged.shape == (1000,)
    # the threshold lets 99 of 100 held-out images pass; test images it never saw come close
    assert fashion_flagged.mean() <= 0.03
    # this small model (a few seconds of training) catches under half as many handwritten
    # digits as the preset trained on the full data (bench/ood.py), printed ones nearly all
    handwritten = score.is_unusual(model, digits).mean()
    assert handwritten >= 0.4 and handwritten >= 10 * fashion_flagged.mean()
    assert score.is_unusual(model, printed).mean() >= 0.9


def test_the_quantile_sets_how_many_unseen_images_are_flagged(trained, fashion):
    model, strict = trained
    x, y = fashion.x_train[:3000], fashion.y_train[:3000]
    lax = ood.fit(model, x, y, fashion.x_train[-1000:], quantile=0.9)
    assert strict.quantile == ood.QUANTILE == 0.99 and lax.quantile == 0.9
    assert lax.threshold < strict.threshold
    unseen = fashion.x_test[1000:3000]  # neither trained on nor used for the threshold
    assert 0.05 <= lax.is_unusual(model, unseen).mean() <= 0.16
    assert strict.is_unusual(model, unseen).mean() <= 0.03


def test_the_score_adds_the_four_standardised_parts(trained, fashion):
    model, score = trained
    images = fashion.x_test[:20]
    parts = score.parts(model, images)
    assert len(parts) == len(ood.PARTS) == 4
    distance, energy, features, pixels = parts
    assert all(part.dtype == np.float64 and part.shape == (20,) for part in parts)
    assert (distance >= 0).all()
    assert ((features >= 0) & (features <= 2)).all() and ((pixels >= 0) & (pixels <= 2)).all()
    probs = np.asarray(model.predict(images, verbose=0), np.float64)
    kernel, bias = (np.asarray(w, np.float64) for w in model.layers[-1].weights)
    # the softmax's log-probabilities differ from the logits by logsumexp = -energy
    hidden = keras.Model(model.inputs[0], model.layers[-1].input).predict(images, verbose=0)
    logits = np.asarray(hidden, np.float64) @ kernel + bias
    np.testing.assert_allclose(np.log(probs), logits + energy[:, None], atol=1e-4)
    assert score.stats.shape == (8,)
    np.testing.assert_allclose(score.score(model, images), score.combine(parts))
    # standardised on held-out images, each part is centred and of unit spread on images
    # the fit never saw, and so their sum is centred too
    unseen = score.parts(model, fashion.x_test[1000:2000])
    for i, name in enumerate(ood.PARTS):
        alone = score.combine(tuple(part if j == i else np.full_like(part, score.stats[2 * j])
                                    for j, part in enumerate(unseen)))
        assert abs(alone.mean()) < 0.25 and 0.75 < alone.std() < 1.3, name
    assert abs(score.combine(unseen).mean()) < 0.5


def test_the_score_is_the_sum_of_each_part_in_units_of_its_spread():
    # means 1, 10, 0, 0.5 and spreads 2, 4, 0.1, 1 on the held-out images
    check = ood.OodModel(np.eye(2), np.zeros((1, 2)), [0], [1, 2, 10, 4, 0, 0.1, 0.5, 1],
                         threshold=3.0, quantile=0.99, pooled=False)
    parts = (np.array([1.0, 3.0, 1.0, 5.0]), np.array([10.0, 10.0, 18.0, 14.0]),
             np.array([0.0, 0.0, 0.0, 0.1]), np.array([0.5, 0.5, 0.5, 1.5]))
    # the means score 0; one spread above in one part adds 1, two add 2
    np.testing.assert_allclose(check.combine(parts), [0.0, 1.0, 2.0, 2.0 + 1.0 + 1.0 + 1.0])


def test_a_training_image_is_nearest_to_itself(trained, fashion):
    model, score = trained
    # all 3,000 training images are in the banks (BANK_SIZE is larger)
    _, _, features, pixels = score.parts(model, fashion.x_train[:5])
    np.testing.assert_allclose(features, 0, atol=2e-3)
    np.testing.assert_allclose(pixels, 0, atol=2e-3)
    _, _, _, unseen = score.parts(model, fashion.x_test[:20])
    assert np.median(unseen) > 0.01  # a few test images nearly repeat a training image


def test_nearest_is_the_cosine_distance_to_the_closest_bank_vector():
    rng = np.random.default_rng(0)
    bank = rng.random((40, 6))
    nearest = ood.Nearest.fit(bank, rank=6)
    assert nearest.basis.shape == (6, 6) and nearest.bank.shape == (40, 6)
    np.testing.assert_allclose(nearest(bank), 0, atol=1e-3)
    np.testing.assert_allclose(nearest(5 * bank[:3]), 0, atol=1e-3)  # the length does not count
    assert nearest(np.zeros((1, 6)))[0] == 1.0
    outside = np.array([[1.0, -1, 0, 0, 0, 0]])  # unlike the bank's, it has a negative weight
    cosines = bank @ outside[0] / np.linalg.norm(bank, axis=1) / np.sqrt(2)
    np.testing.assert_allclose(nearest(outside), [1 - cosines.max()], atol=2e-3)
    assert ood.Nearest.fit(bank, rank=2).basis.shape == (6, 2)


def test_save_and_load_give_the_same_scores(trained, digits, tmp_path):
    model, score = trained
    path = ood.path_for(tmp_path / "models" / "abc123.keras")
    assert path == tmp_path / "models" / "abc123.ood.npz"
    path.parent.mkdir()
    assert score.save(path) == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["abc123.ood.npz"]
    loaded = ood.OodModel.load(path)
    assert loaded.threshold == score.threshold and loaded.pooled == score.pooled
    assert loaded.quantile == 0.99
    with np.load(path) as data:
        assert data["feature_bank"].dtype == np.float16 == data["pixel_bank"].dtype
    np.testing.assert_allclose(loaded.score(model, digits[:10]), score.score(model, digits[:10]),
                               rtol=1e-6)
    (tmp_path / "junk.npz").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="`path`.*OodModel.save"):
        ood.OodModel.load(tmp_path / "junk.npz")


def test_a_file_fitted_before_the_banks_keeps_its_two_parts_and_threshold(trained, fashion,
                                                                          tmp_path):
    model, score = trained
    path = tmp_path / "old.ood.npz"
    # its two parts' means 0 and spreads 1: the score is their plain sum
    np.savez(path, whitening=score.whitening, centres=score.centres, classes=score.classes,
             stats=[0.0, 1.0, 0.0, 1.0], threshold=1.5, quantile=0.95, pooled=score.pooled)
    old = ood.OodModel.load(path)
    assert old.features is None and old.threshold == 1.5 and old.quantile == 0.95
    images = fashion.x_test[:10]
    distance, energy = old.parts(model, images)
    np.testing.assert_allclose(distance, score.parts(model, images)[0])  # the same two
    np.testing.assert_allclose(energy, score.parts(model, images)[1])
    np.testing.assert_allclose(old.score(model, images), distance + energy)
    assert (old.is_unusual(model, images) == (distance + energy > 1.5)).all()
    old.save(path)  # written back as it was: still without the banks
    assert ood.OodModel.load(path).features is None


def test_a_score_refuses_a_model_it_was_not_fitted_for(trained, digits):
    _, score = trained
    other = build_model(preset("quick").replace(dense_units=64))
    with pytest.raises(ValueError, match="`model` gives 64 features.*128"):
        score.score(other, digits[:2])


def test_wide_flatten_features_are_averaged_over_positions(fashion):
    model = build_model(ModelSpec(conv_blocks=1, filters=8, pooling="none", dense_units=0))
    x, y = fashion.x_train[:200], fashion.y_train[:200]
    score = ood.fit(model, x, y, fashion.x_train[-50:])
    assert score.pooled and score.whitening.shape == (8, 8)  # 26×26×8 flattened > 2048
    assert score.features.basis.shape == (8, 8) and score.features.bank.shape == (200, 8)
    assert score.pixels.basis.shape == (784, ood.RANK)
    assert score.score(model, fashion.x_test[:3]).shape == (3,)


def test_bad_arguments_say_what_was_wrong(fashion):
    model = build_model(ModelSpec(conv_blocks=1, filters=2, dense_units=8))
    x, y = fashion.x_train[:100], fashion.y_train[:100]
    with pytest.raises(ValueError, match="`x_held_out`.*at least 20.*received 5"):
        ood.fit(model, x, y, x[:5])
    with pytest.raises(ValueError, match="`x_train` and `y_train`"):
        ood.fit(model, x, y[:50], x)
    with pytest.raises(ValueError, match="`quantile`.*received 95"):
        ood.fit(model, x, y, x, quantile=95)
    with pytest.raises(ValueError, match="`images`.*uint8"):
        ood.fit(model, x.astype(np.float32), y, x)


def test_digits_are_made_the_way_mnist_was():
    digit = np.zeros((8, 8), np.uint8)
    digit[1:7, 5:7] = 255  # a "1" in the right half
    image = mnist_style(digit)
    rows, cols = np.nonzero(image)
    assert image.shape == (28, 28) and rows.max() - rows.min() + 1 == 20
    weights = image.astype(float)
    assert np.average(np.arange(28), weights=weights.sum(axis=1)) == pytest.approx(14, abs=0.5)
    assert np.average(np.arange(28), weights=weights.sum(axis=0)) == pytest.approx(14, abs=0.5)


def test_the_digits_file_holds_all_1797_digits_made_like_mnist():
    digits = handwritten_digits()
    assert digits.shape == (1797, 28, 28) and digits.dtype == np.uint8
    assert digits.max() == 255
    rows, cols = np.nonzero(digits.max(axis=2)), np.nonzero(digits.max(axis=1))
    assert rows[1].min() >= 1 and rows[1].max() <= 26  # placed by the centre, not the edge
    assert cols[1].min() >= 1 and cols[1].max() <= 26


def test_printed_digits_are_made_like_mnist_from_real_fonts():
    fonts = digit_fonts()
    assert fonts and all(font is None or font.suffix in (".ttf", ".otf") for font in fonts)
    images = printed_digits(30, seed=1)
    assert images.shape == (30, 28, 28) and images.dtype == np.uint8
    assert (images == printed_digits(30, seed=1)).all()  # seeded
    for image in images:
        rows, cols = np.nonzero(image > 0)
        # the ink's box fitted into 20×20, moved at most 2 pixels from the centre of mass
        assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 in (19, 20, 21)
        weights = image.astype(float)
        assert abs(np.average(np.arange(28), weights=weights.sum(axis=1)) - 14) <= 3
        assert abs(np.average(np.arange(28), weights=weights.sum(axis=0)) - 14) <= 3
    # digits 0–9 in turn: the same digit is drawn alike more than two different digits are
    flat = images.reshape(30, -1).astype(float)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    similar = flat @ flat.T
    same = np.mean([similar[i, i + 10] for i in range(20)])
    other = np.mean([similar[i, j] for i in range(30) for j in range(30) if (i - j) % 10])
    assert same > other


def test_auroc_counts_pairs_and_ties_count_half():
    assert auroc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert auroc([0.3, 0.4], [0.1, 0.2]) == 0.0
    assert auroc([1.0, 1.0], [1.0]) == 0.5
    # pairs (inside, outside): (1,2) above, (1,1) tie, (3,2) below, (3,1) below → 1.5 / 4
    assert auroc([1, 3], [2, 1]) == pytest.approx(0.375)
