"""Fashion-MNIST CNN Studio: the router. Pages live in pages/, helpers in ui/."""

import streamlit as st

from ui import resources, router, sidebar

router.keep_keras_state()
router.mark_routed()

st.set_page_config(page_title="Fashion-MNIST CNN Studio", page_icon=":material/checkroom:", layout="wide")

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/photo_library:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/show_chart:"),
    st.Page("pages/inspect.py", title="Inspect", icon=":material/biotech:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/draw:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:"),
]
page = st.navigation(pages)
resources.run_store()  # a store that cannot be opened is one sentence on every page
sidebar.render()
page.run()
