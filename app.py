"""Fashion-MNIST CNN Studio: the router. Pages live in pages/, helpers in ui/."""

import streamlit as st

from fmnist_core import logs
from ui import identity, passcode, resources, router, sidebar, store_outage

# The hanger of Material Symbols' "checkroom", inline: as ":material/checkroom:" the browser
# fetches the tab icon from fonts.gstatic.com, which an offline classroom cannot reach.
PAGE_ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path fill="#3b5bdb" '
             'd="M21.6 18.2 13 11.75v-.91c1.65-.49 2.8-2.17 2.43-4.05-.26-1.31-1.3-2.4-2.61-2.7'
             'C10.54 3.57 8.5 5.3 8.5 7.5h2c0-.83.67-1.5 1.5-1.5s1.5.67 1.5 1.5c0 .84-.69 1.52'
             '-1.53 1.5-.54-.01-.97.45-.97.99v1.76L2.4 18.2c-.77.58-.36 1.8.6 1.8h18c.96 0 1.37'
             '-1.22.6-1.8zM6 18l6-4.5 6 4.5H6z"/></svg>')

COMPACT_PAGE = """<style>
[data-testid="stMainBlockContainer"] { padding: 4rem 1.5rem 6rem 1.5rem; }
[data-testid="stWidgetLabel"][disabled] p { color: rgba(17, 17, 17, 0.7); }
@media (min-width: 768px) {
  [data-testid="stSidebar"][data-collapsed="false"] { width: 240px !important;
                                                    min-width: 240px !important; }
}
</style>"""

logs.configure()  # where the engine's and the helpers' log lines go ($STUDIO_LOG_LEVEL)
router.keep_keras_state()
router.refuse_cache_clearing()
router.mark_routed()

# A narrower sidebar and margins than Streamlit's wide layout: on a projector's 1024 pixels
# its 300-pixel sidebar and 80-pixel margins left a table 560 pixels, and the top padding
# pushed a training's live curves below the fold. A disabled widget's label (a knob the
# teacher fixed) stays readable: Streamlit fades it to 2.6 to 1 against white, this reads at 7 to 1.
st.set_page_config(page_title="Fashion-MNIST CNN Studio", page_icon=PAGE_ICON, layout="wide")
st.html(COMPACT_PAGE)

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/photo_library:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/show_chart:"),
    st.Page("pages/inspect.py", title="Inspect", icon=":material/biotech:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/draw:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:"),
    st.Page("pages/lessons.py", title="Lessons", icon=":material/quiz:"),
]
if passcode.teacher_passcode():  # no passcode set: no teacher view on this server
    pages.append(st.Page("pages/teacher.py", title="Teacher", icon=":material/school:"))
page = st.navigation(pages)
resources.run_store()  # a store that cannot be opened is one sentence on every page
identity.keep_cookies()
with router.routing():
    # a lost database anywhere on the page or its sidebar is one sentence
    store_outage.run_page(page, sidebar=sidebar.render)
