"""Build a Keras 3 model from a ModelSpec (its layer table without Keras: `anatomy`).

Every model starts with `keras.Input((28, 28), uint8)` and a `Rescaling` layer, so the data
stays uint8 in memory and every layer has an output a sub-model can expose for inspection.
Only the backend-agnostic Keras API is used, so the same code runs on TensorFlow, JAX or
PyTorch.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from fmnist_core.nets.anatomy import (BATCH_NORM_MOMENTUM, BATCH_NORM_START_LEFT, NUM_CLASSES,
                                      describe, steps_per_execution_for)
from fmnist_core.nets.spec import IMAGE_SIZE, ModelSpec, conv_name


def batch_norm_momentum(steps_per_epoch: int | None) -> float:
    """The momentum of the batch norm layers' moving statistics for a run of
    `steps_per_epoch` batches an epoch.

    Each batch keeps `momentum` of the statistics so far, so after n batches momentum**n of
    their start is left: at 0.9, 21 % after a 15-batch epoch (2,000 images at batch 128),
    and a network that had learned would answer its validation and test images as if it
    had not. The momentum is lowered until at most 1 % is left after the first epoch;
    from 44 batches an epoch on it stays 0.9. None: 0.9. The lowered momentum holds for
    every epoch of the run, so its statistics follow the last few batches (about 4 at 15
    batches an epoch, 1 / (1 − momentum)) rather than the last 10."""
    if not steps_per_epoch:
        return BATCH_NORM_MOMENTUM
    return min(BATCH_NORM_MOMENTUM, BATCH_NORM_START_LEFT ** (1.0 / steps_per_epoch))


def build_model(spec: ModelSpec, num_classes: int = NUM_CLASSES,
                dtype: str | None = None) -> keras.Model:
    """Builds (but does not compile) the model a spec describes.

    Args:
        spec: the validated spec.
        num_classes: width of the softmax output.
        dtype: a Keras dtype policy for every layer but the softmax, which stays float32
            (`"mixed_bfloat16"` to train in bfloat16, see `fmnist_core.nets.precision`); None,
            Keras's global policy (float32).

    Returns:
        A functional `keras.Model` mapping (batch, 28, 28) uint8 to (batch, num_classes)
        probabilities. Layer names: flip (with augmentation), conv1…, pool1…, flatten,
        dense, dropout, output.
    """
    kw = {"dtype": dtype} if dtype else {}
    # a bfloat16 twin trains (`fmnist_core.training.fitloop`) and is never saved: on TensorFlow its
    # batch norm is the fused kernel's, the float32 model keeps Keras's own layer
    norm = (FusedBatchNormalization if dtype and dtype != "float32"
            and keras.backend.backend() == "tensorflow" else layers.BatchNormalization)
    inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE), dtype="uint8", name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale", **kw)(inputs)
    x = layers.Reshape((IMAGE_SIZE, IMAGE_SIZE, 1), name="channel", **kw)(x)
    if spec.augment == "flip":
        # active only while training: a coat mirrored is still a coat (not so for digits,
        # where a mirrored 2 is no digit at all; the form says so)
        x = TrainingFlip("horizontal", seed=spec.seed, name="flip", **kw)(x)
    for block, filters in enumerate(spec.filters, start=1):
        for index in range(1, spec.convs_per_block + 1):
            name = conv_name(block, index, spec.convs_per_block)
            if spec.batch_norm:
                # Bias is redundant before batch norm; the activation follows the norm.
                x = layers.Conv2D(filters, spec.kernel_size, padding=spec.padding,
                                  use_bias=False, name=name, **kw)(x)
                # momentum 0.9, not Keras's 0.99 (and lower for a short epoch:
                # `compile_model`): the running statistics the trained model predicts with
                # settle within its first epoch
                x = norm(momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn", **kw)(x)
                x = layers.Activation(spec.activation, name=f"{name}_{spec.activation}",
                                      **kw)(x)
            else:
                x = layers.Conv2D(filters, spec.kernel_size, padding=spec.padding,
                                  activation=spec.activation, name=name, **kw)(x)
        if spec.pooling == "max":
            x = layers.MaxPooling2D(spec.pool_size, name=f"pool{block}", **kw)(x)
        elif spec.pooling == "avg":
            x = layers.AveragePooling2D(spec.pool_size, name=f"pool{block}", **kw)(x)
    x = layers.Flatten(name="flatten", **kw)(x)
    if spec.dense_units:
        x = layers.Dense(spec.dense_units, activation=spec.activation, name="dense", **kw)(x)
    if spec.dropout:
        x = layers.Dropout(spec.dropout, seed=spec.seed, name="dropout", **kw)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="output",
                           dtype="float32" if dtype else None)(x)
    return keras.Model(inputs, outputs, name=_model_name(spec))


@keras.saving.register_keras_serializable(package="fmnist_core")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras's BatchNormalization, training through TensorFlow's fused kernel.

    Keras's own layer casts a bfloat16 feature map to float32 and normalises it in separate
    passes (mean, variance, scale, shift, each with its gradient); TensorFlow's
    FusedBatchNormV3 does it in one pass each way, with float32 statistics. The same
    weights and the same moving statistics (Keras's: the batch's variance, not its
    unbiased estimate); `best` trains in about two thirds of the time (README,
    *Arithmetic*).
    Predicting, on another backend, or on anything but (batch, height, width, channels)
    feature maps, it is Keras's layer."""

    def call(self, inputs, training=None, mask=None):
        if (not (training and self.trainable) or mask is not None or self.renorm
                or self.synchronized or len(inputs.shape) != 4 or self.axis not in (-1, 3)
                or not (self.scale and self.center)
                or keras.backend.backend() != "tensorflow"):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        empty = tf.constant([], dtype="float32")
        outputs, mean, unbiased, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=self.gamma, offset=self.beta, mean=empty, variance=empty,
            epsilon=self.epsilon, is_training=True, data_format="NHWC")
        count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], "float32")
        variance = unbiased * (count - 1.0) / tf.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum
                                + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum
                                    + variance * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package="fmnist_core")
