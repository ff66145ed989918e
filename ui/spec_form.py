"""The spec form of the Train page: presets, every knob, and the ModelSpec it makes.

The form holds the class's settings (`fmnist_core.store.settings`): it offers only the
presets the class may start from, keeps every locked knob at the value of the preset a
student started from (the widget disabled, with the reason beside it), and bounds the
epochs and the training images, so it never offers a spec the queue would refuse.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from fmnist_core.nets import links
from fmnist_core.nets.spec import (ACTIVATIONS, AUGMENTS, LR_SCHEDULES, MAX_CONV_BLOCKS,
                                   MAX_TRAIN_IMAGES, MIN_TRAIN_IMAGES, OPTIMIZERS, PADDINGS,
                                   POOLINGS, PRESET_NOTES, ModelSpec, SpecError)
from fmnist_core.store.settings import (KNOBS, MAX_EPOCHS, ClassSettings, SettingsError,
                                       locked_words)
from fmnist_core.words import plural

FILTER_CHOICES = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 256)
LR_CHOICES = (1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0, 10.0)
BATCH_CHOICES = (16, 32, 64, 128, 256, 512, 1024)
DENSE_CHOICES = (0, 32, 64, 128, 256, 512, 1024)
CUSTOM = "custom"
# A block's filters and the target accuracy start at these when the form holds none.
DEFAULT_FILTERS = 32
DEFAULT_TARGET = 0.9
IMAGES_STEP = 1000  # the training images' +/- buttons: a few clicks from 1,000 to 12,000
# The knobs of each part of the form, whose locks its caption names.
ARCHITECTURE = ("conv_blocks", "filters", "kernel_size", "pooling", "dense_units", "dropout")
TRAINING = ("epochs", "target_accuracy")


def _key(field: str) -> str:
    return f"spec_{field}"


def _load(spec: ModelSpec) -> None:
    """Writes a spec into the form's widget state."""
    for field in dataclasses.fields(ModelSpec):
        st.session_state[_key(field.name)] = getattr(spec, field.name)
    for block in range(MAX_CONV_BLOCKS):
        st.session_state[f"spec_filters_{block}"] = (
            spec.filters[block] if block < len(spec.filters) else
            (spec.filters[-1] if spec.filters else DEFAULT_FILTERS))
    st.session_state["spec_use_target"] = spec.target_accuracy is not None
    st.session_state["spec_target"] = spec.target_accuracy or DEFAULT_TARGET


def _on_preset(settings: ClassSettings) -> None:
    """Fills the form with the chosen preset as the class starts from it, keeping the
    student's training images (they are not the network's)."""
    name = st.session_state.get("preset")
    if name in settings.presets:
        images = st.session_state.get(_key("train_images"))
        _load(settings.start(name))
        st.session_state[_key("train_images")] = images
        st.session_state["spec_start"] = name


def _matching_preset(values: dict, settings: ClassSettings) -> str:
    """The allowed preset the form's current values are, or "custom" after any change."""
    for name in settings.presets:
        if all(values.get(k) == v for k, v in settings.start(name).to_dict().items()
               if k not in ("dataset", "train_images")):
            return name
    return CUSTOM


def _values_in_state(saved: ModelSpec) -> dict:
    """The spec's fields as the form's widgets hold them now (before they are drawn)."""
    blocks = st.session_state[_key("conv_blocks")]
    values = {f.name: st.session_state.get(_key(f.name), getattr(saved, f.name))
              for f in dataclasses.fields(ModelSpec)}
    values["filters"] = [st.session_state[f"spec_filters_{b}"] for b in range(blocks)]
    values["target_accuracy"] = (st.session_state["spec_target"]
                                 if st.session_state["spec_use_target"] else None)
    return values


def _link_in_url() -> tuple:
    """The spec's keys of the page's link, as a hashable tuple (empty without any)."""
    return tuple(sorted((k, v) for k, v in st.query_params.to_dict().items()
                        if k == links.PRESET_KEY or k in links.FIELDS))


