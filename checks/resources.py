"""Where Great Expectations keeps its results, and where their offline validation pages go."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from evaluation.validation import validation_context


class ValidationResource(dg.ConfigurableResource):
    """GX project folder (results accumulate there) and the validation docs folder analysts open.

    The docs (``index.html`` and one static page per validation, see
    ``evaluation.validation.docs``) default to ``outputs/validation/``: for analysts
    inside the secure environment, never part of a release bundle.
    """

    project_dir: str
    docs_dir: str

    def context(self):
        return validation_context(self.project_dir, self.docs_dir)


def default_validation_resource() -> ValidationResource:
    home = os.environ.get("DAGSTER_HOME", str(Path.cwd() / ".dagster_home"))
    outputs = os.environ.get("FSP_OUTPUT_DIR", str(Path.cwd() / "outputs"))
    return ValidationResource(project_dir=str(Path(home) / "great_expectations"),
                              docs_dir=str(Path(outputs) / "validation"))
