"""Publishing: the deploy workflow, the internal-link check, the packed site, `make serve`, and
the provenance every page and result file carries."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import yaml

from latentgeom.reporting import provenance

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def test_workflow_builds_with_the_ci_commands_and_deploys_to_pages():
    flow = yaml.safe_load(WORKFLOW.read_text())
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on:` key as True
    assert on["push"]["branches"] == ["main"]
    assert flow["permissions"]["pages"] == "write" and flow["permissions"]["id-token"] == "write"
    build, deploy = flow["jobs"]["build"], flow["jobs"]["deploy"]
    runs = "\n".join(step.get("run", "") for step in _steps(build))
    assert "bash .ci/run" in runs  # exactly what CI runs: what is published is what was tested
    uses = [step.get("uses", "") for step in _steps(build)]
    assert any(u.startswith("actions/checkout@") for u in uses)
    upload = next(s for s in _steps(build) if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in _steps(deploy))
    assert build["timeout-minutes"] <= 90


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    for command in ("make test", "make book"):
        assert re.search(rf"^{command}$", ci, re.M), command
        assert command in readme


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "html"
    (site / "book").mkdir(parents=True)
    (site / "_static").mkdir()
    (site / "_static" / "style.css").write_text("body {}")
    (site / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    (site / "book" / "intro.html").write_text(
        '<link href="../_static/style.css" rel="stylesheet"><h1 id="top">Intro</h1>'
        '<a href="page.html#results">ok</a> <a href="#top">self</a> <a href="https://arxiv.org/abs/2305.19730">paper</a>')
    (site / "book" / "page.html").write_text('<h2 id="results">Results</h2><a href="intro.html">back</a>')
    return site


def test_link_check_passes_a_good_site_and_lists_external_links(tmp_path):
    links = _load_script("check_links")
    site = _site(tmp_path)
    broken, external = links.check_links(site)
    assert broken == {}
    assert external == {"https://arxiv.org/abs/2305.19730": {"book/intro.html"}}
    assert links.main([str(site)]) == 0
    assert "https://arxiv.org/abs/2305.19730\tbook/intro.html" in (tmp_path / "external-links.txt").read_text()


def test_link_check_fails_on_a_missing_page_or_anchor(tmp_path):
    links = _load_script("check_links")
    site = _site(tmp_path)
    (site / "book" / "page.html").write_text('<h2 id="results">R</h2><a href="missing.html">x</a> '
                                             '<a href="intro.html#nowhere">y</a>')
    broken, _ = links.check_links(site)
    assert broken == {"book/page.html": ["missing.html (no such file)",
                                         "intro.html#nowhere (no element with id 'nowhere')"]}
    assert links.main([str(site)]) == 1


def test_packed_site_holds_the_html(tmp_path, monkeypatch):
    build = _load_script("build_book")
    site = _site(tmp_path)
    (site / "_screenshots").mkdir()
    (site / "_screenshots" / "landing.png").write_bytes(b"png")
    monkeypatch.setattr(build, "BUILD", tmp_path)
    monkeypatch.setattr(build, "ARTIFACT", tmp_path / "latent-geometry-site.tar.gz")
    artifact = build.pack_site()
    with tarfile.open(artifact) as tar:
        names = set(tar.getnames())
    assert "latent-geometry-site/index.html" in names and "latent-geometry-site/book/page.html" in names
    assert not any("_screenshots" in n for n in names)


def test_serve_answers_on_loopback(tmp_path):
    site = _site(tmp_path)
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "serve.py"), "--port", "0", "--dir", str(site)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        with urllib.request.urlopen(url + "book/page.html", timeout=10) as response:
            assert response.status == 200 and b"Results" in response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_refuses_a_missing_site(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "serve.py"), "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "make book" in result.stderr


def test_provenance_names_commit_date_machine_and_preset(tmp_path, monkeypatch):
    info = provenance.build_provenance(ROOT)
    assert re.fullmatch(r"[0-9a-f]{12}(\+dirty)?|unknown", info["commit"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", info["date"])
    assert "CPU core" in info["machine"] and "GPU" in info["machine"]
    monkeypatch.setenv("LATENTGEOM_COMMIT", "0123456789abcdef0123")
    assert provenance.source_commit() == "0123456789ab"
    page = tmp_path / "page.md"
    page.write_text('```{code-cell}\n:tags: [parameters]\npreset = "default"  # ...\n```\n')
    assert provenance.page_preset(page) == "default"
    results = tmp_path / "findings"
    results.mkdir()
    (results / "x.json").write_text(json.dumps({"notebook": "book/findings/page.md", "parameters": {"name": "tiny"}}))
    assert provenance.page_preset(page, results, "book/findings/page.md") == "tiny"
    (tmp_path / "plain.md").write_text("# no parameters\n")
    assert provenance.page_preset(tmp_path / "plain.md", results, "book/plain.md") is None


def test_result_files_carry_provenance(tmp_path):
    import latentgeom as lg

    finding = lg.Finding(finding_id="x", title="t", notebook="book/findings/x.md", paper_claim="c", paper={},
                         ours={}, checks={"a": True}, verdict="reproduced", parameters={"name": "tiny"})
    data = json.loads(lg.write_finding(finding, tmp_path).read_text())
    assert data["provenance"]["preset"] == "tiny"
    assert {"commit", "date", "machine"} <= set(data["provenance"])
    row = lg.scorecard(tmp_path).iloc[0]  # the scorecard shows it for each result file
    assert row["provenance"].startswith(f"commit {data['provenance']['commit']}, ")
    assert data["provenance"]["machine"] in row["provenance"]


def test_stage_clock_sums_each_stage_over_its_runs():
    """The studies' one stage timer: a stage's seconds add up over its runs (a failed run
    included), wrapped functions count as their stage, and records keep the stages' order."""
    import time

    clock = provenance.StageClock("training")
    for _ in range(2):
        with clock("profiles"):
            time.sleep(0.02)
    try:
        with clock("training"):
            raise RuntimeError("a stage that fails still took its time")
    except RuntimeError:
        pass
    busy = clock.timing("statistics", lambda n: sum(i * i for i in range(n)))
    assert busy(200_000) == sum(i * i for i in range(200_000))
    assert [r["stage"] for r in clock.records()] == ["training", "profiles", "statistics"]
    assert 0.04 <= clock.wall["profiles"] < 1.0
    assert clock.cpu["profiles"] < 0.02  # sleeping is wall time, not CPU time
    assert clock.cpu["statistics"] > 0 and clock.wall["training"] >= 0


def test_repository_is_set_and_the_readme_tells_a_fork_to_change_it():
    """The repository, issues and edit buttons, the launch buttons and the source links all read
    `repository.url` in _config.yml: a placeholder that the README tells a fork to change."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), url
    assert config["repository"]["branch"] == "main"
    html = config["html"]
    assert html["use_repository_button"] and html["use_issues_button"] and html["use_edit_page_button"]
    launch = config["launch_buttons"]
    assert launch["binderhub_url"] == "https://mybinder.org"
    assert launch["colab_url"] == "https://colab.research.google.com"
    assert not launch.get("thebe")  # thebe would load a kernel client from a CDN
    readme = (ROOT / "README.md").read_text()
    assert url in readme and "_config.yml" in readme and re.search(r"fork", readme, re.I)
