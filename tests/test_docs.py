"""The documentation site: `mkdocs build --strict` (a broken link, anchor or API reference fails),
the README's links into it, and the slow-test list that the build generates from the markers."""

import importlib.util
import os
import re
import subprocess
import sys
import textwrap

import pytest

from helpers import ROOT


def _slow_tests_hook():
    spec = importlib.util.spec_from_file_location("slow_tests", ROOT / "docs" / "slow_tests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built with --strict into a temporary folder."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip('mkdocs is not installed: pip install -e ".[docs]"')
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-5000:]}"
    return site


def test_the_site_builds_strict_with_the_api_reference_and_the_slow_test_list(site):
    api = (site / "api" / "index.html").read_text()
    assert 'id="keras_ssl.methods.SimCLR"' in api and 'id="keras_ssl.data.pretraining_dataset"' in api
    contributing = (site / "contributing" / "index.html").read_text()
    assert "slow-tests --" not in contributing
    assert "test_the_whole_shipped_set_regenerates" in contributing


def test_every_readme_link_into_the_docs_reaches_its_page_and_anchor(site):
    links = re.findall(r"\]\(docs/([^)#]+)\.md(?:#([^)]*))?\)", (ROOT / "README.md").read_text())
    assert links
    for page, anchor in links:
        html = site / ("index.html" if page == "index" else f"{page}/index.html")
        assert html.exists(), f"README links to docs/{page}.md, which is not in the site"
        if anchor:
            assert f'id="{anchor}"' in html.read_text(), f"docs/{page}.md has no #{anchor}"


def test_the_slow_list_reads_every_form_of_the_marker(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text(textwrap.dedent("""
        import pytest
        ON_DEMAND = {"b"}

        @pytest.mark.slow
        def test_marked():
            pass

        def test_not_marked():
            pass

        @pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.slow)])
        def test_one_case(n):
            pass

        @pytest.mark.parametrize("name", [
            pytest.param(n, marks=[pytest.mark.slow] if n in ON_DEMAND else []) for n in "ab"])
        def test_chosen(name):
            pass

        @pytest.fixture(params=["fast", pytest.param("streamed", marks=pytest.mark.slow)])
        def pipeline(request):
            return request.param

        def test_uses_fixture(pipeline):
            pass
        """))
    (tmp_path / "tests" / "test_b.py").write_text("import pytest\npytestmark = pytest.mark.slow\n")
    found = _slow_tests_hook().slow_tests(tmp_path / "tests")
    assert [(f, t) for f, t, _ in found] == [
        ("tests/test_a.py", "test_marked"), ("tests/test_a.py", "test_one_case"),
        ("tests/test_a.py", "test_chosen"), ("tests/test_a.py", "test_uses_fixture"),
        ("tests/test_b.py", "every test of the module")]
    assert found[1][2] == "the case `2`" and "n in ON_DEMAND" in found[2][2]
    assert "{'b'}" in found[2][2] and "'streamed'" in found[3][2]
