import time

from pagetools import page_test, page_text


def test_train_page_previews_the_seed_cnn():
    at = page_test("pages/train.py")
    assert not at.exception
    text = page_text(at)
    assert "862,410" in text and "Estimated time per epoch" in text
    assert "No training yet" in text
    at.toggle(key="show_layers").set_value(True).run()
    table = at.dataframe[0].value
    assert list(table["name"])[:3] == ["rescale", "channel", "conv1"]
    assert "26 × 26 × 64" in list(table["output_shape"])


def test_impossible_spec_is_one_sentence_and_start_is_disabled():
    at = page_test("pages/train.py")
    at.slider(key="spec_conv_blocks").set_value(3).run()
    at.select_slider(key="spec_kernel_size").set_value(9).run()
    assert not at.exception
    assert len(at.error) == 1 and "`kernel_size`" in at.error[0].value
    assert at.button(key="start").disabled


def test_train_a_tiny_job_to_completion_with_curves_and_test_accuracy():
    at = page_test("pages/train.py")
    at.selectbox(key="preset").set_value("quick").run()
    at.number_input(key="spec_epochs").set_value(2).run()
    at.button(key="start").click().run()
    assert not at.exception
    job_id = at.session_state["job_id"]
    deadline = time.time() + 120
    while time.time() < deadline:
        at.run()
        if "Test accuracy" in page_text(at):
            break
        time.sleep(0.5)
    assert not at.exception
    text = page_text(at)
    assert "Test accuracy" in text and "Finished 2 epoch(s)." in text
    assert at.get("plotly_chart"), "the curves are drawn"
    from ui import resources

    run = resources.run_store().get_run(job_id)
    assert run["status"] == "completed" and run["owner"] == at.session_state["owner"]
    # back on the page later: the finished run is still shown, Start is free again
    at.switch_page("pages/data.py").run()
    at.switch_page("pages/train.py").run()
    assert "Test accuracy" in page_text(at) and not at.button(key="start").disabled
    assert at.selectbox(key="preset").value == "quick"
