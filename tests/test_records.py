"""What a run's row is: its id's form, the fields a trainer writes, the row read back."""

import json

import pytest

from fmnist_core.nets.spec import preset
from fmnist_core.store.records import (RunNotFoundError, check_fields, row_to_run,
                                       validate_run_id)


def test_run_ids_are_validated():
    assert validate_run_id("0123456789ab") == "0123456789ab"
    for bad in ["../etc/passwd", "ABCDEF012345", "", None, "0123456789abc"]:
        with pytest.raises(ValueError, match="`run_id`"):
            validate_run_id(bad)


def test_only_known_fields_are_written():
    check_fields({"status": "running", "test_accuracy": 0.9})
    with pytest.raises(ValueError, match="`fields`.*'tset_accuracy'"):
        check_fields({"tset_accuracy": 0.9})


def test_a_row_reads_back_with_its_spec_and_progress():
    row = {"id": "0123456789ab", "spec": preset("quick").to_json(), "stop_requested": 1,
           "progress": json.dumps({"epoch": 2})}
    run = row_to_run(row)
    assert run["spec"] == preset("quick") and run["progress"] == {"epoch": 2}
    assert run["stop_requested"] is True
    assert "progress" not in row_to_run(row, with_progress=False)


def test_a_missing_run_is_a_sentence_and_a_key_error():
    err = RunNotFoundError("There is no run 0123456789ab; it may have been deleted.")
    assert isinstance(err, KeyError)
    assert str(err) == "There is no run 0123456789ab; it may have been deleted."
