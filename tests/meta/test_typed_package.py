"""The package says it is typed (PEP 561): sfu/py.typed exists and the build ships it."""

from __future__ import annotations

import pathlib

from setuptools.config.pyprojecttoml import read_configuration

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_py_typed_marker_is_in_the_package_data():
    config = read_configuration(REPO / "pyproject.toml")["tool"]["setuptools"]
    assert "sfu" in config["packages"]
    assert "py.typed" in config.get("package-data", {}).get("sfu", [])
    assert (REPO / "sfu" / "py.typed").is_file()
