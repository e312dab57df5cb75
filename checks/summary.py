"""The validation summary: the latest outcome of every asset check, counts only.

Read from the Dagster instance, so the released summary shows exactly what
analysts saw in the UI: which check, on which table and local authority,
passed or failed, at what severity, and how many expectations failed.
"""

import dagster as dg
import pandas as pd

SUMMARY_COLUMNS = ("asset", "check", "local_authority", "passed", "severity", "blocking",
                   "expectations", "expectations_failed")


def validation_summary(instance: dg.DagsterInstance, checks) -> pd.DataFrame:
    """One row per check × local authority (latest evaluation), for ``checks`` (check definitions)."""
    rows = []
    for definition in checks:
        for key in definition.check_keys:
            spec = definition.get_spec_for_check_key(key)
            seen: set = set()
            for record in instance.event_log_storage.get_asset_check_execution_history(key, limit=200):
                if record.partition in seen or record.event is None:
                    continue
                evaluation = record.event.dagster_event.event_specific_data
                if not hasattr(evaluation, "passed"):
                    continue
                seen.add(record.partition)
                metadata = {k: v.value for k, v in (evaluation.metadata or {}).items()}
                rows.append({
                    "asset": "/".join(key.asset_key.path), "check": key.name,
                    "local_authority": record.partition, "passed": bool(evaluation.passed),
                    "severity": evaluation.severity.value, "blocking": bool(spec.blocking),
                    "expectations": metadata.get("expectations"),
                    "expectations_failed": metadata.get("expectations_failed"),
                })
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return frame.sort_values(["asset", "check", "local_authority"]).reset_index(drop=True)
