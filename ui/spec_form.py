"""The spec form of the Train page: presets, every knob, and the ModelSpec it makes."""

from __future__ import annotations

import dataclasses

import streamlit as st

from fmnist_core.nets import links
from fmnist_core.nets.spec import (ACTIVATIONS, AUGMENTS, LR_SCHEDULES, MAX_CONV_BLOCKS,
                                   OPTIMIZERS, PADDINGS, POOLINGS, PRESET_NOTES, ModelSpec,
                                   SpecError, presets)

FILTER_CHOICES = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 256)
LR_CHOICES = (1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0, 10.0)
BATCH_CHOICES = (16, 32, 64, 128, 256, 512, 1024)
DENSE_CHOICES = (0, 32, 64, 128, 256, 512, 1024)
CUSTOM = "custom"
# A block's filters and the target accuracy start at these when the form holds none.
DEFAULT_FILTERS = 32
DEFAULT_TARGET = 0.9


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


def _on_preset() -> None:
    name = st.session_state.get("preset")
    if name in presets():
        _load(presets()[name])


def _matching_preset(values: dict) -> str:
    """The preset the form's current values are, or "custom" after any change."""
    for name, spec in presets().items():
        if all(values.get(k) == v for k, v in spec.to_dict().items() if k != "dataset"):
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


def _open_link() -> None:
    """Fills the form from a link the first time it is seen (a shared link, a bookmark);
    a bad one is one sentence and the defaults. A link never starts a training."""
    link = _link_in_url()
    if not link or st.session_state.get("spec_link") == link:
        return
    st.session_state["spec_link"] = link
    spec, problem = links.from_query(dict(link))
    if problem:
        st.session_state["spec_link_problem"] = problem
        spec = presets()["seed-cnn"]
    _load(spec)
    st.session_state["train_spec"] = spec
    if spec.dataset != st.session_state.get("dataset", spec.dataset):
        st.session_state["dataset"] = spec.dataset


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


def render(dataset: str) -> tuple[ModelSpec | None, str | None]:
    """Draws the form; returns (spec, None) or (None, the sentence saying what is wrong)."""
    _open_link()
    if problem := st.session_state.pop("spec_link_problem", None):
        st.warning(problem)
    saved = _restore_state()
    # the box names the preset the fields hold, or "custom" once any field changed
    st.session_state["preset"] = _matching_preset(_values_in_state(saved))
    st.selectbox("Start from a preset", [*presets(), CUSTOM], key="preset",
                 on_change=_on_preset,
                 help="Choosing a preset fills in every field below; then change anything.")
    name = st.session_state["preset"]
    st.caption(PRESET_NOTES.get(name) or "Custom: your own changes to a preset. Pick a "
               "preset above to start again from it.")
    blocks, filters = _architecture()
    use_target = _training()
    # the rest behind a switch: fewer stops for a keyboard on the way to Start, and the
    # knobs of the classic lessons in sight
    if st.toggle("Show every setting: padding, activation, batch norm, optimizer, learning "
                 "rate, augmentation…", key="spec_every_setting"):
        _every_setting(blocks)

    values = {f.name: st.session_state.get(_key(f.name), getattr(saved, f.name))
              for f in dataclasses.fields(ModelSpec)}
    values.update(dataset=dataset, filters=filters,
                  target_accuracy=st.session_state["spec_target"] if use_target else None)
    if not blocks:
        values.update(conv_blocks=0)
    try:
        spec = ModelSpec(**values)
    except SpecError as err:
        return None, err.student
    st.session_state["train_spec"] = spec
    _write_link(spec)
    return spec, None


def _restore_state() -> ModelSpec:
    """Gives every widget of the form its value before it is drawn; returns the last valid
    spec. Streamlit forgets the state of widgets that were not drawn (another page, a hidden
    field), so that spec is kept under a plain key and written back."""
    saved = st.session_state.get("train_spec") or presets()["seed-cnn"]
    if _key("epochs") not in st.session_state:
        _load(saved)
    for field in dataclasses.fields(ModelSpec):
        st.session_state.setdefault(_key(field.name), getattr(saved, field.name))
    for block in range(MAX_CONV_BLOCKS):
        st.session_state.setdefault(f"spec_filters_{block}", DEFAULT_FILTERS)
    st.session_state.setdefault("spec_use_target", saved.target_accuracy is not None)
    st.session_state.setdefault("spec_target", saved.target_accuracy or DEFAULT_TARGET)
    return saved


