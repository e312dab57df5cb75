"""Each per-council asset takes exactly the tables its builder reads, so the asset graph is the
data flow (no input that is loaded and never read, none read that is not an input).

Every builder is called on the shared small county's two councils with all the door tables and
every upstream table at hand, through a mapping that records which tables it reads; the names it
read must be the asset's inputs."""

from __future__ import annotations


import pytest

from assets.analysis import build_monthly_counts, build_state_intervals, monthly_counts, state_intervals
from assets.cohorts import (analysis_dataset, build_analysis_dataset, build_cohort_flow,
                            build_family_cohorts, build_index_episodes, cohort_flow, family_cohorts,
                            index_episodes)
from assets.spells import DOOR_INPUTS, SPELL_ASSETS, SPELLS
from _shared_once import small_county_door
from evaluation.study import StudyConfig

#: Asset -> the library function it calls on its inputs.
BUILDERS = {
    **{asset: SPELLS[asset.key.path[-1]][0] for asset in SPELL_ASSETS},
    index_episodes: build_index_episodes,
    family_cohorts: build_family_cohorts,
    analysis_dataset: build_analysis_dataset,
    cohort_flow: build_cohort_flow,
    state_intervals: build_state_intervals,
    monthly_counts: build_monthly_counts,
}


class Recording(dict):
    """A dict of tables that records the names read and whether it was walked whole."""

    def __init__(self, tables):
        super().__init__(tables)
        self.read, self.walked = set(), False

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)

    def __contains__(self, name):
        self.read.add(name)
        return super().__contains__(name)

    def __iter__(self):
        self.walked = True
        return super().__iter__()

    def keys(self):
        self.walked = True
        return super().keys()

    def items(self):
        self.walked = True
        return super().items()

    def values(self):
        self.walked = True
        return super().values()


@pytest.fixture(scope="module")
def councils(small_county, tmp_path_factory):
    """Per council: every door table the per-council assets may take (read with the demo key; the
    ingest shared with test_cohorts_synthetic), and the spells and index episodes built from them."""
    config = StudyConfig()
    out = []
    for la in ("825", "931"):
        door = {name: frame for name, frame in small_county_door(tmp_path_factory, small_county, la).items()
                if name in DOOR_INPUTS}
        built = {name: build(door, config) for name, (build, *_) in SPELLS.items()}
        built["index_episodes"] = build_index_episodes(door, config)
        out.append({**door, **built})
    return out


@pytest.mark.parametrize("asset", list(BUILDERS), ids=lambda asset: asset.key.to_user_string())
def test_an_asset_takes_exactly_the_tables_its_builder_reads(asset, councils):
    inputs = set(asset.keys_by_input_name)
    assert inputs, asset.key
    for tables in councils:
        recording = Recording(tables)
        BUILDERS[asset](recording, StudyConfig())
        assert not recording.walked, f"{asset.key.to_user_string()} walks every table it is given"
        assert recording.read == inputs, (f"{asset.key.to_user_string()}: reads "
                                          f"{sorted(recording.read - inputs)} it does not take, takes "
                                          f"{sorted(inputs - recording.read)} it does not read")