def _open_link(settings: ClassSettings, available: int) -> None:
    """Fills the form from a link the first time it is seen (a shared link, a bookmark);
    a bad one, or one beyond the class's settings, is one sentence and the class's
    defaults. A link never starts a training."""
    link = _link_in_url()
    if not link or st.session_state.get("spec_link") == link:
        return
    st.session_state["spec_link"] = link
    spec, problem = links.from_query(dict(link))
    if spec is not None:
        spec = _as_the_class_starts(spec, dict(link), settings)
        try:
            settings.check(spec, spec.images(available))
        except SettingsError as err:
            spec, problem = None, (f"{err.reason}, so the form shows the class's defaults "
                                   "instead of the link's settings.")
    if problem:
        st.session_state["spec_link_problem"] = problem
        spec = settings.start(settings.default_start)
    _load(spec)
    st.session_state["spec_start"] = settings.start_of(spec)
    st.session_state["train_spec"] = spec
    if spec.dataset != st.session_state.get("dataset", spec.dataset):
        st.session_state["dataset"] = spec.dataset


def _as_the_class_starts(spec: ModelSpec, query: dict, settings: ClassSettings) -> ModelSpec:
    """A link's spec where the link names no epochs or training images: as the class starts
    a preset (at most the class's epochs, the class's training images), so a link shared
    outside the class (which names neither) opens within the teacher's settings."""
    changes = {}
    if "epochs" not in query and settings.max_epochs is not None:
        changes["epochs"] = min(spec.epochs, settings.max_epochs)
    if "train_images" not in query and settings.train_images is not None:
        changes["train_images"] = settings.train_images
    return spec.replace(**changes) if changes else spec


def _write_link(spec: ModelSpec) -> None:
    """Keeps the page's link equal to the form, so copying it shares the settings."""
    query = links.to_query(spec, st.session_state.get("preset"))
    for key in list(st.query_params):
        if (key == links.PRESET_KEY or key in links.FIELDS) and key not in query:
            del st.query_params[key]
    for key, value in query.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    st.session_state["spec_link"] = _link_in_url()


def render(dataset: str, settings: ClassSettings, server_limit: int | None
           ) -> tuple[ModelSpec | None, str | None]:
    """Draws the form within the class's settings; returns (spec, None) or (None, the
    sentence saying what is wrong).

    Args:
        dataset: the sidebar's dataset.
        settings: the class's settings (`JobQueue.settings()`).
        server_limit: the training images this server lets a run have (None: all).
    """
    # both datasets hold 60,000 training images: known without loading one, whose absence
    # is the page's sentence once the spec is whole
    available = min(server_limit or MAX_TRAIN_IMAGES, MAX_TRAIN_IMAGES)
    _open_link(settings, available)
    if problem := st.session_state.pop("spec_link_problem", None):
        st.warning(problem)
    saved = _restore_state(settings)
    cap = min(settings.train_images or available, available)
    start = _hold(settings, cap)
    # the box names the preset the fields hold, or "custom" once any field changed (only
    # where the teacher left a knob open)
    options = [*settings.presets, *([CUSTOM] * bool(settings.knobs))]
    shown = _matching_preset(_values_in_state(saved), settings)
    st.session_state["preset"] = shown if shown in options else st.session_state["spec_start"]
    st.selectbox("Start from a preset", options,
                 key="preset", on_change=_on_preset, args=(settings,),
                 help="Choosing a preset fills in every field below; then change anything "
                      "your teacher left open.")
    name = st.session_state["preset"]
    st.caption(PRESET_NOTES.get(name) or "Custom: your own changes to a preset. Pick a "
               "preset above to start again from it.")
    locked = set(settings.locked)
    blocks, filters = _architecture(locked)
    _say_locked(locked & set(ARCHITECTURE), start)
    use_target = _training(locked, cap, settings.max_epochs or MAX_EPOCHS)
    _say_bounds(settings, cap, available, locked, start)
    # the rest behind a switch: fewer stops for a keyboard on the way to Start, and the
    # knobs of the classic lessons in sight
    if st.toggle("Show every setting: padding, activation, batch norm, optimizer, learning "
                 "rate, augmentation…", key="spec_every_setting"):
        _every_setting(blocks, locked)
        _say_locked(locked - set(ARCHITECTURE) - set(TRAINING), start)

    values = {f.name: st.session_state.get(_key(f.name), getattr(saved, f.name))
              for f in dataclasses.fields(ModelSpec)}
    values.update(dataset=dataset, filters=filters,
                  target_accuracy=st.session_state["spec_target"] if use_target else None,
                  train_images=_images_value(cap))
    if not blocks:
        values.update(conv_blocks=0)
    try:
        spec = ModelSpec(**values)
    except SpecError as err:
        return None, err.student
    st.session_state["train_spec"] = spec
    _write_link(spec)
    return spec, None


