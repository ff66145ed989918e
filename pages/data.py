"""Data: browse the dataset, then convolve one image by hand with a 3×3 kernel."""

import numpy as np
import streamlit as st

from fmnist_core.data import gallery
from fmnist_core.explain import arithmetic, convolution, kernels
from ui import charts, resources, router
from ui.figures import classes, images, style

router.require_app()

CUSTOM = "Custom"
VIEWS = ("Samples per class", "Class counts", "Convolution by hand")
SPLITS = {"Training set": "training", "Test set": "test"}
WEIGHTS = [[f"lab_k{r}{c}" for c in range(3)] for r in range(3)]
KEPT = ("data_class", "data_split", "data_index", "data_view", "lab_kernel", "lab_normalize",
        "lab_explain", "lab_row", "lab_col", *(key for row in WEIGHTS for key in row))


def keep_state() -> None:
    """Streamlit forgets the state of widgets that were not drawn (another page, another
    view), so the page keeps it under a plain key and writes it back."""
    kept = st.session_state.setdefault("data_kept", {})
    for key in KEPT:
        if key in st.session_state:
            kept[key] = st.session_state[key]
        elif key in kept:
            st.session_state[key] = kept[key]
    st.session_state.setdefault("data_split", "Training set")
    st.session_state.setdefault("data_view", VIEWS[0])


def clip_weight(key: str) -> None:
    st.session_state[key], st.session_state["lab_note"] = kernels.clip_weight(
        st.session_state.get(key))


data = resources.dataset()
names = data.class_names
keep_state()

st.title("Data", anchor=False)
st.caption(f"{len(data.x_train) + len(data.x_test):,} grayscale pictures of 28×28 pixels in "
           f"{data.num_classes} classes: {len(data.x_train):,} to train on and "
           f"{len(data.x_test):,} kept apart to test. Each pixel is a number from 0 (black) to "
           "255 (white), and the object is light on a dark background. " + data.note)

pick, big = st.columns([1, 2])
with pick:
    label = st.selectbox("Class", range(data.num_classes), format_func=names.__getitem__,
                         key="data_class")
    split = SPLITS[st.segmented_control("Split", list(SPLITS), required=True,
                                        key="data_split") or "Training set"]
    x, y = (data.x_train, data.y_train) if split == "training" else (data.x_test, data.y_test)
    members = gallery.class_indices(y, label)
    if not len(members):
        st.caption(f"The {split} set has no {names[label]} images.")
        st.stop()
    if st.session_state.get("data_index", 0) >= len(members):
        st.session_state["data_index"] = len(members) - 1
    n = st.number_input(f"Which {names[label]} (0 to {len(members) - 1:,})", 0,
                        len(members) - 1, step=1, key="data_index")
    image = x[members[n]]
    array = "x_train" if split == "training" else "x_test"
    st.caption(f"It is {array}[{members[n]}]: picture {members[n] + 1:,} of the {len(x):,} "
               f"in the {split} set (Python counts from 0). Hover over it to read the pixel "
               "values: the network sees nothing but these 784 numbers.")
with big:
    charts.show(images.image(image, f"{names[label]} · 28×28", height=420))

view = st.segmented_control("Show", VIEWS, required=True, key="data_view") or VIEWS[0]

if view == "Samples per class":
    st.caption("Eight pictures of every class. Look for the pairs a network might confuse: "
               "shirts, T-shirts, pullovers and coats share a silhouette.")
    seed = st.session_state.get("data_seed")
    if st.button("Show other samples", key="data_shuffle"):
        seed = st.session_state["data_seed"] = int(np.random.default_rng().integers(1 << 31))
    grid = gallery.samples_per_class(data.y_train, data.num_classes, 8, seed)
    charts.show(images.sample_grid(data.x_train[grid], names, grid))

elif view == "Class counts":
    st.caption("How many pictures each class has. Equal bars mean a balanced dataset: plain "
               "accuracy is then a fair score, and guessing at random is right about "
               f"{1 / data.num_classes:.0%} of the time.")
    counts = {"train": gallery.class_counts(data.y_train, data.num_classes).tolist(),
              "test": gallery.class_counts(data.y_test, data.num_classes).tolist()}
    charts.show(classes.grouped_bars(list(names), counts))

