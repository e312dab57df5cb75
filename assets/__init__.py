"""Dagster assets, resources and Definitions: thin wrappers that call ``evaluation``."""
