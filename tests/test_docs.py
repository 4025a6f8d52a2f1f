"""The README and the guides in docs/: short README, links that lead somewhere, every documented
command real (its options exist; a test or script runs it), every session.json field described."""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys

import pytest
from helpers import REPO

from experiment.datastore import EVENT_COLUMNS, RESPONSE_COLUMNS
from experiment.launcher import build_parser
from experiment.record import FIELDS

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PYTHON = re.compile(r"^(?:\.venv/bin/)?python3? ")


def documented_commands() -> list[tuple[str, str]]:
    """(file name, command) for every command in a bash block or an inline code span."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        lines = [line for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()]
        lines += re.findall(r"`((?:\.venv/bin/)?python3? [^`]+)`", text)
        for line in lines:
            command = line.split("  #")[0].strip()
            if PYTHON.match(command):
                found.append((path.name, command))
    return found


@functools.cache
def help_of(subcommand: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "experiment", *subcommand.split(), "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def words_of(command: str) -> list[str]:
    return shlex.split(PYTHON.sub("", command).replace("[", " ").replace("]", " "))


def run_by_a_test_or_script(text: str) -> bool:
    sources = [*(REPO / "tests").glob("*.py"), *(REPO / "tools").glob("*.py"), *(REPO / "tools").glob("*.sh")]
    return any(text in path.read_text(encoding="utf-8") for path in sources)


COMMANDS = documented_commands()


def test_the_readme_is_short_and_links_every_guide():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    for guide in sorted((REPO / "docs").glob("*.md")):
        assert f"(docs/{guide.name})" in readme, f"README does not link {guide.name}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file(path):
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
        if not target.startswith(("http://", "https://")):
            assert (path.parent / target).exists(), f"{path.name} links {target}, which does not exist"


def test_the_docs_name_their_commands():
    assert len(COMMANDS) >= 20 and any(c.startswith(".venv/bin/python -m experiment analyse") for _, c in COMMANDS)


@pytest.mark.parametrize("where, command", COMMANDS, ids=[c for _, c in COMMANDS])
def test_every_documented_command_exists_with_its_options(where, command):
    words = words_of(command)
    options = [w.split("=")[0] for w in words if w.startswith("--")]
    if words[0] == "run_experiment.py":
        build_parser().parse_args([w for w in words[1:] if w not in ("...",)])  # exits on an unknown option
        return
    if words[0].startswith("tools/"):
        script = REPO / words[0]
        assert script.exists(), f"{where}: {words[0]} does not exist"
        text = script.read_text(encoding="utf-8")
        assert all(f'"{option}"' in text for option in options), f"{where}: {command}"
        return
    if words[:2] == ["-m", "pytest"]:  # the fast tier: its marker expression names defined markers
        markers = (REPO / "pyproject.toml").read_text(encoding="utf-8")
        assert all(f'"{m}:' in markers for m in re.findall(r"\b(slow|timing)\b", command)), command
        return
    assert words[:2] == ["-m", "experiment"], f"{where}: {command}"
    subcommand = words[2]
    if subcommand == "allocation" and words[3] != "...":
        subcommand += f" {words[3]}"
    usage = help_of(subcommand)
    for option in options:
        assert option in usage, f"{where}: {command}: {option} is not an option of {subcommand}"
    assert run_by_a_test_or_script(f'"{words[2]}"'), f"{where}: no test or script runs {words[2]}"


def test_every_session_json_field_is_described():
    guide = (REPO / "docs" / "data-format.md").read_text(encoding="utf-8")
    for name, field in FIELDS.items():
        assert f"| `{name}` |" in guide and field.meaning in guide, f"data-format.md does not describe {name}"
    for column in (*EVENT_COLUMNS, *RESPONSE_COLUMNS):
        assert f"`{column}`" in guide, f"data-format.md does not describe the column {column}"
