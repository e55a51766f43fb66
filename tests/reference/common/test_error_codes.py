"""The README's table of error codes is the one the code gives."""

from __future__ import annotations

from pathlib import Path

from reference.common import error_codes


def test_the_readme_has_the_generated_table() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert error_codes.readme_block() in readme, "run python -m reference.common.error_codes"


def test_the_table_finds_codes_of_every_kind() -> None:
    codes = error_codes.http_codes()
    assert codes["invalid_job_id"][0] == {422}  # ApiError in a service
    assert codes["invalid_radius"][0] == {422}  # a locations range error
    assert codes["map_timeout"][0] == {504}  # a map refusal
    assert codes["scan_rate_limited"][0] == {429}  # a rate limit
    assert codes["body_too_large"][0] == {413}  # the app's own handler
    assert "image_changed" in error_codes.table()  # a failed job's code
