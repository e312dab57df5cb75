"""The test markers name files that exist, so `-m "not slow"` leaves out what it says it does."""

from pathlib import Path

from conftest import MARKED_FILES


def test_every_marked_file_exists():
    here = Path(__file__).parent
    missing = [f"{marker}: {name}" for marker, names in MARKED_FILES.items() for name in names
               if not (here / name).is_file()]
    assert not missing


def test_the_files_run_first_exist():
    from conftest import LONG_FILES_FIRST

    here = Path(__file__).parent
    assert [name for name in LONG_FILES_FIRST if not (here / name).is_file()] == []