def _restore_state(settings: ClassSettings) -> ModelSpec:
    """Gives every widget of the form its value before it is drawn; returns the last valid
    spec. Streamlit forgets the state of widgets that were not drawn (another page, a hidden
    field), so that spec is kept under a plain key and written back."""
    saved = st.session_state.get("train_spec") or settings.start(settings.default_start)
    if _key("epochs") not in st.session_state:
        _load(saved)
    for field in dataclasses.fields(ModelSpec):
        st.session_state.setdefault(_key(field.name), getattr(saved, field.name))
    for block in range(MAX_CONV_BLOCKS):
        st.session_state.setdefault(f"spec_filters_{block}", DEFAULT_FILTERS)
    st.session_state.setdefault("spec_use_target", saved.target_accuracy is not None)
    st.session_state.setdefault("spec_target", saved.target_accuracy or DEFAULT_TARGET)
    return saved


def _hold(settings: ClassSettings, cap: int) -> ModelSpec:
    """Keeps the form within the class's settings (the teacher may have changed them since
    it was drawn): every locked knob at the value of the preset the student started from,
    the epochs and the training images within their bounds. Returns that preset's start."""
    state = st.session_state
    name = state.get("spec_start")
    if name not in settings.presets:
        name = state["spec_start"] = settings.default_start
    start = settings.start(name)
    for field in settings.locked:
        state[_key(field)] = getattr(start, field)
    if "filters" in settings.locked:
        for block, filters in enumerate(start.filters):
            state[f"spec_filters_{block}"] = filters
    if "target_accuracy" in settings.locked:
        state["spec_use_target"] = start.target_accuracy is not None
        state["spec_target"] = start.target_accuracy or DEFAULT_TARGET
    if settings.max_epochs is not None:
        state[_key("epochs")] = min(state[_key("epochs")], settings.max_epochs)
    images = state.get(_key("train_images"))
    if cap >= MIN_TRAIN_IMAGES and (images is None or images > cap):
        state[_key("train_images")] = cap  # the class's images, or all this server has
    return start


def _images_value(cap: int) -> int | None:
    """The spec's `train_images` from the form: None (every image) for the whole training
    set, and where this server has fewer than a run's least."""
    images = st.session_state.get(_key("train_images"))
    if cap < MIN_TRAIN_IMAGES or images is None or images >= MAX_TRAIN_IMAGES:
        return None
    return images


def _say_locked(fields: set[str], start: ModelSpec) -> None:
    """One line under a part of the form naming its locked knobs and their values."""
    if fields:
        ordered = [f for f in KNOBS if f in fields]
        st.caption(f"Your teacher {locked_words(ordered, start)}.")


def _say_bounds(settings: ClassSettings, cap: int, available: int, locked: set[str],
                start: ModelSpec) -> None:
    """One line under the training knobs: the teacher's bounds and locks there, or this
    server's own limit on the training images."""
    bounds = []
    if settings.max_epochs is not None and "epochs" not in locked:
        bounds.append(plural(settings.max_epochs, "epoch"))
    if settings.train_images is not None and settings.train_images <= available:
        bounds.append(plural(settings.train_images, "training image"))
    said = [f"Your teacher set at most {' and '.join(bounds)}."] if bounds else []
    if settings.train_images is None or settings.train_images > available:
        if available < MAX_TRAIN_IMAGES:
            said.append(f"This server trains on at most {plural(available, 'image')}.")
    if fixed := [f for f in TRAINING if f in locked]:
        said.append(f"Your teacher {locked_words(fixed, start)}.")
    if said:
        st.caption(" ".join(said))


def _architecture(locked: set[str]) -> tuple[int, tuple[int, ...]]:
    """The architecture's knobs; returns (conv blocks, filters per block)."""
    st.markdown("**Architecture**")
    c1, c2, c3 = st.columns(3)
    blocks = c1.slider("Conv blocks (0: dense only)", 0, MAX_CONV_BLOCKS, key=_key("conv_blocks"),
                       disabled="conv_blocks" in locked)
    c2.select_slider("Dense units", DENSE_CHOICES, key=_key("dense_units"),
                     disabled="dense_units" in locked)
    c3.slider("Dropout", 0.0, 0.9, step=0.05, key=_key("dropout"), disabled="dropout" in locked,
              help="Fraction of the dense layer's inputs switched off at random while "
                   "training, so the network cannot rely on any single one.")
    filters = ()
    if blocks:
        filters = tuple(
            col.select_slider(f"Filters, block {b + 1}", FILTER_CHOICES, key=f"spec_filters_{b}",
                              disabled="filters" in locked)
            for b, col in enumerate(st.columns(MAX_CONV_BLOCKS)[:blocks]))
        c1, c2, _ = st.columns(3)
        c1.select_slider("Kernel size", list(range(1, 10)), key=_key("kernel_size"),
                         disabled="kernel_size" in locked)
        c2.selectbox("Pooling", POOLINGS, key=_key("pooling"), disabled="pooling" in locked)
    return blocks, filters


