"""The console's files: every one the page loads is in the served table, the table names only
files that exist, and the vendored library is the published release recorded beside it."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path

from dispatcher.console import ASSETS

STATIC = Path(str(resources.files("dispatcher.console").joinpath("static")))


def test_every_served_asset_exists_and_every_file_is_served() -> None:
    served = {path for path, _ in ASSETS.values()}
    present = {str(p.relative_to(STATIC)) for p in STATIC.rglob("*") if p.is_file()} - {
        "index.html",
        "vendor/README.md",
    }
    assert served == present


def test_the_page_and_the_scripts_load_only_served_assets() -> None:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    loaded = set(re.findall(r'(?:src|href)="assets/([^"]+)"', page))
    for script in STATIC.glob("*.js"):
        loaded |= set(re.findall(r'from "\./([^"]+)"', script.read_text(encoding="utf-8")))
    assert loaded <= set(ASSETS)
    assert {"app.js", "chart.umd.min.js", "console.css"} <= loaded


def test_the_pages_never_parse_text_as_html() -> None:
    # Every piece of text from the API goes in with textContent/append: a name or a reason
    # cannot become markup. (The browser tests check the rendering; this keeps the habit.)
    for script in STATIC.glob("*.js"):
        source = script.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, (script.name, sink)


def test_the_vendored_chart_library_is_the_release_recorded_with_its_licence() -> None:
    record = (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")
    row = re.search(
        r"\| Chart\.js \| ([0-9.]+) \|.*\| `chart\.js/chart\.umd\.min\.js` \| `([0-9a-f]{64})` \|",
        record,
    )
    assert row is not None
    version, digest = row.groups()
    library = (STATIC / "vendor" / "chart.js" / "chart.umd.min.js").read_bytes()
    assert hashlib.sha256(library).hexdigest() == digest
    assert library.startswith(f"/*!\n * Chart.js v{version}\n".encode())
    licence = (STATIC / "vendor" / "chart.js" / "LICENSE.md").read_text(encoding="utf-8")
    assert "MIT License" in licence
    assert "Chart.js Contributors" in licence
