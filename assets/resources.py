"""Resources: the pseudonymisation key, where the inputs are, and the study settings."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from evaluation.pseudonymise import PseudonymisationKey, load_key

KEY_ENV_VAR = "FSP_PSEUDONYMISATION_KEY"


class PseudonymisationKeyResource(dg.ConfigurableResource):
    """The secret HMAC key, read from ``FSP_PSEUDONYMISATION_KEY`` (never logged or stored).

    A missing, short or malformed key stops the run before any data is read;
    only the key's fingerprint is ever recorded.
    """

    key: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Fails closed: load_key raises with a message saying how to make a key.
        self._parsed = load_key(self.key)

    def get(self) -> PseudonymisationKey:
        parsed = getattr(self, "_parsed", None)
        return parsed if parsed is not None else load_key(self.key)


class InputFolder(dg.ConfigurableResource):
    """The input root: one sub-folder per local authority (see README, 'Running on real extracts')."""

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
    """Where released outputs are written (default ``outputs/``)."""

    path: str

    def folder(self) -> Path:
        out = Path(self.path)
        out.mkdir(parents=True, exist_ok=True)
        return out


def default_input_dir() -> str:
    return os.environ.get("FSP_INPUT_DIR", str(Path.cwd() / "data" / "synthetic"))


def default_output_dir() -> str:
    return os.environ.get("FSP_OUTPUT_DIR", str(Path.cwd() / "outputs"))


def default_database() -> str:
    home = os.environ.get("DAGSTER_HOME", str(Path.cwd() / ".dagster_home"))
    return str(Path(home) / "evaluation.duckdb")
