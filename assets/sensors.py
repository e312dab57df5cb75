"""Notice a new extract in a local authority's folder and materialise what it changes.

A council drops each new extract (the next year's CIN census XML, SSDA903
CSVs, an updated family table) into its folder. The sensor fingerprints every
LA folder (file names, sizes and modification times — never contents); a new
folder becomes a new partition, a changed folder gets a run of its per-LA
assets. The pooled analysis and release follow by their automation condition.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from assets.partitions import discover_local_authorities, local_authorities
from assets.resources import InputFolder

#: The per-LA stages a new extract re-materialises.
PER_LA_GROUPS = ("pseudonymised", "spells", "cohorts")


def folder_fingerprint(folder: Path) -> str:
    """A digest of the names, sizes and modification times of every file under ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


@dg.sensor(
    name="new_extract_sensor",
    description="Watches the input folder: a new local-authority folder becomes a partition; a "
    "new or changed extract in a folder re-materialises that LA's door, spells and cohorts.",
    minimum_interval_seconds=300,
    asset_selection=dg.AssetSelection.groups(*PER_LA_GROUPS),
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def new_extract_sensor(context: dg.SensorEvaluationContext, input_folder: InputFolder):
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    codes = discover_local_authorities(input_folder.path)
    current = {code: folder_fingerprint(Path(input_folder.path) / code) for code in codes}
    known = set(context.instance.get_dynamic_partitions(local_authorities.name))
    new_partitions = [code for code in codes if code not in known]
    changed = [code for code in codes if previous.get(code) != current[code]]
    requests = [dg.RunRequest(run_key=f"{code}:{current[code]}", partition_key=code,
                              tags={"fsp/extract_fingerprint": current[code]})
                for code in changed]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [local_authorities.build_add_request(new_partitions)] if new_partitions else []),
        cursor=json.dumps(current, sort_keys=True),
    )