def _architecture() -> tuple[int, tuple[int, ...]]:
    """The architecture's knobs; returns (conv blocks, filters per block)."""
    st.markdown("**Architecture**")
    c1, c2, c3 = st.columns(3)
    blocks = c1.slider("Conv blocks (0: dense only)", 0, MAX_CONV_BLOCKS, key=_key("conv_blocks"))
    c2.select_slider("Dense units", DENSE_CHOICES, key=_key("dense_units"))
    c3.slider("Dropout", 0.0, 0.9, step=0.05, key=_key("dropout"),
              help="Fraction of the dense layer's inputs switched off at random while "
                   "training, so the network cannot rely on any single one.")
    filters = ()
    if blocks:
        filters = tuple(
            col.select_slider(f"Filters, block {b + 1}", FILTER_CHOICES, key=f"spec_filters_{b}")
            for b, col in enumerate(st.columns(MAX_CONV_BLOCKS)[:blocks]))
        c1, c2, _ = st.columns(3)
        c1.select_slider("Kernel size", list(range(1, 10)), key=_key("kernel_size"))
        c2.selectbox("Pooling", POOLINGS, key=_key("pooling"))
    return blocks, filters


def _training() -> bool:
    """The training knobs in sight: epochs and the target; returns whether a target is on."""
    st.markdown("**Training**")
    c1, c2, c3 = st.columns(3)
    c1.number_input("Epochs", 1, 200, key=_key("epochs"))
    use_target = c2.toggle("Target accuracy", key="spec_use_target",
                           help="Like the classic callback: stop once validation accuracy "
                                "reaches the target.")
    if use_target:  # not a greyed-out slider: its faint label is hard to read
        c3.slider("Target", 0.5, 0.99, step=0.01, key="spec_target", format="%.2f")
    return use_target


def _every_setting(blocks: int) -> None:
    """The settings beyond the classic lessons' knobs."""
    if blocks:
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Padding", PADDINGS, key=_key("padding"),
                     help="valid: a 3×3 kernel shrinks 28→26; same: keeps 28.")
        c2.selectbox("Convs per block", (1, 2, 3), key=_key("convs_per_block"))
        c3.select_slider("Pool size", list(range(1, 8)), key=_key("pool_size"),
                         help="2 keeps one value per 2×2 block: the map shrinks to a quarter.")
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Activation", ACTIVATIONS, key=_key("activation"))
    if blocks:
        c2.toggle("Batch norm", key=_key("batch_norm"),
                  help="Normalises each conv layer's output during training: steadier, "
                       "faster learning.")
    c3.number_input("Seed", 0, 2**31 - 1, key=_key("seed"))
    c1, c2, c3 = st.columns(3)
    c1.select_slider("Batch size", BATCH_CHOICES, key=_key("batch_size"))
    c2.selectbox("Optimizer", OPTIMIZERS, key=_key("optimizer"))
    c3.select_slider("Learning rate", LR_CHOICES, key=_key("learning_rate"),
                     format_func=lambda v: f"{v:g}")
    c1, c2, c3 = st.columns(3)
    c1.segmented_control(
        "Rate schedule", LR_SCHEDULES, key=_key("lr_schedule"), required=True,
        help="constant keeps the learning rate; cosine glides it down to 0 by the last "
             "epoch, so the last steps make small, careful changes.")
    c2.slider("Validation split", 0.0, 0.3, step=0.05, key=_key("validation_split"),
              help="The last part of the training images, kept aside to measure how well "
                   "the network does on images it does not train on.")
    c3.slider("Label smoothing", 0.0, 0.3, step=0.05, key=_key("label_smoothing"),
              help="0.1 trains toward 90 % on the right class instead of 100 %: the network "
                   "stays less sure of itself. Its training loss then cannot reach 0.")
    c1, c2, _ = st.columns(3)
    c1.segmented_control(
        "Augmentation", AUGMENTS, key=_key("augment"), required=True,
        help="flip mirrors a random half of each batch left to right while training: a "
             "mirrored shirt is still a shirt, so the network sees more kinds of shirt. "
             "Not for digits: a mirrored 2 is no digit.")
    c2.toggle("Test-time flip", key=_key("test_flip"),
              help="Answers with the average of two looks: the picture and its mirror "
                   "image. Needs flip augmentation, so the mirror looks familiar.")
