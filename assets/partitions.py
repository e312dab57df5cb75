"""Local-authority partitions, discovered from the input folders.

Each sub-folder of the input root named by a DfE three-digit LA code is one
partition. ``make run`` and the new-extract sensor register new ones; the
pooled analysis reads every partition.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from evaluation.ingest import LA_CODE  # the door's rule: three ASCII digits, the whole name

local_authorities = dg.DynamicPartitionsDefinition(name="local_authority")



def discover_local_authorities(input_root: str | Path) -> list[str]:
    """LA codes of the sub-folders of ``input_root`` (three-digit DfE codes), sorted."""
    root = Path(input_root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and LA_CODE.fullmatch(p.name))


def skipped_entries(input_root: str | Path) -> list[str]:
    """Entries of ``input_root`` that are not local-authority folders, each with why (printed by
    ``make run`` so that a misnamed council folder is seen, not silently left out)."""
    root = Path(input_root)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.iterdir()):
        if path.name.startswith("."):
            continue
        if not path.is_dir():
            out.append(f"{path.name!r}: a file, not a local-authority folder")
        elif not LA_CODE.fullmatch(path.name):
            out.append(f"{path.name!r}: not a DfE three-digit LA code (three ASCII digits)")
    return out


def register_local_authorities(instance: dg.DagsterInstance, codes: list[str]) -> list[str]:
    """Add partitions for LA codes the instance does not know yet; return the new ones."""
    known = set(instance.get_dynamic_partitions(local_authorities.name))
    new = [c for c in codes if c not in known]
    if new:
        instance.add_dynamic_partitions(local_authorities.name, new)
    return new
