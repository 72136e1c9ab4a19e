"""The Windows installer (installer/windows/gea-kiosk.iss) cannot be built or run here: Inno
Setup is Windows-only. So this reads the script and checks that it names what the rest of the
product names: the bundle the PyInstaller spec builds, the files the Debian package ships
(installer/linux/build_deb.py), the kiosk's environment variables (kiosk/paths.py), the keys of
enroll.toml (kiosk/enroll_file.py and the Linux example) and the kiosk's version. Every expected
value is taken from that code, not copied from the script, so a rename on either side fails here.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType, SimpleNamespace

import click
import pytest

import kiosk
from kiosk import cli, paths
from kiosk.enroll_file import EnrollRequest

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "installer"
WINDOWS = INSTALLER / "windows"
LINUX = INSTALLER / "linux"
ISS = WINDOWS / "gea-kiosk.iss"
SPEC = INSTALLER / "gea-kiosk.spec"
ENVIRONMENT_KEY = r"SYSTEM\CurrentControlSet\Control\Session Manager\Environment"
# Inno Setup's own command-line parameters, which the script's header mentions too.
INNO_PARAMETERS = {"VERYSILENT", "SUPPRESSMSGBOXES", "NORESTART", "LOG"}


def _split_outside_quotes(line: str, separator: str) -> Iterator[str]:
    part, quoted = "", False
    for char in line:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            yield part
            part = ""
        else:
            part += char
    yield part


@dataclass(frozen=True)
class InnoScript:
    """An .iss file: its preprocessor defines, its sections' lines and its [Code]."""

    text: str
    defines: dict[str, str]
    sections: dict[str, list[str]]

    @classmethod
    def read(cls, path: Path) -> InnoScript:
        text = path.read_text("utf-8")
        defines: dict[str, str] = {}
        for name, value in re.findall(r'^\s*#define\s+(\w+)\s+"([^"]*)"\s*$', text, re.MULTILINE):
            defines.setdefault(name, value)
        sections: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in text.splitlines():
            header = re.fullmatch(r"\[(\w+)\]\s*", line)
            if header:
                current = sections.setdefault(header.group(1).lower(), [])
            elif current is not None and (
                current is sections.get("code") or line.strip()[:1] not in ("", ";", "#")
            ):
                current.append(line)
        return cls(text, defines, sections)

    @property
    def code(self) -> str:
        return "\n".join(self.sections["code"])

    def expand(self, value: str) -> str:
        """`value` with every {#Name} replaced by its define."""
        while (match := re.search(r"\{#(\w+)\}", value)) is not None:
            value = value[: match.start()] + self.defines[match.group(1)] + value[match.end() :]
        return value

    def setup(self) -> dict[str, str]:
        directives = {}
        for line in self.sections["setup"]:
            name, _, value = line.partition("=")
            directives[name.strip()] = value.strip()
        return directives

    def entries(self, section: str) -> list[dict[str, str]]:
        """The entries of a section such as [Files]: `Name: "value"; Flags: a b` lines."""
        found = []
        for line in self.sections[section]:
            entry: dict[str, str] = {}
            for parameter in _split_outside_quotes(line, ";"):
                name, _, value = parameter.partition(":")
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1].replace('""', '"')
                entry[name.strip()] = value
            found.append(entry)
        return found

    def path(self, value: str) -> Path:
        """A Source or OutputDir of the script as a path (they are relative to the script)."""
        return (ISS.parent / self.expand(value).replace("\\", "/")).resolve()