else:
    st.caption("A 3×3 kernel slides over the 28×28 image; at each position it multiplies the "
               "nine pixels under it by its nine weights and adds the products up. Without "
               "padding the output is 26×26. Max pooling keeps the largest of each 2×2 block, "
               "quartering the map to 13×13. A Conv2D layer learns many such kernels by itself.")
    left, right = st.columns([2, 1])
    with left:
        choice = st.selectbox("Kernel", [*kernels.KERNELS, CUSTOM], key="lab_kernel")
        st.caption(kernels.KERNEL_NOTES.get(choice, "Type your own nine weights: try a "
                                            "kernel that responds to diagonal lines."))
        normalize = st.toggle("Stretch to min–max instead of clipping", key="lab_normalize",
                              help="Clipping hides negative responses; stretching shows them.")
    with right:
        if choice != CUSTOM:  # the cells show the kernel in use, rounded for reading
            shown = kernels.readable_weights(kernels.KERNELS[choice])
            for (r, c), weight in np.ndenumerate(shown):
                st.session_state[WEIGHTS[r][c]] = float(weight)
        for r, row in enumerate(st.columns(3) for _ in range(3)):
            for c, cell in enumerate(row):
                cell.number_input(f"w{r}{c}", step=1.0, format="%g", key=WEIGHTS[r][c],
                                  on_change=clip_weight, args=(WEIGHTS[r][c],),
                                  label_visibility="collapsed", disabled=choice != CUSTOM)
        if note := st.session_state.pop("lab_note", None):
            st.info(note)
        if choice != CUSTOM:
            kernel = kernels.KERNELS[choice]
            fraction = kernels.common_denominator(kernel)
            st.caption("Pick “Custom” to edit the weights." + (
                f" Shown rounded: every weight is a multiple of 1/{fraction}."
                if fraction and fraction > 1 else ""))
        else:
            kernel = np.array([[st.session_state[key] for key in row] for row in WEIGHTS],
                              dtype=np.float32)

    conv = convolution.convolve2d(image, kernel)
    pooled = convolution.pool2d(conv, 2, mode="max")
    show = convolution.normalize_for_display if normalize else convolution.clip_to_uint8
    lab = images.image_steps([
        ("Image · 28×28", image, None),
        (f"Convolved · {conv.shape[0]}×{conv.shape[1]}", show(conv), conv),
        (f"Max-pooled · {pooled.shape[0]}×{pooled.shape[1]}", show(pooled), pooled)])
    st.caption(
        f"{image.shape[0]}×{image.shape[1]} → convolution {conv.shape[0]}×{conv.shape[1]} → "
        f"2×2 max pooling {pooled.shape[0]}×{pooled.shape[1]}, drawn at one scale: a pixel is "
        "as big in every map. "
        + ("Each map is stretched so its lowest value is black and its highest white."
           if normalize else "Sums below 0 are drawn black and above 255 white, as in the "
           "classic tutorial; hover shows the real sum."))

    explain = st.toggle("Show the arithmetic of one pixel", key="lab_explain")
    if explain:
        a, b = st.columns(2)
        st.session_state.setdefault("lab_row", conv.shape[0] // 2)
        st.session_state.setdefault("lab_col", conv.shape[1] // 2)
        row = a.slider("Output row", 0, conv.shape[0] - 1, key="lab_row")
        col = b.slider("Output column", 0, conv.shape[1] - 1, key="lab_col")
        px = arithmetic.explain_pixel(image, kernel, row, col)
        window, kept = arithmetic.explain_pool(conv, row // 2, col // 2)
        images.outline(lab, row, col, kernel.shape[0])
        images.outline(lab, row, col, panel=2)
        images.outline(lab, row // 2 * 2, col // 2 * 2, 2, color=style.TRAIN_COLOR, panel=2)
        images.outline(lab, row // 2, col // 2, panel=3)
    charts.show(lab, key="lab_maps")

    if explain:
        st.caption(f"Output pixel ({row}, {col}) sits on the 3×3 patch whose top-left corner "
                   f"is input pixel ({row}, {col}). Multiply patch and kernel cell by cell, "
                   "then add the nine products:")
        for column, (grid, title, sym) in zip(st.columns(3), (
                (px.patch, "Patch of the image", False), (px.kernel, "Kernel", True),
                (px.products, "Products", True))):
            charts.show(images.number_grid(grid, title, symmetric=sym), where=column)
        st.code(px.formula, language=None, wrap_lines=True)
        st.caption(f"Pooled pixel ({row // 2}, {col // 2}) comes from the blue 2×2 window at "
                   f"rows {row // 2 * 2}–{row // 2 * 2 + 1}, columns {col // 2 * 2}–"
                   f"{col // 2 * 2 + 1} of the convolved map; max pooling keeps "
                   f"{kept:.4g}, the largest of its four values.")
        charts.show(images.number_grid(window, "2×2 pooling window", symmetric=True,
                                       height=200), width="content")
