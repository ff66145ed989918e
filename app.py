"""Fashion-MNIST CNN Studio: the router. Pages live in pages/, helpers in ui/."""

import streamlit as st

st.set_page_config(page_title="Fashion-MNIST CNN Studio", page_icon="🧥", layout="wide")
st.title("Fashion-MNIST CNN Studio")
st.caption("The pages arrive with the studio; the engine is usable today from "
           "`python -m fmnist_core`.")
