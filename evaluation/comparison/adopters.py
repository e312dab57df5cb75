"""Councils that adopted the Family Safeguarding model, with go-live dates and their sources.

Every row names the public document its date comes from. ``sourced`` is True only when a
public document gives the go-live month (or day); a row whose date could not be confirmed has
``sourced = False`` and is left out of the default staggered-adoption analysis (its council is
still kept out of every donor pool: it adopted, only the date is uncertain).

``first_year`` is the DfE year (ending 31 March) that contains go-live: the transition year.
For Oxfordshire (1 November 2020) that is 2021 (2020/21).
"""
from __future__ import annotations

import pandas as pd

_ROWS = [
    # la_code_old, la_code_ons, la_name, go_live, precision, sourced, programme, source
    ("931", "E10000025", "Oxfordshire", "2020-11-01", "day", True, "Family Solutions Plus (local FS model)",
     "Buivydaite et al., FSP protocol, Int J Integrated Care 2022, and early paper, Child & Family Social Work "
     "2024 (doi 10.1111/cfs.13132): live from the end of October / November 2020; project default go-live "
     "2020-11-01 (shared/domain.md section 1)"),
    ("919", "E10000015", "Hertfordshire", "2015-01-01", "year", False, "DfE Innovation Programme round 1 (originator)",
     "Hertfordshire County Council, Centre for Family Safeguarding Practice page: model 'put into practice in "
     "2015' after the DfE Innovation Programme bid; Forrester et al. 2017 (DfE Innovation Programme report 55). "
     "Month not confirmed here"),
    ("867", "E06000036", "Bracknell Forest", "2017-11-01", "month", True, "DfE Innovation Programme round 2",
     "Bracknell Forest Council news, 'Scheme to keep more children and families together reaches a milestone' "
     "(Nov 2018) and 'Family Safeguarding Model praised by Minister' (Feb 2020): 'launched the family "
     "safeguarding model in November 2017'; Rodger, Allan & Elliott 2020 (DfE evaluation)"),
    ("821", "E06000032", "Luton", None, "unknown", False, "DfE Innovation Programme round 2",
     "Rodger, Allan & Elliott 2020 (DfE): one of the four new authorities (Innovation Programme project start "
     "May 2017); go-live date not confirmed here"),
    ("874", "E06000031", "Peterborough", None, "unknown", False, "DfE Innovation Programme round 2",
     "Rodger, Allan & Elliott 2020 (DfE): one of the four new authorities (Innovation Programme project start "
     "May 2017); go-live date not confirmed here"),
    ("869", "E06000037", "West Berkshire", None, "unknown", False, "DfE Innovation Programme round 2",
     "Rodger, Allan & Elliott 2020 (DfE): one of the four new authorities (Innovation Programme project start "
     "May 2017); go-live date not confirmed here"),
    ("335", "E08000030", "Walsall", "2020-09-01", "month", True, "DfE SFPC; Foundations stepped-wedge trial",
     "Walsall Council news, 11 November 2020, 'Family Safeguarding Model proven to improve safeguarding "
     "outcomes...': 'launched its Family Safeguarding model in September this year'; Foundations SFPC trial "
     "protocol (Walsall, September 2020)"),
    ("888", "E10000017", "Lancashire", "2021-02-11", "day", True, "DfE SFPC; Foundations stepped-wedge trial",
     "Lancashire County Council, Education and Children's Services Scrutiny Committee minutes, 'Update on "
     "Family Safeguarding model': 'launched the new Family Safeguarding Model on the 11th February 2021' "
     "(evaluation start; official launch event 1 March 2021)"),
    ("894", "E06000020", "Telford and Wrekin", "2021-06-28", "day", True, "DfE SFPC; Foundations stepped-wedge trial",
     "Telford & Wrekin Council newsroom, 'New safeguarding model in Telford and Wrekin aims to help families "
     "stay together' ('will go live from today, 28 June'); scrutiny minutes: 'go live on 28 June 2021'"),
    ("212", "E09000032", "Wandsworth", "2022-01-01", "month", True, "DfE SFPC; Foundations stepped-wedge trial",
     "Foundations (What Works for Children's Social Care) SFPC Family Safeguarding trial protocol: Wandsworth "
     "January 2022; Wandsworth Council careers page 'first London borough to launch' (no date)"),
    ("866", "E06000030", "Swindon", "2022-05-01", "month", True, "DfE SFPC; Foundations stepped-wedge trial",
     "Foundations SFPC Family Safeguarding trial protocol: Swindon May 2022"),
    ("351", "E08000002", "Bury", None, "unknown", False, "Hertfordshire sector-led improvement partner",
     "Bury Council cabinet decision 'Family Safeguarding Model' (2022): approved work towards implementing "
     "the model; go-live date not found"),
]

COLUMNS = ["la_code_old", "la_code_ons", "la_name", "go_live", "date_precision", "sourced", "programme", "source"]


def first_year(go_live: pd.Timestamp) -> int | None:
    """The DfE year (ending 31 March) that contains ``go_live``."""
    if pd.isna(go_live):
        return None
    return go_live.year + 1 if go_live.month >= 4 else go_live.year


def adopters() -> pd.DataFrame:
    """The adopters table: one row per council, with ``first_year`` (transition year)."""
    frame = pd.DataFrame(_ROWS, columns=COLUMNS)
    frame["go_live"] = pd.to_datetime(frame["go_live"])
    frame["first_year"] = [first_year(d) if s else None for d, s in zip(frame["go_live"], frame["sourced"])]
    frame["first_year"] = frame["first_year"].astype("Int64")
    for col in ("la_code_old", "la_code_ons", "la_name", "date_precision", "programme", "source"):
        frame[col] = frame[col].astype("string")
    return frame
