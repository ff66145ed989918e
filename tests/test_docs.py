"""The README and the guides in docs/ say what the code does: every setting an operator can
give is listed, and every guide the README links to is there."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_studio_environment_variable_the_code_reads_is_in_the_readme_table():
    read = set()
    for path in [ROOT / "app.py", *ROOT.glob("fmnist_core/**/*.py"), *ROOT.glob("ui/*.py"),
                 *ROOT.glob("pages/*.py")]:
        read |= set(re.findall(r'"(STUDIO_[A-Z_]+)"', path.read_text()))
    listed = set(re.findall(r"^\| `(STUDIO_[A-Z_]+)`", (ROOT / "README.md").read_text(),
                            flags=re.M))
    assert read, "no variable found: the pattern is out of date"
    assert read - listed == set(), "read by the code, missing from the README's table"
    assert listed - read == set(), "in the README's table, read by no code"


def test_every_guide_the_readme_links_to_is_there():
    linked = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text())
    assert linked and all((ROOT / path).is_file() for path in linked), linked


def test_the_readmes_python_example_runs(tmp_path, monkeypatch, small_data):
    """The README's example, as written, with a small slice of the data and a scratch store."""
    import re

    import fmnist_core.data.datasets
    import fmnist_core.training.fitloop

    example = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path))
    for module in (fmnist_core.data.datasets, fmnist_core.training.fitloop):
        monkeypatch.setattr(module, "load_dataset", lambda name: small_data)
    # one epoch: the example's preset trains three
    example = example.replace('preset("quick")', 'preset("quick").replace(epochs=1)')
    printed = []
    exec(compile(example, "README.md", "exec"), {"print": printed.append})
    assert len(printed) == 1 and 0.5 < printed[0] <= 1.0
