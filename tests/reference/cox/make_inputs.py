"""Write the small synthetic inputs the R reference (make_reference.R) and pytest share.

Run from the repo root: ``.venv/bin/python tests/reference/cox/make_inputs.py``.
Fixed seed; integer days so there are many tied times; about a third of the
children enter late (delayed entry) at integer days that coincide with other
children's event times; siblings share a family, cohort and risk-factor
combination; the "DA+MH+SM" combination is deliberately sparse.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from lifelines.datasets import load_rossi

HERE = Path(__file__).parent
SEED = 20201101

COMBINATIONS = ["none", "DA", "MH", "SM", "DA+MH", "DA+SM", "MH+SM", "DA+MH+SM"]
#: chance a family has each combination (the last one rare on purpose)
COMBINATION_SHARE = [0.30, 0.16, 0.14, 0.10, 0.10, 0.09, 0.09, 0.02]


def make_children(rng: np.random.Generator, n_families: int = 700) -> pd.DataFrame:
    family_size = rng.choice([1, 2, 3, 4], size=n_families, p=[0.45, 0.3, 0.17, 0.08])
    combo = rng.choice(len(COMBINATIONS), size=n_families, p=COMBINATION_SHARE)
    # cohort depends on the combination (confounding for the weighting tests)
    p_post = 0.35 + 0.05 * np.array([0, 1, 2, 1, 3, 2, 4, 1])[combo]
    post = rng.random(n_families) < p_post
    area = rng.choice(["north", "city", "south"], size=n_families, p=[0.3, 0.45, 0.25])
    frailty = rng.gamma(4.0, 0.25, size=n_families)  # shared within family
    fam = np.repeat(np.arange(n_families), family_size)
    n = fam.size
    labels = np.array(COMBINATIONS)[combo[fam]]
    da = np.array(["DA" in c for c in labels], dtype=int)
    mh = np.array(["MH" in c for c in labels], dtype=int)
    sm = np.array(["SM" in c for c in labels], dtype=int)
    age = np.round(rng.uniform(0, 17, size=n), 1)
    female = rng.integers(0, 2, size=n)
    # effect of FSP differs by combination (differential impact)
    effect = np.array([-0.1, -0.5, -0.2, 0.1, -0.6, -0.3, 0.0, -0.4])[combo[fam]]
    lin = 0.03 * age - 0.2 * female + 0.25 * da + 0.15 * mh + 0.3 * sm + np.where(post[fam], effect, 0.0)
    rate = frailty[fam] * np.exp(lin) / 400.0
    event_day = np.ceil(rng.exponential(1 / rate) / 7) * 7  # weekly recording: heavy ties
    censor_day = np.ceil(rng.uniform(30, 900, size=n) / 7) * 7
    sparse = combo[fam] == COMBINATIONS.index("DA+MH+SM")
    censor_day[sparse & post[fam]] = 14  # almost no post-FSP events in the sparse cell
    duration = np.minimum(event_day, censor_day)
    event = (event_day <= censor_day).astype(int)
    # delayed entry for about a third: known only from a day before their exit
    late = rng.random(n) < 0.33
    entry = np.where(late, np.floor(rng.uniform(0, 1, size=n) * duration / 7) * 7, 0.0)
    entry = np.minimum(entry, duration - 1)
    entry[entry < 0] = 0
    keep = duration > 0
    weight = np.round(rng.uniform(0.4, 2.5, size=n), 3)
    return pd.DataFrame(
        {
            "child_id": [f"C{i:05d}" for i in range(n)],
            "family_id": [f"F{f:04d}" for f in fam],
            "cohort": np.where(post[fam], "post_fsp", "pre_fsp"),
            "combination": labels,
            "da": da,
            "mh": mh,
            "sm": sm,
            "age": age,
            "female": female,
            "area": area[fam],
            "entry": entry,
            "duration": duration,
            "event": event,
            "weight": weight,
        }
    )[keep].reset_index(drop=True)


def main() -> None:
    rng = np.random.default_rng(SEED)
    children = make_children(rng)
    children.to_csv(HERE / "children.csv", index=False)
    load_rossi().to_csv(HERE / "rossi.csv", index=False)
    print(len(children), "children,", children.event.sum(), "events,", children.family_id.nunique(), "families")
    print(pd.crosstab(children.combination, [children.cohort, children.event]))


if __name__ == "__main__":
    main()