class TrainingFlip(layers.RandomFlip):
    """Keras's RandomFlip, mirroring only when told it is training.

    Keras's own layer flips whenever it is not told otherwise, so a plain `model(x)` (or a
    sub-model for feature maps) would mirror images at random; here the default is no."""

    def call(self, data, training=False):
        return super().call(data, training=training)


@keras.saving.register_keras_serializable(package="fmnist_core")
class Mirror(layers.Layer):
    """Mirrors (batch, height, width) images left to right: the test-time flip's second
    look."""

    def call(self, images):
        return keras.ops.flip(images, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape


def with_test_flip(model: keras.Model) -> keras.Model:
    """The trained `model` looking twice at each image, as it is and mirrored, and averaging
    the two answers: the same layers and weights (shared, not copied), one more output.

    Every layer's first output stays the unmirrored image's, so feature maps, Grad-CAM and
    the unusual-input check read the image as given; only the answer is averaged."""
    inputs = model.inputs[0]
    x = Mirror(name="mirror")(inputs)
    for layer in model.layers[1:]:
        x = layer(x)
    outputs = layers.Average(name="test_flip")([model.outputs[0], x])
    return keras.Model(inputs, outputs, name=model.name)


def output_layer(model: keras.Model) -> keras.layers.Layer:
    """The Dense softmax layer that gives a model's answer (before a test-time flip's
    averaging, when the model has one)."""
    try:
        return model.get_layer("output")
    except ValueError:
        return model.layers[-1]


def compile_model(model: keras.Model, spec: ModelSpec,
                  steps_per_epoch: int | None = None) -> keras.Model:
    """Compiles with the spec's optimizer and learning rate, cross-entropy, accuracy, and
    the engine's `steps_per_execution` (so a plain `fit` gets the same settings).

    With label smoothing the loss is Keras's categorical cross-entropy, which wants one-hot
    labels: train with `fit_labels(spec, y, classes)` (a built-in loss, so a downloaded
    model loads anywhere without this project's code).

    Args:
        steps_per_epoch: batches per epoch; the cosine schedule needs it to end at 0 after
            the last epoch (without it the rate stays constant), and a short epoch lowers
            the batch norm momentum (`batch_norm_momentum`).
    """
    momentum = batch_norm_momentum(steps_per_epoch)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = momentum  # read when the training step is traced, at `fit`
    optimizers = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": lambda learning_rate: keras.optimizers.SGD(learning_rate, momentum=0.9),
        "rmsprop": keras.optimizers.RMSprop,
    }
    rate = spec.learning_rate
    if spec.lr_schedule == "cosine" and steps_per_epoch:
        rate = keras.optimizers.schedules.CosineDecay(
            spec.learning_rate, decay_steps=spec.epochs * steps_per_epoch)
    loss = ("sparse_categorical_crossentropy" if not spec.label_smoothing else
            keras.losses.CategoricalCrossentropy(label_smoothing=spec.label_smoothing))
    model.compile(
        optimizer=optimizers[spec.optimizer](learning_rate=rate),
        loss=loss,
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution_for(describe(
            spec, num_classes=model.outputs[0].shape[-1])["train_flops_per_image"],
            spec.batch_size),
    )
    return model


def copy_trained(source: keras.Model, target: keras.Model) -> None:
    """Gives `target` (compiled, built from the same spec) `source`'s weights and its
    optimizer's state: a model trained in bfloat16 handing over to its float32 twin, whose
    weights and moments are float32 all along."""
    target.set_weights(source.get_weights())
    if source.optimizer is None or target.optimizer is None:
        return
    if not target.optimizer.built:
        target.optimizer.build(target.trainable_variables)
    for mine, theirs in zip(target.optimizer.variables, source.optimizer.variables):
        mine.assign(theirs)


def fit_labels(spec: ModelSpec, y: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """The labels `model.fit` wants for a model from `compile_model`: the class numbers as
    they are, or one-hot rows (float32) when the spec smooths its labels."""
    if not spec.label_smoothing:
        return y
    return np.eye(num_classes, dtype="float32")[np.asarray(y, dtype=np.int64)]


def _model_name(spec: ModelSpec) -> str:
    return "dense_baseline" if spec.conv_blocks == 0 else f"cnn_{spec.conv_blocks}_blocks"


def feature_layer_names(model: keras.Model) -> list[str]:
    """Names of the layers whose outputs are feature maps: each conv (after its activation)
    and each pooling layer, in order."""
    names = []
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            names.append(layer.name)
        elif isinstance(layer, layers.Activation) and names and layer.name.startswith(
            names[-1] + "_"
        ):
            names[-1] = layer.name  # with batch norm the map a student wants is post-activation
        elif isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
            names.append(layer.name)
    return names
