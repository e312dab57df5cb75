"""The disclosure record travels as a table. pandas keeps ``attrs`` in its own parquet metadata,
but the CSV the output checker reads, DuckDB and other readers (R's arrow, polars) drop them."""

import pandas as pd

from evaluation.disclosure.provenance import disclosure_log


def test_the_disclosure_record_survives_as_a_table(tmp_path):
    counts = pd.DataFrame({"cohort": ["pre_fsp", "post_fsp"], "children": [120, pd.NA]})
    counts.attrs["disclosure"] = {"threshold": 10, "primary": {"count": 1, "children": ["post_fsp"]}}
    unmarked = pd.DataFrame({"x": [1]})
    log = disclosure_log({"cohort_counts": counts, "other": unmarked})
    log.to_parquet(tmp_path / "log.parquet", index=False)
    counts.to_csv(tmp_path / "counts.csv", index=False)
    assert not pd.read_csv(tmp_path / "counts.csv").attrs
    back = pd.read_parquet(tmp_path / "log.parquet")
    rows = {(r.table, r.item): r.value for r in back.itertuples()}
    assert rows == {("cohort_counts", "threshold"): "10",
                    ("cohort_counts", "primary.count"): "1",
                    ("cohort_counts", "primary.children"): '["post_fsp"]',
                    ("other", "none"): "no disclosure record"}
    assert log.attrs["disclosure"]["content"].startswith("disclosure settings")
