"""The lessons as data: why, the question asked before running, and the setups to run.

A setup is a `ModelSpec` made from a preset with `.replace()`, kept small (a few thousand
training images, a few epochs) so that a class can run every lesson in a lesson's time. No
answer is written here: it is computed from the runs' stored results (`answers`), so the page
never claims an outcome the runs did not give. Claims the text does make are checked on the
full data by `bench/lessons.py`.
"""

from __future__ import annotations

import dataclasses

from fmnist_core.nets.spec import ModelSpec, preset

# Training images of every setup (validation included): a few seconds an epoch on a laptop's
# CPU for the small CNN, so a class of thirty runs a lesson's setups in minutes.
LESSON_IMAGES = 3000
# Images of the overfitting lesson: few enough that a dense head memorises them within its
# epochs (OVERFIT_EPOCHS: training accuracy 99 % and more without dropout, seeds 0–2), so the
# gap between training and validation accuracy opens in sight.
OVERFIT_IMAGES = 600
OVERFIT_EPOCHS = 30
# The stopping lesson's target: reached within its 10 epochs on the lessons' images (after
# 3 epochs for seeds 0–2; their validation accuracy levels off at 80–84 %).
TARGET = 0.80
# Images of the filter-count lesson: enough that an epoch's arithmetic, not its fixed costs,
# sets its time (a class's default number of images).
FILTER_IMAGES = 12_000
# Test images the knock-out scores a network on: a few seconds for every filter of a preset.
KNOCKOUT_TEST_IMAGES = 1000

CHOICE, NUMBER = "choice", "number"
# What a question compares: the highest value across setups, or a ratio of the second
# setup's value to the first's, or the one setup's value.
HIGHEST, RATIO, VALUE = "highest", "ratio", "value"
# The measures a lesson may ask about, as `answers` reads them from a run.
MEASURES = ("test_accuracy", "train_seconds", "epoch_seconds", "epochs_run", "overfit_gap",
            "knockout")


@dataclasses.dataclass(frozen=True)
class Setup:
    """One network a lesson trains: a short key, the words a student reads, the spec."""

    key: str
    label: str
    spec: ModelSpec


@dataclasses.dataclass(frozen=True)
class Lesson:
    """One step of the path.

    Attributes:
        id: stable key, stored with guesses.
        number: 1-based place on the path.
        title: a few words.
        why: one paragraph: what the lesson shows and why it matters.
        question: asked before the Run button is enabled.
        kind: CHOICE (the answer is a setup's label) or NUMBER.
        compare: HIGHEST, RATIO or VALUE.
        measure: one of MEASURES.
        setups: what Run queues, in order.
        unit: how a NUMBER answer reads, e.g. "×", "epochs", "points".
        tolerance: how far a NUMBER guess may be from the outcome and still count: a
            fraction of the outcome when `relative`, else in the answer's own unit.
        relative: see `tolerance`.
        seed_note: said when the outcome depends on the seed (None when it does not).
    """

    id: str
    number: int
    title: str
    why: str
    question: str
    kind: str
    compare: str
    measure: str
    setups: tuple[Setup, ...]
    unit: str = ""
    tolerance: float = 0.0
    relative: bool = False
    seed_note: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in (CHOICE, NUMBER):
            raise ValueError(f"Argument `kind` must be one of {(CHOICE, NUMBER)}, "
                             f"received {self.kind!r}.")
        if self.measure not in MEASURES:
            raise ValueError(f"Argument `measure` must be one of {MEASURES}, "
                             f"received {self.measure!r}.")
        needed = {HIGHEST: 2, RATIO: 2, VALUE: 1}.get(self.compare)
        if needed is None or len(self.setups) < needed:
            raise ValueError(f"Argument `setups` must hold at least {needed} setups for "
                             f"compare={self.compare!r}, received {len(self.setups)}.")

    @property
    def choices(self) -> tuple[str, ...]:
        """The labels a CHOICE question offers (the setups'); none for a NUMBER."""
        return tuple(s.label for s in self.setups) if self.kind == CHOICE else ()

    def setup(self, key: str) -> Setup:
        for setup in self.setups:
            if setup.key == key:
                return setup
        raise ValueError(f"Argument `key` must be one of {[s.key for s in self.setups]}, "
                         f"received {key!r}.")


def _small(name: str, **changes) -> ModelSpec:
    """A preset cut to the lessons' size (LESSON_IMAGES unless `changes` say), with
    `changes`."""
    return preset(name).replace(**{"train_images": LESSON_IMAGES, **changes})


_SEED = ("The winner can change with the seed (the random start of the weights): compare "
         "with the class's runs, not only your own.")


