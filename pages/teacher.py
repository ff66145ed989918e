"""Teacher: every run with its student, stop or delete any run, the line, the leaderboard,
the class's settings."""

import streamlit as st

from ui import class_settings, identity, lesson_teacher, passcode, router, teacher_views

router.require_app()

VIEWS = ("Class", "Line", "Leaderboard", "Lessons", "Settings")

st.title("Teacher", anchor=False)
if passcode.teacher_passcode() is None:
    st.caption("No teacher passcode is set on this server: set STUDIO_TEACHER_PASSCODE (or "
               "teacher_passcode in .streamlit/secrets.toml) and restart the studio.")
    st.stop()
if not identity.is_teacher():
    st.caption("The teacher's view shows every student's runs and can stop or delete any of "
               "them. It needs the passcode the teacher set for this server; this browser "
               "then stays signed in for the school day.")
    with st.form("teacher_unlock"):
        attempt = st.text_input("Passcode", type="password", key="teacher_attempt")
        unlock = st.form_submit_button("Unlock")
    if unlock:
        sentence = identity.unlock_teacher(attempt)
        if sentence is None:
            st.rerun()
        st.error(sentence)
    st.stop()

if notice := st.session_state.pop("teacher_notice", None):
    st.success(notice)
pick, leave = st.columns([4, 1], vertical_alignment="bottom")
view = pick.segmented_control("View", VIEWS, default=VIEWS[0], required=True,
                              key="teacher_view")
if leave.button("Sign out", key="teacher_sign_out", icon=":material/logout:",
                help="Ends the teacher's view in this browser; the passcode opens it again."):
    identity.sign_out_teacher()
    st.rerun()


if view == "Class":
    teacher_views.class_table()
    teacher_views.class_actions()
    teacher_views.sign_out_everyone()
elif view == "Line":
    teacher_views.line_table()
    teacher_views.line_actions()
elif view == "Leaderboard":
    teacher_views.leaderboard()
elif view == "Lessons":
    lesson_teacher.steer()
    lesson_teacher.progress()
else:
    class_settings.view()
