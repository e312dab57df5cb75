"""The full nested synthetic-control search (pysyncon Synth, Nelder-Mead over V from equal
weights) on Abadie & Gardeazabal's Basque table, with the paper's specification
(tests/fixtures/basque/README.md). The fast test (tests/test_comparison_synthetic.py) fixes V at
the value this search finds; this script shows that the search itself reproduces the weights.

Measured (2026-12-06, this machine): Cataluna 0.850816, Madrid 0.149184, every other region 0,
V-loss (pre-period MSPE) 0.0088645; 36 s idle, 395 s under a loaded shared machine.
Including "Spain (Espana)" in the pool matters for the optimiser's path: without it the same
search stops at Cataluna 0.92 / Madrid 0.03 / Cantabria 0.05.
"""
import sys
import time
from pathlib import Path

import numpy as np
from pysyncon import Synth

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_comparison_synthetic import basque_dataprep  # noqa: E402

if __name__ == "__main__":
    t = time.time()
    dp = basque_dataprep()
    s = Synth()
    s.fit(dataprep=dp, optim_method="Nelder-Mead", optim_initial="equal")
    w = s.weights(round=6)
    print(w[w > 0].to_dict(), "V-loss", s.loss_V, f"{time.time() - t:.0f} s")
    print("V =", np.round(s.V, 6).tolist())
