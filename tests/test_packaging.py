"""The conda environment of the jobs and the package declare the same dependencies."""

from __future__ import annotations

import tomllib

import yaml

from tests.configs import REPO


def normalised(requirements):
    return sorted(r.replace('"', "").replace(" ", "") for r in requirements)


def test_conda_env_pins_the_package_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "envs" / "synclone.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert normalised(pip) == normalised(project["dependencies"])
