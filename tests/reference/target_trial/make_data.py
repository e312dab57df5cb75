"""Write data.csv: entries of two cohorts, families, baseline covariates, delayed entry, and the
earlier cohort's planned censoring day C (go-live) depending on a covariate. Run from this folder."""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261206)
n = 400
family = rng.integers(0, 260, n)
x1 = rng.binomial(1, 0.4, n)
x2 = np.round(rng.uniform(0, 17, n)).astype(int)
post = rng.binomial(1, 1 / (1 + np.exp(-(-0.3 + 0.8 * x1 - 0.05 * x2))))
# the earlier cohort is censored at go-live: later entrants (here more often x1 = 1) sooner
c = np.where(post == 1, np.inf, np.round(rng.uniform(40, 900, n) - 250 * x1).clip(20))
t = np.ceil(rng.exponential(1 / (np.exp(-6.0 + 0.5 * x1 + 0.03 * x2 - 0.4 * post))))
admin = np.round(rng.uniform(500, 1500, n))
entry = np.where(rng.random(n) < 0.1, np.round(rng.uniform(1, 15, n)), 0.0)
duration = np.minimum.reduce([t, c, admin])
event = (t <= np.minimum(c, admin)).astype(int)
keep = duration > entry
frame = pd.DataFrame({"family": family, "post": post, "x1": x1, "x2": x2, "entry": entry,
                      "duration": duration, "event": event, "C": c})[keep]
frame.to_csv("data.csv", index=False)
