"""The package a publish uploads: what `.funcignore` lets through, built the way the
README says, holds the app and nothing of the tooling, the emulators or their keys."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
INFRA_README = ROOT / "infra" / "README.md"

# Folders that must never reach Azure: tooling, local state (Azurite data and the
# emulators' private keys live under .local), and code that only runs locally.
NEVER_PUBLISHED = (".venv", ".venv-infra", "node_modules", ".local", "tests", "infra",
                   "emulators", "examples", "bench", ".git", "test-artifacts")


def _packager() -> ModuleType:
    spec = importlib.util.spec_from_file_location("calbridge_package", ROOT / "infra" /
                                                  "package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


package = _packager()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("package") / "calbridge.zip"
    package.build(ROOT, target)
    return target


def _names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as opened:
        return opened.namelist()


def test_funcignore_covers_the_tooling_folders() -> None:
    rules = package.read_rules(ROOT)
    for folder in NEVER_PUBLISHED:
        assert package.ignored(rules, folder, is_dir=True), f".funcignore lets {folder} in"
    for name in ("local.settings.json", ".venv-anything", "calbridge/__pycache__"):
        assert package.ignored(rules, name, is_dir=True) or package.ignored(
            rules, name, is_dir=False), f".funcignore lets {name} in"


def test_the_package_holds_the_app(built: Path) -> None:
    names = set(_names(built))
    assert {"host.json", "function_app.py", "requirements.txt",
            "calbridge/__init__.py", "calbridge/functions/http.py"} <= names


def test_the_package_holds_no_tooling_settings_or_keys(built: Path) -> None:
    for name in _names(built):
        top = name.split("/")[0]
        assert top not in NEVER_PUBLISHED and not top.startswith(".venv"), name
        assert "__pycache__" not in name and not name.endswith((".pyc", ".pem", ".key")), name
        assert Path(name).name != "local.settings.json", name


def test_planted_keys_and_settings_stay_out(tmp_path: Path) -> None:
    # The working tree of someone who ran `make serve`: the emulators' CA and server keys
    # under .local, a local.settings.json with real secrets, a second virtual environment.
    (tmp_path / ".funcignore").write_text((ROOT / ".funcignore").read_text())
    planted = {".local/certs/ca-key.pem": "KEY", ".local/azurite/__azurite_db_table__.json": "",
               "local.settings.json": "{}", ".venv-infra/bin/checkov": "",
               "node_modules/azurite/package.json": "{}", "calbridge/stray.pem": "KEY",
               "calbridge/__pycache__/x.cpython-311.pyc": "", "infra/main.bicep": "",
               "emulators/graph/api.py": "", "tests/conftest.py": ""}
    kept = {"host.json": "{}", "function_app.py": "", "requirements.txt": "",
            "calbridge/__init__.py": ""}
    for name, content in {**planted, **kept}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    target = tmp_path / "out" / "calbridge.zip"
    target.parent.mkdir()
    assert set(package.build(tmp_path, target)) == {*kept, ".funcignore"}


def test_the_app_imports_from_the_package_alone(built: Path, tmp_path: Path) -> None:
    # Only the package and the installed dependencies on the path: nothing the app
    # imports may live in a folder .funcignore leaves out.
    with zipfile.ZipFile(built) as opened:
        opened.extractall(tmp_path)
    site = sysconfig.get_paths()["purelib"]
    code = ("import sys; sys.path[:] = [sys.argv[1], sys.argv[2], *sys.path[1:]]; "
            "import function_app; print('app imported', flush=True); import emulators")
    done = subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path), site],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          check=False)
    # function_app imports; emulators (left out, so the path is the package's alone) do not.
    assert "app imported" in done.stdout, done.stderr[-2000:]
    assert "No module named 'emulators'" in done.stderr, done.stderr[-2000:]


def _publish_section(text: str) -> str:
    found = re.search(r"## 5\. Publish the code\n(.*?)\n## ", text, re.S)
    assert found, "infra/README.md has no publish section"
    return found.group(1)


def test_the_readme_publishes_with_the_documented_commands() -> None:
    section = _publish_section(INFRA_README.read_text())
    assert "python3 infra/package.py calbridge.zip" in section
    assert re.search(r"az functionapp deployment source config-zip -g \S+ -n \S+ "
                     r"--src calbridge\.zip --build-remote true", section)
    publish = re.findall(r"func azure functionapp publish[^`\n]*", section)
    assert publish and all(p.strip() == 'func azure functionapp publish "$APP"'
                           for p in publish), publish
    assert "git archive" not in section  # would ignore .funcignore