def _training(locked: set[str], cap: int, max_epochs: int) -> bool:
    """The training knobs in sight: epochs, training images and the target; returns whether
    a target is on."""
    st.markdown("**Training**")
    c1, c2, c3 = st.columns(3)
    c1.number_input("Epochs", 1, max_epochs, key=_key("epochs"), disabled="epochs" in locked)
    if cap >= MIN_TRAIN_IMAGES:
        c2.number_input("Training images", MIN_TRAIN_IMAGES, cap, step=IMAGES_STEP,
                        key=_key("train_images"),
                        help="The first this many training images, the validation images "
                             "among them: fewer train faster and reach a lower accuracy.")
    use_target = c3.toggle("Target accuracy", key="spec_use_target",
                           disabled="target_accuracy" in locked,
                           help="Like the classic callback: stop once validation accuracy "
                                "reaches the target.")
    if use_target:  # not a greyed-out slider: its faint label is hard to read
        c3.slider("Target", 0.5, 0.99, step=0.01, key="spec_target", format="%.2f",
                  disabled="target_accuracy" in locked)
    return use_target


def _every_setting(blocks: int, locked: set[str]) -> None:
    """The settings beyond the classic lessons' knobs (a locked one disabled)."""
    def off(field: str) -> bool:
        return field in locked

    if blocks:
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Padding", PADDINGS, key=_key("padding"), disabled=off("padding"),
                     help="valid: a 3×3 kernel shrinks 28→26; same: keeps 28.")
        c2.selectbox("Convs per block", (1, 2, 3), key=_key("convs_per_block"),
                     disabled=off("convs_per_block"))
        c3.select_slider("Pool size", list(range(1, 8)), key=_key("pool_size"),
                         disabled=off("pool_size"),
                         help="2 keeps one value per 2×2 block: the map shrinks to a quarter.")
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Activation", ACTIVATIONS, key=_key("activation"), disabled=off("activation"))
    if blocks:
        c2.toggle("Batch norm", key=_key("batch_norm"), disabled=off("batch_norm"),
                  help="Normalises each conv layer's output during training: steadier, "
                       "faster learning.")
    c3.number_input("Seed", 0, 2**31 - 1, key=_key("seed"), disabled=off("seed"))
    c1, c2, c3 = st.columns(3)
    c1.select_slider("Batch size", BATCH_CHOICES, key=_key("batch_size"),
                     disabled=off("batch_size"))
    c2.selectbox("Optimizer", OPTIMIZERS, key=_key("optimizer"), disabled=off("optimizer"))
    c3.select_slider("Learning rate", LR_CHOICES, key=_key("learning_rate"),
                     disabled=off("learning_rate"), format_func=lambda v: f"{v:g}")
    c1, c2, c3 = st.columns(3)
    c1.segmented_control(
        "Rate schedule", LR_SCHEDULES, key=_key("lr_schedule"), required=True,
        disabled=off("lr_schedule"),
        help="constant keeps the learning rate; cosine glides it down to 0 by the last "
             "epoch, so the last steps make small, careful changes.")
    c2.slider("Validation split", 0.0, 0.3, step=0.05, key=_key("validation_split"),
              disabled=off("validation_split"),
              help="The last part of the training images, kept aside to measure how well "
                   "the network does on images it does not train on.")
    c3.slider("Label smoothing", 0.0, 0.3, step=0.05, key=_key("label_smoothing"),
              disabled=off("label_smoothing"),
              help="0.1 trains toward 90 % on the right class instead of 100 %: the network "
                   "stays less sure of itself. Its training loss then cannot reach 0.")
    c1, c2, _ = st.columns(3)
    c1.segmented_control(
        "Augmentation", AUGMENTS, key=_key("augment"), required=True, disabled=off("augment"),
        help="flip mirrors a random half of each batch left to right while training: a "
             "mirrored shirt is still a shirt, so the network sees more kinds of shirt. "
             "Not for digits: a mirrored 2 is no digit.")
    c2.toggle("Test-time flip", key=_key("test_flip"), disabled=off("test_flip"),
              help="Answers with the average of two looks: the picture and its mirror "
                   "image. Needs flip augmentation, so the mirror looks familiar.")
