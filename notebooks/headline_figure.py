# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Headline figure: time on a child protection plan by cohort
#
# Reproduces the evaluation's headline from the **released** tables only (the
# disclosure-controlled Parquet files a run writes to `outputs/tables/`):
# the Kaplan–Meier curves of time on a child protection plan by cohort, and the
# post-FSP vs pre-FSP hazard ratios. Set `FSP_OUTPUT_DIR` to read another release;
# the figure goes to `FSP_FIGURE_DIR` (default `notebooks/figures/`), never into the
# release folder, whose files are all logged for the output checker.

# %%
import os
from pathlib import Path

import pandas as pd

from evaluation.figures import km_figure

OUTPUT_DIR = Path(os.environ.get("FSP_OUTPUT_DIR", "outputs"))
FIGURE_DIR = Path(os.environ.get("FSP_FIGURE_DIR", "notebooks/figures"))
TABLES = OUTPUT_DIR / "tables"
OUTCOME = "time_in_protection"

# %% [markdown]
# ## Kaplan–Meier curves (safe: 91-day grid, rounded counts, stopped before small risk sets)

# %%
curve = pd.read_parquet(TABLES / f"km_{OUTCOME}.parquet")
figure_path = km_figure(curve, FIGURE_DIR / "headline_km_time_in_protection.png",
                        title="Time on a child protection plan, by cohort",
                        ylabel="Proportion still on a plan")
curve.pivot_table(index="time", columns="cohort", values="survival").round(3)

# %% [markdown]
# ## Hazard ratios, post-FSP vs pre-FSP (above 1 = plans ending sooner)

# %%
hazard = pd.read_parquet(TABLES / "hazard_ratios.parquet")
headline = hazard[(hazard["outcome"] == OUTCOME) & (hazard["contrast"] == "post_fsp vs pre_fsp")
                  & hazard["term"].astype(str).str.startswith("cohort[")]
headline = headline[["analysis", "estimate", "ci_lower", "ci_upper", "p_value", "n", "events", "release_note"]]
headline.round(3)

# %% [markdown]
# ## The same contrast within each combination of parental risk factors

# %%
by_combination = pd.read_parquet(TABLES / "differential_impact.parquet")
by_combination = by_combination[(by_combination["outcome"] == OUTCOME)
                                & (by_combination["term"] == "hazard ratio")]
by_combination[["combination", "estimate", "ci_lower", "ci_upper", "p_value", "release_note"]].round(3)

# %%
print(f"headline figure written to {figure_path}")
