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
