"""Grad-CAM: which regions of the input raised the score of a class, seen from a conv layer.

For a conv layer's activations A (h, w, channels) and the class score y (the logit, before
the softmax), each channel gets the weight alpha_k = mean over (h, w) of dy/dA_k, and the
map is ReLU(sum_k alpha_k A_k), divided by its maximum (Selvaraju et al., 2017). The map is
as coarse as the layer: 11×11 for the seed CNN's last conv, 26×26 for its first.

Grad-CAM's averaged gradients suit a head that averages over positions; behind a Flatten →
Dense head (every preset here) the gradient differs at each position and its average can be
negative everywhere, leaving an empty map. And on the black background every conv unit
still outputs its bias, so a channel's weight paints the whole background evenly: the
network does use the empty space (above a sneaker, beside a dress), but the map then looks
as if it ignored the garment. `method="hirescam"` (Draelos & Carin, 2020) keeps the
positions: ReLU(sum_k dy/dA_k · A_k), the first-order share of each cell in the score; its
heat lies on the garment far more often (bench/ood.py measures both).

The upsampled map is placed by geometry, not stretched: every cell of the layer is centred on
its receptive field in the 28×28 input (a 26×26 "valid" conv map starts at pixel 1, not 0),
and pixels between centres are interpolated linearly.

Keras 3 has no backend-neutral gradient tape, so the one derivative needed, of the class
score with respect to the layer's activations, is taken by `_gradient` with the running
backend's own tool (TensorFlow's GradientTape, `jax.grad` of a stateless call, PyTorch's
autograd). Everything else is the Keras API and numpy.

Typical use:

    cam = GradCam(model)            # sub-models built once per model and layer
    result = cam(image)             # the predicted class, the last conv layer
    result.heatmap                  # (28, 28) float32 in [0, 1]
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from fmnist_core.explain.inspection import _check_image
from fmnist_core.nets.model import feature_layer_names, output_layer

SIZE = 28
METHODS = ("grad-cam", "hirescam")
_POOLING = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


@dataclasses.dataclass(frozen=True)
class GradCamResult:
    """The Grad-CAM of one image for one class at one layer.

    Attributes:
        layer: the conv layer explained, e.g. "conv2" or "conv1b_relu".
        method: "grad-cam" or "hirescam".
        class_index: the class explained.
        probability: the model's probability of that class for the image.
        probabilities: (num_classes,) float32, every class.
        coarse: (h, w) float32 in [0, 1], the map at the layer's own resolution.
        heatmap: (28, 28) float32 in [0, 1], the map on the input's pixels.
    """

    layer: str
    method: str
    class_index: int
    probability: float
    probabilities: np.ndarray
    coarse: np.ndarray
    heatmap: np.ndarray

    @property
    def empty(self) -> bool:
        """True when no region raises the class's score at this layer (an all-zero map)."""
        return not self.coarse.any()


class GradCam:
    """Grad-CAM for one model; the sub-models of each layer are built once and kept.

    Args:
        model: a model from `build_model` (starts with `keras.Input`, ends with a Dense).

    Raises:
        ValueError: the model has no conv layer (the dense baseline) or does not end with a
            Dense layer.
    """

    def __init__(self, model):
        self.model = model
        self.layer_names = [name for name in feature_layer_names(model)
                            if not isinstance(model.get_layer(name), _POOLING)]
        if not self.layer_names:
            raise ValueError("Argument `model` must have a convolution layer for Grad-CAM, "
                             f"received {model.name!r} without one.")
        # the Dense answer layer; with a test-time flip, its unmirrored look (the shown
        # probability is still the whole model's)
        self._output = output_layer(model)
        if not isinstance(self._output, keras.layers.Dense):
            raise ValueError("Argument `model` must end with a Dense layer, received one "
                             f"ending with {type(self._output).__name__}.")
        self._parts: dict[str, tuple] = {}

    def __call__(self, image: np.ndarray, class_index: int | None = None,
                 layer_name: str | None = None, method: str = "grad-cam") -> GradCamResult:
        """The Grad-CAM of one image.

        Args:
            image: (28, 28) uint8, as the data is stored.
            class_index: the class to explain; the predicted one by default.
            layer_name: one of `layer_names`; the last conv layer by default.
            method: "grad-cam" (channel weights from averaged gradients) or "hirescam"
                (gradients times activations, cell by cell).

        Returns:
            The maps, the class and its probability.
        """
        image = _check_image(image)
        name = self.layer_names[-1] if layer_name is None else layer_name
        if name not in self.layer_names:
            raise ValueError(f"Argument `layer_name` must be one of {self.layer_names}, "
                             f"received {name!r}.")
        if method not in METHODS:
            raise ValueError(f"Argument `method` must be one of {METHODS}, received {method!r}.")
        features, head, rows, cols = self._parts_of(name)
        activations, probabilities = features(image[None], training=False)
        activations = np.asarray(activations, np.float32)
        probabilities = np.asarray(probabilities, np.float32)[0]
        if class_index is None:
            class_index = int(probabilities.argmax())
        elif not 0 <= class_index < len(probabilities):
            raise ValueError(f"Argument `class_index` must be from 0 to "
                             f"{len(probabilities) - 1}, received {class_index}.")
        weights = np.asarray(self._output.kernel, np.float32)[:, class_index]
        gradients = _gradient(_score(head, weights), activations)
        coarse = class_map(activations[0], gradients[0], method)
        heatmap = _normalise(rows @ coarse @ cols.T)
        return GradCamResult(name, method, int(class_index), float(probabilities[class_index]),
                             probabilities, coarse, heatmap)

    def _parts_of(self, name: str) -> tuple:
        """(activations + probabilities sub-model, head from the layer to the penultimate
        features, row and column upsampling matrices), built on first use."""
        if name not in self._parts:
            layer = self.model.get_layer(name)
            features = keras.Model(self.model.inputs[0], [layer.output, self.model.outputs[0]])
            head = keras.Model(layer.output, self._output.input)
            rows, cols = upsampling_matrices(self.model, name)
            self._parts[name] = (features, head, rows, cols)
        return self._parts[name]


