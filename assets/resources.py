"""Resources: the pseudonymisation key, where the inputs are, and the study settings."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.environment import KEY_CHANGE_ENV_VAR, KEY_ENV_VAR  # noqa: F401  (named here too)
from evaluation.keys import PseudonymisationKey, load_key

NATIONAL_LINK_ENV_VAR = "FSP_NATIONAL_UPN_LINK"


class KeyChangedError(Exception):
    """The key's fingerprint differs from the one the instance's earlier extracts were read with."""


class PseudonymisationKeyResource(dg.ConfigurableResource):
    """The secret HMAC key, read from ``FSP_PSEUDONYMISATION_KEY`` (never logged or stored).

    A missing, empty, short, malformed or weak key stops the run before any data is read;
    only the key's fingerprint is ever recorded. A key whose fingerprint differs from the one
    this instance's earlier extracts were pseudonymised with stops the door too (children would
    no longer link across extracts) unless ``allow_key_change`` is set
    (``FSP_KEY_CHANGE_DELIBERATE=1``) for a deliberate change of key.
    """

    key: str
    allow_key_change: bool = False
    #: Also pseudonymise UPNs council-independently (``children.national_id``), for a study that
    #: must follow children across councils (``FSP_NATIONAL_UPN_LINK=1``). Off by default.
    national_upn_link: bool = False

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Fails closed: load_key raises with a message saying how to make a key.
        self._parsed = load_key(self.key)

    def get(self) -> PseudonymisationKey:
        parsed = getattr(self, "_parsed", None)
        return parsed if parsed is not None else load_key(self.key)


#: The door's asset whose materialisations record the key fingerprint of every extract read.
FINGERPRINT_ASSET = dg.AssetKey(["pseudonymised", "children"])


def recorded_fingerprints(instance: dg.DagsterInstance) -> set[str]:
    """The key fingerprint the door recorded at its latest materialisation (the key to continue
    with); empty for an instance that has read no extract."""
    records = instance.fetch_materializations(FINGERPRINT_ASSET, limit=1, ascending=False).records
    entry = records[0].asset_materialization.metadata.get("key_fingerprint") if records else None
    return {str(entry.value)} if entry is not None else set()


def check_key_continuity(instance: dg.DagsterInstance, fingerprint: str, allow_change: bool) -> None:
    """Raise :class:`KeyChangedError` if this instance read earlier extracts under another key."""
    earlier = recorded_fingerprints(instance)
    if earlier and fingerprint not in earlier and not allow_change:
        raise KeyChangedError(
            f"the pseudonymisation key has changed: this instance's earlier extracts were read with "
            f"the key of fingerprint {', '.join(sorted(earlier))}, this run's key has fingerprint "
            f"{fingerprint}. Children would not link across extracts. Use the same key as before; "
            f"if the change is deliberate (a new study, a compromised key), set "
            f"{KEY_CHANGE_ENV_VAR}=1 for this run")


class InputFolder(dg.ConfigurableResource):
    """The input root: one sub-folder per local authority (layout: docs/ingest_rules.md)."""

    path: str

    def local_authority_folder(self, la_code: str) -> Path:
        root = Path(self.path)
        if not root.is_dir():
            raise FileNotFoundError(
                f"input folder {root} does not exist: set FSP_INPUT_DIR to the folder holding one "
                "sub-folder per local authority (or run `make run` to generate the synthetic county)"
            )
        folder = root / la_code
        if not folder.is_dir():
            raise FileNotFoundError(f"no folder for local authority {la_code} in {root}")
        return folder


class OutputFolder(dg.ConfigurableResource):
    """Where released outputs are written (default ``outputs/``).

    Refused when it overlaps the input root or the Dagster instance (``DAGSTER_HOME``: run
    storage and the DuckDB file of pseudonymised tables): a "release" folder must never hold
    raw extracts or personal data.
    """

    path: str
    input_path: str | None = None
    instance_path: str | None = None

    def folder(self) -> Path:
        check_output_folder(self.path, self.input_path, self.instance_path)
        out = Path(self.path)
        out.mkdir(parents=True, exist_ok=True)
        return out


class UnsafeOutputFolderError(ValueError):
    """The output folder overlaps the inputs or the instance."""


def check_output_folder(output: str | Path, input_root: str | Path | None,
                        instance: str | Path | None) -> None:
    """Raise :class:`UnsafeOutputFolderError` if ``output`` is, contains or is inside the input
    root or the instance folder (paths compared after resolving links)."""
    out = Path(os.path.realpath(output))
    for label, other, variable in (("input folder", input_root, "FSP_INPUT_DIR"),
                                   ("Dagster instance folder", instance, "DAGSTER_HOME")):
        if other is None:
            continue
        other = Path(os.path.realpath(other))
        if out == other or other in out.parents or out in other.parents:
            raise UnsafeOutputFolderError(
                f"the output folder {out} overlaps the {label} {other} ({variable}): released "
                "outputs must go to a folder of their own, apart from the data and the instance; "
                "set FSP_OUTPUT_DIR to another folder")


def default_input_dir() -> str:
    return os.environ.get("FSP_INPUT_DIR", str(Path.cwd() / "data" / "synthetic"))


def default_output_dir() -> str:
    return os.environ.get("FSP_OUTPUT_DIR", str(Path.cwd() / "outputs"))


def default_instance_dir() -> str:
    return os.environ.get("DAGSTER_HOME", str(Path.cwd() / ".dagster_home"))


def default_database() -> str:
    home = os.environ.get("DAGSTER_HOME", str(Path.cwd() / ".dagster_home"))
    return str(Path(home) / "evaluation.duckdb")