def _flags(entry: dict[str, str]) -> set[str]:
    return set(entry.get("Flags", "").split())


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spec_names() -> dict[str, str]:
    """The names the PyInstaller spec gives its executable (EXE) and bundle folder (COLLECT)."""
    names: dict[str, str] = {}
    for node in ast.walk(ast.parse(SPEC.read_text("utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("EXE", "COLLECT")
        ):
            for keyword in node.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    names[node.func.id] = str(keyword.value.value)
    return names


def _dist() -> str:
    """Where `make bundle` and `make deb` put what they build."""
    match = re.search(r"^DIST \?= (\S+)$", (REPO / "Makefile").read_text("utf-8"), re.MULTILINE)
    assert match is not None
    return match.group(1)


def _command(name: str) -> click.Command:
    """A subcommand of `gea-kiosk`."""
    group = cli.main
    assert isinstance(group, click.Group)
    return group.commands[name]


@pytest.fixture(scope="module")
def script() -> InnoScript:
    return InnoScript.read(ISS)


@pytest.fixture(scope="module")
def build_deb() -> ModuleType:
    return _load(LINUX / "build_deb.py", "gea_kiosk_build_deb")


@pytest.fixture
def linux_files(build_deb: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Every file the Debian package installs besides the bundle (installed path -> source in
    this repository), as build_deb.stage() puts them: stage runs with its copying recorded."""
    installed: dict[str, Path] = {}

    def put(source: Path, _root: Path, target: str, _mode: int) -> None:
        installed[target] = source

    def copytree(_source: Path, _destination: Path, **_options: object) -> None:
        pass

    monkeypatch.setattr(build_deb, "put", put)
    monkeypatch.setattr(build_deb, "shutil", SimpleNamespace(copytree=copytree))
    root = tmp_path / "root"
    root.mkdir()
    build_deb.stage(tmp_path / "bundle", root, "0", "all")
    assert installed
    return installed


def test_the_version_is_the_kiosks(script: InnoScript, build_deb: ModuleType) -> None:
    # The default a bare `iscc` uses, which build.ps1's /DAppVersion overrides.
    match = re.search(r'#ifndef AppVersion\s+#define AppVersion "([^"]+)"\s+#endif', script.text)
    assert match is not None, "the .iss needs an overridable #define AppVersion default"
    assert match.group(1) == kiosk.__version__ == build_deb.read_version()
    setup = script.setup()
    assert setup["AppVersion"] == setup["VersionInfoVersion"] == "{#AppVersion}"
    assert setup["OutputBaseFilename"] == f"{build_deb.PACKAGE}-{{#AppVersion}}-setup"
    assert script.path(setup["OutputDir"]) == REPO / _dist()
    build_script = (WINDOWS / "build.ps1").read_text("utf-8")
    assert "kiosk.__version__" in build_script
    assert '"/DAppVersion=$version"' in build_script


def test_it_installs_the_bundle_the_spec_builds(script: InnoScript, build_deb: ModuleType) -> None:
    names = _spec_names()
    executable = names["EXE"] + ".exe"
    assert script.defines["ExeName"] == executable
    # The Debian package runs the same executable from the same bundle.
    assert build_deb.PACKAGE == names["EXE"]
    bundle = REPO / _dist() / names["COLLECT"]
    [entry] = [e for e in script.entries("files") if script.path(e["Source"]) == bundle / "*"]
    assert entry["DestDir"] == "{app}"
    assert {"ignoreversion", "recursesubdirs", "createallsubdirs"} <= _flags(entry)
    # iscc refuses to build without that executable, or with one of another version.
    assert 'FileExists(SourcePath + BundleDir + "\\" + ExeName)' in script.text
    assert (
        'GetStringFileInfo(SourcePath + BundleDir + "\\" + ExeName, "ProductVersion") != AppVersion'
        in script.text
    )
    # Everything that starts the kiosk starts that executable.
    installed = script.expand("{app}\\{#ExeName}")
    assert script.expand(script.setup()["UninstallDisplayIcon"]) == installed
    assert [script.expand(icon["Filename"]) for icon in script.entries("icons")] == [installed]
    assert f"ExpandConstant('{installed}')" in script.expand(script.code)
    [tool] = [e for e in script.entries("files") if script.path(e["Source"]) == WINDOWS / "autostart.ps1"]
    assert tool["DestDir"] == "{app}\\tools"  # autostart.ps1 finds the kiosk in its parent folder
    assert f"Join-Path (Split-Path -Parent $PSScriptRoot) '{executable}'" in (
        WINDOWS / "autostart.ps1"
    ).read_text("utf-8")


def test_it_installs_the_linux_packages_kiosk_toml_template_as_the_config_file(
    script: InnoScript, build_deb: ModuleType, linux_files: dict[str, Path]
) -> None:
    [conffile] = [path for path in build_deb.CONFFILES if PurePosixPath(path).name == paths.CONFIG_FILENAME]
    template = linux_files[conffile]
    config_dir = script.expand("{#ConfigDir}")
    [entry] = [
        e
        for e in script.entries("files")
        if script.path(e["Source"]) == template and script.expand(e["DestDir"]) == config_dir
    ]
    assert entry.get("DestName", template.name) == paths.CONFIG_FILENAME
    # IT's edits survive upgrades and uninstalls, as a Debian conffile's do.
    assert {"onlyifdoesntexist", "uninsneveruninstall"} <= _flags(entry)
    # The template tells IT where it lives on Windows: the same place.
    match = re.search(r"Windows: (C:\\\S+?)\.?\s", template.read_text("utf-8"))
    assert match is not None
    assert match.group(1) == f"{config_dir}\\{paths.CONFIG_FILENAME}".replace(
        "{commonappdata}", r"C:\ProgramData"
    )


def test_every_file_it_ships_is_the_bundle_its_own_or_one_the_linux_package_ships(
    script: InnoScript, linux_files: dict[str, Path]
) -> None:
    bundle = REPO / _dist() / _spec_names()["COLLECT"] / "*"
    shipped = {script.path(entry["Source"]) for entry in script.entries("files")} - {bundle}
    linux_sources = set(linux_files.values())
    for source in shipped:
        if source.parent == WINDOWS:
            assert source.is_file(), source
        else:
            assert source in linux_sources, f"{source} is not what the Linux package ships"
    # And what the Linux package ships that is not Linux's own (installer/linux) ships here too:
    # the kiosk.toml template, the guide, the font's licence.
    assert {source for source in linux_sources if LINUX not in source.parents} <= shipped


def test_the_environment_points_the_kiosk_at_the_installed_files(script: InnoScript) -> None:
    expected = {paths.DATA_DIR_ENV, paths.CONFIG_ENV}
    assert {script.defines["DataDirEnv"], script.defines["ConfigEnv"]} == expected
    assert script.defines["ConfigName"] == paths.CONFIG_FILENAME
    # The same variables as the Linux package's kiosk-mode unit sets.
    unit = (LINUX / "gea-kiosk@.service").read_text("utf-8")
    assert set(re.findall(r"^Environment=(GEA_KIOSK_\w+)=", unit, re.MULTILINE)) == expected

    variables = {
        script.expand(entry["ValueName"]): entry
        for entry in script.entries("registry")
        if entry["Root"] == "HKLM" and entry["Subkey"] == ENVIRONMENT_KEY
    }
    assert set(variables) == expected
    assert all("uninsdeletevalue" in _flags(entry) for entry in variables.values())
    assert script.setup()["ChangesEnvironment"] == "yes"

    # GEA_KIOSK_CONFIG names the kiosk.toml Setup installs; GEA_KIOSK_DATA_DIR a folder it
    # creates and never uninstalls, as does the folder of kiosk.toml.
    [config] = [
        e
        for e in script.entries("files")
        if script.path(e["Source"]).name == paths.CONFIG_FILENAME and "onlyifdoesntexist" in _flags(e)
    ]
    config_dir = script.expand(config["DestDir"])
    assert script.expand(variables[paths.CONFIG_ENV]["ValueData"]) == f"{config_dir}\\{paths.CONFIG_FILENAME}"
    kept = {script.expand(d["Name"]) for d in script.entries("dirs") if "uninsneveruninstall" in _flags(d)}
    assert {script.expand(variables[paths.DATA_DIR_ENV]["ValueData"]), config_dir} <= kept
    # Setup's own enrollment and self-test run with the same two variables.
    for name in ("DataDirEnv", "ConfigEnv"):
        assert f"SetEnvironmentVariable('{{#{name}}}'," in script.code


def test_enroll_toml_has_the_keys_of_the_linux_example_and_of_the_kiosk(
    script: InnoScript, linux_files: dict[str, Path]
) -> None:
    name = script.defines["EnrollName"]
    [example] = [source for target, source in linux_files.items() if PurePosixPath(target).name == name]
    linux_keys = set(tomllib.loads(example.read_text("utf-8")))
    written = re.findall(r"AddTomlKey\(\w+,\s*'(\w+)'", script.code)
    assert len(written) == len(set(written))
    assert set(written) == linux_keys == set(EnrollRequest.model_fields)
    # It is written into the config folder and enrolled with, by the kiosk's own option.
    assert "Result := ConfigDir + '\\{#EnrollName}';" in script.code
    enroll = _command("enroll")
    options = {option for parameter in enroll.params for option in parameter.opts}
    used = re.findall(r"'enroll (--[\w-]+) '", script.code)
    assert used
    assert set(used) <= options


def test_the_parameters_it_documents_are_the_ones_it_reads(script: InnoScript) -> None:
    header = "\n".join(
        line for line in script.text.split("\n[Setup]")[0].splitlines() if line.startswith(";")
    )
    documented = set(re.findall(r"/([A-Z]{3,})\b", header)) - INNO_PARAMETERS
    read = set(re.findall(r"(?:CmdParam|HasSwitch)\('(\w+)'\)", script.code))
    assert documented == read
    # The enrollment the issue asks for: /VERYSILENT /SERVER=... /CODE=... /PINHASH=...
    assert {"SERVER", "CODE", "PINHASH"} <= read


def test_upgrades_find_the_same_install_and_keep_the_data(script: InnoScript) -> None:
    setup = script.setup()
    # A fixed AppId ("{{" escapes the brace): every version upgrades the one before in place.
    assert re.fullmatch(r"\{\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}", setup["AppId"])
    assert setup["CloseApplications"] in ("yes", "force")
    # The data goes only when IT asks for it.
    purge = re.search(r"if PurgeRequested then\s+begin\s+if not DelTree\(ConfigDir,", script.code)
    assert purge is not None
    assert "HasSwitch('PURGE')" in script.code
    assert re.search(r"else if UninstallSilent then\s+Result := False", script.code)
