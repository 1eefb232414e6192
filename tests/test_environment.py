"""The pinned pip requirements and environment.yml must list the same packages and versions."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


def test_environment_yml_matches_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_pins = {}
    for item in pip_section:
        if item.startswith("-e"):
            continue
        name, _, version = item.partition("==")
        conda_pins[name.lower()] = version
    assert conda_pins == _requirements()


def test_every_requirement_is_pinned():
    assert all(version for version in _requirements().values())


def test_owner_packages_present():
    required = {"jupyter-book", "jupytext", "papermill", "torch", "torchvision", "numpy", "scipy", "altair"}
    assert required <= set(_requirements())
    assert _requirements()["jupyter-book"].startswith("1.")


def test_readme_layout_lists_every_module():
    """The README's layout table names every module of the library (one row each)."""
    readme = (ROOT / "README.md").read_text()
    modules = [p.relative_to(ROOT).as_posix() for p in (ROOT / "lib" / "latentgeom").rglob("*.py")
               if p.name != "__init__.py" or p.parent.name == "latentgeom"]
    missing = [m for m in modules if f"| `{m}` |" not in readme]
    assert not missing, f"README layout table lacks rows for {missing}"


def test_disk_check_refuses_a_full_disk_with_one_clear_message():
    """make's venv rule runs scripts/check-disk.sh first: a disk without room for torch's wheel
    gives one message naming the free space, the need and what to do, not pip's Errno 28."""
    import subprocess

    script = ROOT / "scripts" / "check-disk.sh"
    ok = subprocess.run(["bash", str(script), str(ROOT), "0"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stderr == ""
    full = subprocess.run(["bash", str(script), str(ROOT), "100000000"], capture_output=True, text=True)
    assert full.returncode == 1
    assert "GiB free" in full.stderr and "100000000 GiB" in full.stderr and "VENV" in full.stderr
    assert "$(VENV_GIB)" in (ROOT / "Makefile").read_text()
