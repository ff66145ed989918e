"""Predict: draw or upload a picture, watch it become 28×28, see what the network thinks."""

import numpy as np
import streamlit as st

from fmnist_core.data.datasets import class_names
from fmnist_core.data.decoding import ImageError
from fmnist_core.store.records import RunNotFoundError
from fmnist_core.words import percent, plural
from ui import charts, drawing, explain_views, probe_views, resources, router, run_choice
from ui.figures import classes, images

router.require_app()

INVERT = {"auto": "auto", "on": True, "off": False}
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"]
STEPS_PER_ROW = 4

st.title("Predict", anchor=False)
st.caption("Draw a piece of clothing or upload a photo. The studio turns it into the kind of "
           "picture the network was trained on (28×28, light object on a dark background), "
           "step by step, and shows how sure the network is about each class.")

runs = run_choice.require_runs(
    run_choice.finished_runs(),
    "There is no trained model yet: train one on the Train page (the quick preset "
    "takes about a minute), then come back here.")
default_id, why = run_choice.default_run()
if st.session_state.get("predict_run") not in runs:
    st.session_state["predict_run"] = default_id
students = resources.run_store().owner_names()
run_id = st.selectbox("Model", list(runs),
                      format_func=lambda i: run_choice.run_label(runs[i], students),
                      key="predict_run", help="Any finished run: yours or a classmate's.")
if run_id == default_id:
    st.caption(f"This is {why}; pick any other finished run above.")
try:  # before anything is drawn: a server that lacks the run's file says so first
    resources.model(run_id)
except (RunNotFoundError, OSError, ValueError):
    st.error(f"The saved model of run {run_id[:6]} could not be opened; pick another run.")
    st.stop()
dataset = runs[run_id]["spec"].dataset
names = class_names(dataset)

source = st.segmented_control("Input", ["Draw", "Upload"], default="Draw", required=True,
                              key="predict_source")
raw = None
if source == "Draw":
    st.caption("Draw light on dark, like the dataset's pictures, and fill the frame: "
               "a sneaker seen from the side, a T-shirt, a bag…")
    pen, clear = st.columns([3, 1], vertical_alignment="bottom")
    width = pen.slider("Pen width", 5, 50, 22, key="predict_pen")
    if clear.button("Clear the canvas", key="predict_clear"):
        st.session_state["predict_canvas_round"] = st.session_state.get(
            "predict_canvas_round", 0) + 1
    round_ = st.session_state.get("predict_canvas_round", 0)
    try:
        raw = drawing.canvas(width, key=f"predict_canvas_{round_}")
    except ImageError as err:
        st.error(str(err))
        st.stop()
else:
    upload = st.file_uploader("A photo or picture", type=UPLOAD_TYPES, key="predict_upload",
                              help="One item on a plain background works best.")
    raw = upload.getvalue() if upload is not None else None

with st.expander("Preprocessing switches: invert, trim, fit, centre"):
    st.caption("Switch a step off to see how much the network depends on it.")
    a, b, c, d = st.columns(4)
    invert = a.segmented_control("Invert", list(INVERT), default="auto", required=True,
                                 key="predict_invert",
                                 help="auto inverts a light background to dark.")
    trim = b.toggle("Trim the background", True, key="predict_trim")
    fit = c.toggle("Keep the aspect ratio", True, key="predict_fit")
    center = d.toggle("Centre the shape", True, key="predict_center")

if raw is None:
    st.caption("Draw something… the network answers as soon as you let go of the mouse."
               if source == "Draw"
               else "Upload a PNG, JPEG, WebP, GIF, BMP or TIFF picture to classify it.")
    st.stop()
result, problem = resources.preprocessed(raw, dataset, INVERT[invert], trim, fit, center)
if problem is not None:
    if source == "Draw":
        st.caption("Draw something… the canvas looks empty so far.")
    else:
        st.error(problem)
    st.stop()
image = np.array(result.image, dtype=np.uint8)
st.session_state["last_drawing"] = image

st.subheader("From your picture to 28×28")
# at most four steps a row: seven columns broke words in two on a projector
for row in range(0, len(result.steps), STEPS_PER_ROW):
    for column, step in zip(st.columns(STEPS_PER_ROW), result.steps[row:row + STEPS_PER_ROW]):
        h, w = step.image.shape
        charts.show(images.image(step.image, height=180), key=f"predict_step_{step.name}",
                    where=column, alt=f"{step.name}: {step.note}")
        column.markdown(f"**{step.name}** · {w}×{h}")
        column.caption(step.note)

maps, probs = resources.extractor(run_id)(image)
best = int(np.argmax(probs))
probe_views.unusual_warning(run_id, image, dataset, source)
st.subheader(f"The network thinks: {names[best]} ({percent(probs[best])})")
seen, chart = st.columns([1, 2])
seen.markdown("**What the network sees** · 28×28")
charts.show(images.image(image, height=300), where=seen,
            alt="The 28×28 picture the network sees, light on dark.")
with chart:
    top_k = st.slider("Classes shown", 1, len(names), 5, key="predict_top_k")
    bars = classes.probabilities(probs, names, top_k)
    charts.show(bars, alt=charts.describe(bars, "How sure the network is of each class"))
    st.caption("The last layer's softmax turns the network's scores into probabilities that "
               "add up to 100 %. A drawing is not a photo: a low score often means your "
               "picture looks unlike the training images — compare it on the Data page.")

if st.toggle("Show what it looks at: occlusion and Grad-CAM", key="predict_looks"):
    explain_views.looks_at(run_id, image, probs, names, key="predict")

if st.toggle("Show the feature maps of your picture", key="predict_maps"):
    if not maps:
        st.caption("This model has no convolution layers, so there are no feature maps.")
    st.caption("Each small square is one filter's answer to your picture: bright where it "
               "found its pattern. Convolutions lose a border (or keep the size with 'same' "
               "padding); pooling halves the map and keeps the strongest answers.")
    for fm in maps:
        h, w, c = fm.shape
        charts.show(images.mosaic(fm.maps, f"{fm.name} · {h}×{w} · {plural(c, 'filter')}"),
                    key=f"predict_map_{fm.name}")
