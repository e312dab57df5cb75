"""Spells: need, CIN plans, protection and periods of care, per local authority."""


import dagster as dg

from assets.ingest import DOOR_TABLES
from assets.partitions import local_authorities
from assets.study import StudySettings
from evaluation import spells

#: The pseudonymised tables the per-LA assets downstream of the door may take.
DOOR_INPUTS = {name: dg.AssetIn(key=["pseudonymised", name])
               for name in DOOR_TABLES if name not in ("reconciliation", "repairs", "duplicates")}
#: The door tables every spell is censored with (the extract, the 18th birthday, death, transfer
#: out, care: ``evaluation.spells.censoring``).
CENSORING = ("children", "families", "extracts", "cin_episodes", "care_episodes")


def door_inputs(*names: str) -> dict[str, dg.AssetIn]:
    """The door tables ``names`` as inputs: each asset takes the tables its builder reads, so the
    graph is the data flow (``tests/test_asset_inputs.py`` shows each reads no other)."""
    return {name: DOOR_INPUTS[name] for name in names}


#: Spell -> (builder, door tables it reads, description).
SPELLS = {
    "need_spells": (spells.need_spells, CENSORING, "CIN episodes as spells: referral → closure."),
    "cin_plan_spells": (spells.cin_plan_spells, (*CENSORING, "cin_plans", "cp_plans"),
                        "CIN plans as spells."),
    "protection_spells": (spells.protection_spells, (*CENSORING, "cin_plans", "cp_plans"),
                          "Child-protection plans as spells, with their exit type."),
    "care_periods": (spells.care_periods, CENSORING, "Periods of care: SSDA903 episodes joined by X1 / "
                     "same-day continuity from an RNE=S start to an E-code exit (short breaks excluded)."),
}


def _spell_asset(name: str, build, reads: tuple[str, ...], description: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        key_prefix=["spells"],
        ins=door_inputs(*reads),
        partitions_def=local_authorities,
        group_name="spells",
        description=description + " Censored at the extract date, the 18th birthday, death or "
        "transfer out; delayed entry for spells begun before the data window.",
        metadata={"partition_expr": "la_code"},
        kinds={"duckdb", "pandas"},
    )
    def _spells(context: dg.AssetExecutionContext, study: StudySettings, **tables):
        frame = build(tables, study.config())
        context.add_output_metadata({
            "dagster/row_count": len(frame),
            "censored": int(frame["censored"].sum()),
            "delayed_entry": int((frame["entry_days"] > 0).sum()),
        })
        return frame

    return _spells


SPELL_ASSETS = [_spell_asset(name, *spec) for name, spec in SPELLS.items()]

#: The spells, as inputs of the per-LA assets that read them (built once, by the assets above).
SPELL_INPUTS = {name: dg.AssetIn(key=["spells", name]) for name in SPELLS}