def class_map(activations: np.ndarray, gradients: np.ndarray,
              method: str = "grad-cam") -> np.ndarray:
    """ReLU of the gradient-weighted sum of channels, divided by its maximum.

    Args:
        activations: (h, w, channels) float32, the layer's output.
        gradients: (h, w, channels) float32, d(class score)/d(activations).
        method: "grad-cam" weighs each channel by its mean gradient; "hirescam" weighs each
            cell by its own gradient.

    Returns:
        (h, w) float32 in [0, 1]; all zeros when no region raises the score.
    """
    activations = activations.astype(np.float64)
    gradients = gradients.astype(np.float64)
    if method == "hirescam":
        cam = (activations * gradients).sum(axis=-1)
    else:
        cam = activations @ gradients.mean(axis=(0, 1))
    return _normalise(np.maximum(cam, 0.0))


def upsampling_matrices(model, layer_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Linear maps that put a layer's (h, w) map on the 28×28 input, cell centres first.

    Each cell's centre in input pixels follows from the kernels, strides and paddings of the
    convs and poolings up to the layer; pixels outside the outermost centres take the
    nearest one's value.

    Returns:
        (rows (28, h), cols (28, w)) float64, each row summing to 1, so that
        `rows @ coarse @ cols.T` is the (28, 28) map.
    """
    scale, offset = np.ones(2), np.zeros(2)
    for layer in model.layers:
        window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        if window is not None:
            dilation = np.asarray(getattr(layer, "dilation_rate", (1, 1)), float)
            extent = dilation * (np.asarray(window, float) - 1) + 1
            strides = np.asarray(layer.strides, float)
            before = np.zeros(2)
            if layer.padding == "same":
                size_in = np.asarray(layer.input.shape[1:3], float)
                size_out = np.asarray(layer.output.shape[1:3], float)
                before = np.maximum((size_out - 1) * strides + extent - size_in, 0) // 2
            # input = scale * (strides * x + centre of the window) + offset
            offset = offset + scale * ((extent - 1) / 2 - before)
            scale = scale * strides
        if layer.name == layer_name:
            height, width = layer.output.shape[1:3]
            return (_interpolation(SIZE, height, scale[0], offset[0]),
                    _interpolation(SIZE, width, scale[1], offset[1]))
    raise ValueError(f"Argument `layer_name` must name a layer of the model, "
                     f"received {layer_name!r}.")


def _interpolation(size: int, cells: int, scale: float, offset: float) -> np.ndarray:
    """(size, cells) float64: linear interpolation between cells centred at
    `scale * i + offset`, clamped at both ends."""
    position = np.clip((np.arange(size) - offset) / scale, 0, cells - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, cells - 1)
    frac = position - low
    matrix = np.zeros((size, cells))
    np.add.at(matrix, (np.arange(size), low), 1 - frac)
    np.add.at(matrix, (np.arange(size), high), frac)
    return matrix


def _normalise(values: np.ndarray) -> np.ndarray:
    top = values.max()
    return (values / top if top > 0 else np.zeros_like(values)).astype(np.float32)


def _score(head, weights: np.ndarray):
    """The class score (logit before the softmax, less the constant bias) as a function of
    the layer's activations: penultimate features · the output kernel's column."""
    column = keras.ops.convert_to_tensor(weights)
    if keras.backend.backend() == "jax":
        trainable = [v.value for v in head.trainable_variables]
        frozen = [v.value for v in head.non_trainable_variables]

        def score(activations):
            features, _ = head.stateless_call(trainable, frozen, activations, training=False)
            return keras.ops.sum(features * column)
        return score
    return lambda activations: keras.ops.sum(head(activations, training=False) * column)


def _gradient(function, x: np.ndarray) -> np.ndarray:
    """d function(x) / dx for a scalar-valued `function` of a float32 array, taken with the
    running Keras backend's own differentiation.

    Returns:
        float32 array of x's shape.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = function(x)
        return np.asarray(tape.gradient(y, x), np.float32)
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(function)(keras.ops.convert_to_tensor(x)), np.float32)
    if backend == "torch":
        x = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        function(x).backward()
        return x.grad.detach().cpu().numpy().astype(np.float32)
    raise ValueError(f"Grad-CAM needs the tensorflow, jax or torch backend, received "
                     f"{backend!r}.")