def _lessons() -> tuple[Lesson, ...]:
    quick = _small("quick")
    return (
        Lesson("dense-vs-cnn", 1, "A dense network against a CNN",
               "A dense network sees the 784 pixels as one long list: a sleeve at the left "
               "of the picture and the same sleeve at the right are unrelated numbers to it. "
               "A convolution slides the same small filter over the whole picture, so what "
               "it learns about an edge in one place it knows everywhere: a 3×3 filter has "
               "9 weights however big the picture is.",
               "Which will reach the higher test accuracy?", CHOICE, HIGHEST, "test_accuracy",
               (Setup("dense", "Dense 128 (no convolution)", _small("dense", epochs=3)),
                Setup("cnn", "CNN: Conv 16 3×3 → MaxPool 2", quick))),
        Lesson("edge-kernel", 2, "Filters: the hand-made edge kernel and learned ones",
               "Before networks learned their filters, people wrote them by hand: the 3×3 "
               "edge kernel (centre 8, neighbours −1) answers wherever a pixel differs from "
               "its neighbours. A CNN's first layer learns its own filters from the images. "
               "Switching a filter off (its output set to zero) shows how much the network "
               "leans on it.",
               "Switch off the first layer's most important filter: how many points of test "
               "accuracy will the network lose?", NUMBER, VALUE, "knockout",
               (Setup("cnn", "CNN: Conv 16 3×3 → MaxPool 2", quick),),
               unit="points", tolerance=1.0),
        Lesson("pooling", 3, "Pooling: max against average",
               "2×2 pooling quarters each feature map (26×26 becomes 13×13): max pooling keeps "
               "the strongest answer of every 2×2 square and throws away where in the square "
               "it was; average pooling keeps the mean, so a strong edge next to three blank "
               "pixels is diluted to a quarter.",
               "Which pooling will reach the higher test accuracy?", CHOICE, HIGHEST,
               "test_accuracy",
               (Setup("max", "Max pooling", quick),
                Setup("avg", "Average pooling", quick.replace(pooling="avg"))),
               seed_note=_SEED),
        Lesson("target", 4, "Stopping at a target accuracy",
               "Training longer than needed costs time and can start memorising the training "
               "images. A callback that stops once validation accuracy reaches a target is "
               "the tutorials' \"stop once you reach 99 %\" exercise; here the target is "
               f"{TARGET * 100:.0f} % on at most 10 epochs.",
               "After how many epochs will the training stop?", NUMBER, VALUE, "epochs_run",
               (Setup("target", f"CNN until {TARGET * 100:.0f} % validation accuracy",
                      quick.replace(epochs=10, lr_schedule="constant",
                                    target_accuracy=TARGET)),),
               unit="epochs", tolerance=1.0, seed_note=_SEED),
        Lesson("dropout", 5, "Dropout against overfitting",
               "With few images and many epochs a network memorises: training accuracy climbs "
               "toward 100 % while validation accuracy stalls. Dropout switches off a random "
               "half of the dense layer's units at every step, so no unit can rely on "
               "another; the gap between the two curves tells how much was memorised.",
               "Which will end with the larger gap between training and validation accuracy?",
               CHOICE, HIGHEST, "overfit_gap",
               (Setup("plain", "Without dropout",
                      quick.replace(train_images=OVERFIT_IMAGES, epochs=OVERFIT_EPOCHS,
                                    lr_schedule="constant", learning_rate=1e-3)),
                Setup("dropout", "With dropout 0.5",
                      quick.replace(train_images=OVERFIT_IMAGES, epochs=OVERFIT_EPOCHS,
                                    lr_schedule="constant", learning_rate=1e-3,
                                    dropout=0.5))),
               seed_note=_SEED),
        Lesson("kernel-size", 6, "Kernel size: 3×3 against 5×5 and 7×7",
               "A bigger kernel sees more of the picture at once but has more weights to learn "
               "(25 or 49 against 9 per filter and input) and shrinks the map more (28 to 24 "
               "or 22 instead of 26). Two stacked 3×3 layers see as far as one 5×5.",
               "Which kernel size will reach the highest test accuracy?", CHOICE, HIGHEST,
               "test_accuracy",
               (Setup("k3", "3×3 kernels", quick),
                Setup("k5", "5×5 kernels", quick.replace(kernel_size=5)),
                Setup("k7", "7×7 kernels", quick.replace(kernel_size=7))),
               seed_note=_SEED),
        Lesson("filters", 7, "Filter count: accuracy against time",
               "The tutorials' exercise: change the convolutions' 32 to 16 or 64; what does "
               "it do to accuracy and to training time? More filters find more kinds of "
               "pattern, and each one costs its own pass over every position of the map. "
               "The first epoch also prepares the network, so the lesson times the epochs "
               "after it.",
               "How many times longer will an epoch of 64 filters take than one of 16?",
               NUMBER, RATIO, "epoch_seconds",
               (Setup("f16", "16 filters", _small("quick", train_images=FILTER_IMAGES)),
                Setup("f64", "64 filters", _small("quick", train_images=FILTER_IMAGES,
                                                  filters=(64,)))),
               unit="×", tolerance=0.3, relative=True),
    )


LESSONS: tuple[Lesson, ...] = _lessons()
"""Every lesson, in the path's order."""


def lesson(lesson_id: str) -> Lesson:
    """One lesson by id; ValueError naming the known ids otherwise."""
    for item in LESSONS:
        if item.id == lesson_id:
            return item
    raise ValueError(f"Argument `lesson_id` must be one of {[x.id for x in LESSONS]}, "
                     f"received {lesson_id!r}.")
