"""A spec as plain Keras 3 code a student can follow top to bottom, the studio nowhere in it.

The recipe is the heading (what it trains, a link back to its settings in the studio), the
parameters (`epochs`, `limit_train`), then the named steps of `fmnist_core.export.steps`.
`script_text` writes it as one Python file, the paragraphs as comments;
`fmnist_core.export.notebook` as a notebook.
"""

from __future__ import annotations

import textwrap
import urllib.parse

from fmnist_core.export import steps as recipe
from fmnist_core.export.steps import NAMES, Origin, Step
from fmnist_core.nets.links import to_query
from fmnist_core.nets.spec import ModelSpec
from fmnist_core.words import percent

COMMENT_WIDTH = 92  # a paragraph as the script's comment lines: the project's line length


def setup_link(spec: ModelSpec, origin: Origin) -> str:
    """The studio's Train page with the spec's settings in the form (its setup link)."""
    return f"{origin.studio_url}/train?{urllib.parse.urlencode(to_query(spec))}"


def title(spec: ModelSpec, origin: Origin) -> str:
    """The recipe's heading paragraph (Markdown): what it trains and where it comes from."""
    run = f"run {origin.run_id}" if origin.run_id else "a network"
    reached = ("" if origin.test_accuracy is None else
               f" There it reached a test accuracy of {percent(origin.test_accuracy, 2)}.")
    return (f"# {NAMES[spec.dataset]}: {spec.summary(with_output=True)}\n\n"
            f"The recipe of {run} of the Fashion-MNIST CNN Studio, as plain Keras 3 code: "
            f"[its settings in the studio]({setup_link(spec, origin)}).{reached} Nothing "
            "here needs the studio: Keras, NumPy and (for the curves) matplotlib do it all.")


def parameters_code(spec: ModelSpec, script: bool) -> str:
    """`epochs` and `limit_train`: plain assignments (the notebook's `parameters` cell) or,
    in the script, its command-line options."""
    if not script:
        return (f"epochs = {spec.epochs}\n"
                f"limit_train = {spec.train_images}  # the first N training images "
                "(validation included); None: all of them")
    return textwrap.dedent(f"""\
        parser = argparse.ArgumentParser(description=__doc__.split("\\n\\n")[0])
        parser.add_argument("--epochs", type=int, default={spec.epochs},
                            help="passes over the training images (default %(default)s)")
        parser.add_argument("--limit-train", type=int, default={spec.train_images},
                            help="train on the first N training images, validation included "
                                 "(default: %(default)s, None is all of them)")
        args = parser.parse_args()
        epochs, limit_train = args.epochs, args.limit_train""")


def parameters_text(script: bool) -> str:
    how = ("`python SCRIPT --epochs 1 --limit-train 600`" if script else
           "change them here (this cell is tagged `parameters`, so papermill can too)")
    return (f"**Parameters.** How long it trains: run it short to try it ({how}); the "
            "defaults are the run's own.")


def steps(spec: ModelSpec, origin: Origin = Origin(), script: bool = False) -> list[Step]:
    """The recipe's steps after the parameters, in order."""
    return [recipe.imports(spec, script), recipe.data(spec), recipe.network(spec),
            recipe.learning(spec), recipe.training(spec), recipe.test(spec, origin),
            recipe.curves(origin, script), recipe.keep(origin), recipe.differences(spec)]


def script_text(spec: ModelSpec, origin: Origin = Origin()) -> str:
    """The recipe as one Python script: a docstring with the heading, the imports, the
    parameters as command-line options, then each step, its paragraph as comments under a
    `# %%` line (a cell to editors that know the mark)."""
    first, *rest = steps(spec, origin, script=True)
    heading, paragraph = _plain(title(spec, origin)).split("\n\n")
    parts = ['"""' + "\n\n".join(textwrap.fill(text, COMMENT_WIDTH, break_on_hyphens=False,
                                                break_long_words=False)
                                  for text in (heading, paragraph)) + '\n"""',
             _comment(first.text) + first.code,
             _comment(parameters_text(True)) + parameters_code(spec, True)]
    parts += [_comment(step.text) + step.code for step in rest]
    return "\n\n\n".join(part.rstrip() for part in parts) + "\n"


def _comment(text: str) -> str:
    """A paragraph of Markdown as the script's comment lines, under a `# %%` line."""
    lines = ["# %%"]
    for paragraph in text.split("\n\n"):
        indent = "  " if paragraph.startswith("- ") else ""
        lines += ["# " + line for line in textwrap.wrap(
            _plain(paragraph), COMMENT_WIDTH - 2, subsequent_indent=indent,
            break_on_hyphens=False)]
        lines.append("#")
    return "\n".join(lines[:-1]) + "\n"


def _plain(markdown: str) -> str:
    """Markdown as a comment reads it: no emphasis stars or heading marks."""
    return markdown.replace("**", "").lstrip("# ")
