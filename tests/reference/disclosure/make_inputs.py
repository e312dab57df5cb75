"""Write the inputs of make_reference.R: exact step tables and the safe curves released from them.

Run from the repository root: ``.venv/bin/python tests/reference/disclosure/make_inputs.py``.
R then recomputes Kaplan–Meier (Greenwood, log limits) and Aalen–Johansen
from the released rounded counts alone; the tests check that
:func:`evaluation.disclosure.safe_curve` gives the same numbers.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.disclosure import safe_curve

HERE = Path(__file__).parent
GRID = 91


def main() -> None:
    rng = np.random.default_rng(20201101)
    n = 400
    days = np.ceil(rng.exponential(320, n))
    censor = np.ceil(rng.uniform(30, 1200, n))
    route = rng.choice([1, 2], n, p=[0.6, 0.4])
    duration = np.minimum(days, censor)
    cause = np.where(days <= censor, route, 0)
    rows = []
    for t in np.unique(duration):
        at = duration == t
        rows.append({"time": t, "n_risk": int((duration >= t).sum()),
                     "n_event": int((at & (cause > 0)).sum()), "n_censor": int((at & (cause == 0)).sum()),
                     "n_event_step_down": int((at & (cause == 1)).sum()),
                     "n_event_care": int((at & (cause == 2)).sum())})
    steps = pd.DataFrame(rows)
    steps.to_csv(HERE / "steps.csv", index=False)
    km = safe_curve(steps[["time", "n_risk", "n_event", "n_censor"]], grid=GRID, censor_adjustment="none")
    km[["time", "n_risk", "n_event", "n_censor"]].to_csv(HERE / "released_km_counts.csv", index=False)
    cif = safe_curve(steps.drop(columns="n_event"), grid=GRID, censor_adjustment="none")
    cif[["cause", "time", "n_risk", "n_event", "n_censor"]].to_csv(HERE / "released_cif_counts.csv", index=False)


if __name__ == "__main__":
    main()
