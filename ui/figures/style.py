"""What every figure shares: the colours of training and validation and of runs side by
side, the margins, and the accuracy axis written in percent."""

from __future__ import annotations

import math

TRAIN_COLOR = "#3b5bdb"
VAL_COLOR = "#e8590c"
# Okabe and Ito's palette, told apart with every common colour-vision deficiency; yellow last
# because it is faint on white.
RUN_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#000000",
              "#F0E442")
RUN_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross",
               "triangle-down")
MARGIN = dict(l=10, r=10, t=40, b=10)
# The steps between accuracy ticks, and the narrowest range an accuracy axis shows.
_PERCENT_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
_MIN_PERCENT_SPAN = 0.02


def percent_axis(values, max_ticks: int = 6) -> dict:
    """A y axis for fractions shown as percentages (accuracy), fitted to `values`.

    The range covers the values with a margin (at least 2 points wide, never below 0 %), and
    the ticks are 1, 2 or 5 times a power of ten apart, written with as many decimals
    as their step needs, so no two ticks read the same ("10.5%", "11.0%", not "11%", "11%").

    Args:
        values: Fractions; `None` and non-finite ones are skipped.
        max_ticks: Most intervals between ticks.

    Returns:
        Keyword arguments for `fig.update_yaxes`: range, tickvals, ticktext, hoverformat.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = max(_MIN_PERCENT_SPAN - (hi - lo), 0.0) / 2
    lo, hi = lo - pad, hi + pad
    # keep a widened range inside 0–100 % (a run at 99.5 % gets no "101 %" tick)
    shift = min(max(hi - 1.0, 0.0), pad) - min(max(-lo, 0.0), pad)
    lo, hi = lo - shift, hi - shift
    margin = 0.08 * (hi - lo)
    low, high = max(0.0, lo - margin), hi + margin
    step = next((s for s in _PERCENT_STEPS if (high - low) / s <= max_ticks),
                _PERCENT_STEPS[-1])
    decimals = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    first = math.ceil(low / step - 1e-9)
    ticks = [round(i * step, 6) for i in range(first, math.floor(high / step + 1e-9) + 1)]
    return dict(range=[low, high], tickvals=ticks,
                ticktext=[f"{t:.{decimals}%}" for t in ticks],
                hoverformat=f".{decimals + 1}%")
