"""What runs on a lab PC runs on Windows too: nothing here can run Windows, so the code is read.

Every use of a POSIX-only API (real-time scheduling, fcntl/termios, user ids, SIGKILL, device
and kernel paths) in the program and the set-up must sit in an OS-specific branch: inside an
``if`` on ``sys.platform``/``os.name``/``platform.system()``/``hasattr``, after such an ``if`` that
returns early from its function, or inside a ``try`` that catches what the call raises where it
does not exist (AttributeError, ImportError, OSError). And paths are built with pathlib, never
with ``os.path`` (whose separators and drive letters differ).
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

RUNS_ON_A_LAB_PC = [
    *sorted((REPO / "experiment").rglob("*.py")),
    REPO / "run_experiment.py",
    REPO / "tools" / "setup.py",
    REPO / "tools" / "demo.py",
    REPO / "tools" / "run_tests.py",
]
POSIX_ONLY_ATTRIBUTES = {
    "os": {"sched_setscheduler", "sched_param", "SCHED_FIFO", "SCHED_RR", "geteuid", "getuid", "getpgid",
           "setsid", "killpg", "fork", "mkfifo", "openpty", "statvfs", "uname", "O_NOCTTY"},
    "signal": {"SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM"},
}  # fmt: skip
POSIX_ONLY_MODULES = {"fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "posix"}
POSIX_PATHS = ("/dev/", "/proc/", "/sys/")
PLATFORM_TESTS = ("sys.platform", "os.name", "platform.system", "hasattr(")
CAUGHT_WHERE_MISSING = {"AttributeError", "ImportError", "ModuleNotFoundError", "OSError"}


def posix_only_uses(tree: ast.AST) -> list[ast.AST]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.attr in POSIX_ONLY_ATTRIBUTES.get(node.value.id, ()):
                found.append(node)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(name.split(".")[0] in POSIX_ONLY_MODULES for name in names):
                found.append(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(POSIX_PATHS):
            found.append(node)
    return found


def os_path_uses(tree: ast.AST) -> list[ast.AST]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and isinstance(node.value.value, ast.Name)
        and (node.value.value.id, node.value.attr) == ("os", "path")
    ]


def is_platform_test(node: ast.AST) -> bool:
    return any(test in ast.unparse(node) for test in PLATFORM_TESTS)


def exits_early(statement: ast.stmt) -> bool:
    """``if <platform test>: return/raise`` - the rest of the function is OS-specific."""
    return (
        isinstance(statement, ast.If)
        and is_platform_test(statement.test)
        and isinstance(statement.body[-1], ast.Return | ast.Raise)
    )


def is_guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.If) and child is not parent.test and is_platform_test(parent.test):
            return True
        if isinstance(parent, ast.Try) and child in parent.body:
            caught = {ast.unparse(h.type) for h in parent.handlers if h.type is not None}
            if any(name in text for text in caught for name in CAUGHT_WHERE_MISSING):
                return True
        if isinstance(parent, ast.FunctionDef):
            position = getattr(child, "lineno", 0)
            if any(exits_early(s) and s.lineno < position for s in parent.body):
                return True
        child, parent = parent, parents.get(parent)
    return False


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)[:60]}"


def parsed(path: Path) -> tuple[ast.AST, dict[ast.AST, ast.AST]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return tree, {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def test_no_posix_only_api_is_used_outside_an_os_specific_branch():
    unguarded = []
    for path in RUNS_ON_A_LAB_PC:
        tree, parents = parsed(path)
        unguarded += [where(path, node) for node in posix_only_uses(tree) if not is_guarded(node, parents)]
    assert not unguarded, "POSIX-only, with no guard for Windows:\n" + "\n".join(unguarded)


def test_every_path_is_built_with_pathlib():
    found = [where(path, node) for path in RUNS_ON_A_LAB_PC for node in os_path_uses(parsed(path)[0])]
    assert not found, "os.path instead of pathlib:\n" + "\n".join(found)


def test_the_rule_finds_what_it_is_for():
    """The reader itself: an unguarded call is found, the same call behind each kind of guard is not."""
    source = """
import os, sys
def bare():
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
def branch():
    if sys.platform.startswith("linux"):
        os.geteuid()
def early():
    if os.name != "posix":
        return None
    open("/dev/ttyUSB0")
def tried():
    try:
        import fcntl
    except ImportError:
        pass
"""
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    flagged = sorted({node.lineno for node in posix_only_uses(tree) if not is_guarded(node, parents)})
    assert flagged == [4]
    assert len(os_path_uses(ast.parse("import os\nos.path.join('a', 'b')"))) == 1
