from streamlit.runtime.scriptrunner import script_runner

from ui import router


def test_streamlit_no_longer_clears_keras_between_script_runs(monkeypatch):
    import keras

    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(script_runner, "_clean_problem_modules",
                        script_runner._clean_problem_modules)
    router.keep_keras_state()
    router.keep_keras_state()  # idempotent
    script_runner._clean_problem_modules()
    assert calls == []
