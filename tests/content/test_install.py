"""werkvloer content install: the official blueprint pack replaces the working
version; progress survives where step ids match; a broken pack changes nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.database import open_box_db
from content import progress
from content.install import PackRefused, install_pack, installed_dir, load_box_library
from content.loader import SHIPPED_DIR

ROOT = Path(__file__).resolve().parents[2]


def official_sheet_metal(tmp_path: Path) -> Path:
    """The shipped sheet-metal pack turned into an 'official' 1.0.0: one step gone, one retitled."""
    dst = tmp_path / "incoming" / "sheet-metal"
    shutil.copytree(SHIPPED_DIR / "sheet-metal", dst)
    toml = dst / "pack.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('version = "0.9.0"', 'version = "1.0.0"')
                    .replace('edition = "working-version"', 'edition = "official"'), encoding="utf-8")
    for lang in ("nl", "en"):
        (dst / "steps" / f"sm-log-02.{lang}.md").unlink()
        step = dst / "steps" / f"sm-prod-01.{lang}.md"
        text = step.read_text(encoding="utf-8")
        title = next(line for line in text.splitlines() if line.startswith("title: "))
        step.write_text(text.replace(title, "title: Officieel omstellen" if lang == "nl" else "title: Official changeover"),
                        encoding="utf-8")
    return dst


@pytest.fixture
def box(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    db = open_box_db(data / "werkvloer.db")
    progress.set_progress(db, "sm-prod-01", "done", note="kar staat er")
    progress.set_progress(db, "sm-log-02", "busy")
    progress.set_progress(db, "box-baseline", "done")
    return data, db


def test_official_pack_replaces_the_working_version_and_keeps_progress(tmp_path: Path, box) -> None:
    data, db = box
    result = install_pack(official_sheet_metal(tmp_path), data_dir=data, db_path=data / "werkvloer.db")
    assert result.replaced == "shipped 0.9.0" and result.version == "1.0.0"
    assert result.kept == ["sm-prod-01"]
    assert result.dropped == ["sm-log-02"]
    lib = load_box_library(data)
    assert lib.packs["sheet-metal"].manifest.edition == "official"
    assert lib.step("sm-prod-01").text("nl").title == "Officieel omstellen"
    assert "step:sm-log-02" not in lib
    # nothing stored is lost: the dropped step's row is still there
    assert progress.get_progress(db, "sm-log-02").status == "busy"
    assert progress.get_progress(db, "sm-prod-01").note == "kar staat er"


def test_second_install_keeps_the_previous_one(tmp_path: Path, box) -> None:
    data, _ = box
    src = official_sheet_metal(tmp_path)
    install_pack(src, data_dir=data)
    toml = src / "pack.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('version = "1.0.0"', 'version = "1.1.0"'), encoding="utf-8")
    result = install_pack(src, data_dir=data)
    assert result.replaced == "installed 1.0.0"
    assert (installed_dir(data) / ".previous" / "sheet-metal" / "pack.toml").read_text(encoding="utf-8").count('"1.0.0"') == 1
    assert load_box_library(data).packs["sheet-metal"].manifest.version == "1.1.0"


def test_broken_pack_is_refused_and_nothing_changes(tmp_path: Path, box) -> None:
    data, _ = box
    install_pack(official_sheet_metal(tmp_path / "a"), data_dir=data)
    broken = official_sheet_metal(tmp_path / "b")
    step = broken / "steps" / "sm-prod-01.en.md"
    step.write_text(step.read_text(encoding="utf-8").replace("cost: low", "cost: priceless"), encoding="utf-8")
    with pytest.raises(PackRefused) as exc:
        install_pack(broken, data_dir=data)
    msg = str(exc.value)
    assert "nothing on the box was changed" in msg and "sm-prod-01.en.md: cost:" in msg
    assert load_box_library(data).step("sm-prod-01").text("en").title == "Official changeover"
    assert not list(installed_dir(data).glob(".staging-*"))


def test_shared_pack_that_breaks_a_blueprint_is_refused(tmp_path: Path, box) -> None:
    data, _ = box
    common = tmp_path / "incoming" / "common"
    shutil.copytree(SHIPPED_DIR / "common", common)
    for f in (common / "cards").glob("card-cam-programming.*.md"):
        f.unlink()
    for f in (common / "advice").glob("*.md"):  # advice may not link the removed card
        f.write_text(f.read_text(encoding="utf-8").replace("- card-cam-programming\n", ""), encoding="utf-8")
    with pytest.raises(PackRefused) as exc:
        install_pack(common, data_dir=data)
    assert "card-cam-programming" in str(exc.value) and "after installing common" in str(exc.value)
    assert not (installed_dir(data) / "common").exists()


def test_not_a_pack_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackRefused, match="not a content pack"):
        install_pack(tmp_path, data_dir=tmp_path / "data")


def test_cli_install_exit_codes(tmp_path: Path, box) -> None:
    data, _ = box
    src = official_sheet_metal(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "content.cli", "install", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    ok = run(str(src), "--data-dir", str(data))
    assert ok.returncode == 0, ok.stderr
    assert "replaces the shipped 0.9.0 pack" in ok.stdout and "progress kept for 1 step" in ok.stdout
    (src / "pack.toml").write_text("id = 'sheet-metal'\n", encoding="utf-8")
    bad = run(str(src), "--data-dir", str(data))
    assert bad.returncode == 1 and "not installed" in bad.stderr
