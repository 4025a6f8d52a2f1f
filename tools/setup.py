"""Install what the project needs, and nothing twice, on Linux, macOS and Windows.

    python3 tools/setup.py [runtime|dev]      (dev adds the test tools; default dev)

1. The system pieces this OS needs: on Debian and Ubuntu the packages below (installed when
   run as root, else the one ``sudo apt-get install ...`` line to run); elsewhere a check of
   the programs, each missing one named with how to get it.
2. ``.venv/`` at the project root, made with a Python PsychoPy supports (3.10-3.12).
3. The pinned packages of ``requirements.txt`` (``requirements-dev.txt`` for dev), skipped
   when the same files were installed before.

It runs with any Python 3.8 or newer and only its standard library, so a fresh machine can
start it; ``demo.sh``/``test.sh`` and ``demo.bat``/``test.bat`` call it first.
Exit 0 when all is in place, 1 with one sentence saying what to do when not.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
SUPPORTED_PYTHONS = ((3, 10), (3, 11), (3, 12))
# Debian/Ubuntu packages. Runtime: the virtual screen and sound server for machines without a
# desktop (demo, preflight), PortAudio, the Qt dialog's X11 libraries, xdpyinfo.
DEBIAN_RUNTIME = [
    "xvfb",
    "pulseaudio",
    "pulseaudio-utils",
    "libportaudio2",
    "python3-venv",
    "x11-utils",
    "desktop-file-utils",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-image0",
    "libxcb-render-util0",
    "libxkbcommon-x11-0",
    "libxcb-xinerama0",
    "libxcb-shape0",
    "libxcb-randr0",
    "libxcb-xkb1",
]
# Tests: socat tty pairs (the trigger box's cable), xdotool (the participant's and the
# technician's keys), a real PostgreSQL server (the shared ledger), espeak-ng (the demo
# recordings' spoken names, tools/make_demo_audio.py).
DEBIAN_DEV = ["socat", "xdotool", "postgresql", "espeak-ng", "mount", "chromium", "chromium-driver"]
# mount: the disk-fault tests; chromium and its driver: the review pages and report in a real browser
# The same pieces as programs, for Linux systems without dpkg.
LINUX_PROGRAMS_RUNTIME = ["Xvfb", "pulseaudio", "pactl", "parec", "xdpyinfo"]
LINUX_PROGRAMS_DEV = ["socat", "xdotool", "initdb", "espeak-ng", "mount", "umount", "chromium", "chromedriver"]


def say(text: str) -> None:
    print(f"[setup] {text}", flush=True)


class SetupError(Exception):
    """One sentence for the person at the keyboard: what is missing and what to do."""


def debian_packages(what: str) -> None:
    if platform.system() != "Linux":
        return
    wanted = DEBIAN_RUNTIME + (DEBIAN_DEV if what == "dev" else [])
    missing = [pkg for pkg in wanted if not _debian_installed(pkg)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SetupError(
            f"these Debian packages are missing: {' '.join(missing)}. Install them once with:  "
            f"sudo apt-get install {' '.join(missing)}   then run this command again."
        )
    say(f"installing Debian packages: {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _debian_installed(package: str) -> bool:
    query = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
    return "install ok installed" in query.stdout


def other_linux_programs(what: str) -> None:
    wanted = LINUX_PROGRAMS_RUNTIME + (LINUX_PROGRAMS_DEV if what == "dev" else [])
    missing = [prog for prog in wanted if shutil.which(prog) is None and not _postgres_binary(prog)]
    if missing:
        raise SetupError(
            f"not a Debian system and these programs are missing: {' '.join(missing)}: install them with your "
            f"package manager (Xvfb, PulseAudio and its utilities, socat, xdotool, PostgreSQL, espeak-ng)."
        )


def _postgres_binary(prog: str) -> bool:
    return prog == "initdb" and any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


def system_pieces(what: str) -> None:
    """Check (and on Debian as root, install) what this OS needs besides Python packages."""
    system = platform.system()
    if system == "Linux":
        if shutil.which("dpkg-query"):
            debian_packages(what)
        else:
            other_linux_programs(what)
    elif system in ("Darwin", "Windows"):
        # PsychoPy's wheels bring PortAudio and Qt; the screen and sound card are the machine's own.
        if what == "dev":
            say(
                f"on {'macOS' if system == 'Darwin' else 'Windows'} the tests that need Linux stand-ins "
                "(virtual screen, PulseAudio, socat, xdotool) are left out: see docs/development.md"
            )
    else:
        say(f"{system} is not a system this project was tested on; continuing with the Python packages only")


def find_python() -> list[str]:
    """A command that starts a Python PsychoPy supports (3.10-3.12) with venv available."""
    if sys.version_info[:2] in SUPPORTED_PYTHONS:
        candidates = [[sys.executable]]
    else:
        candidates = []
    if platform.system() == "Windows":
        candidates += [["py", f"-{major}.{minor}"] for major, minor in reversed(SUPPORTED_PYTHONS)]
    candidates += [[f"python{major}.{minor}"] for major, minor in reversed(SUPPORTED_PYTHONS)] + [["python3"]]
    probe = "import sys, venv, ensurepip; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))"
    for command in candidates:
        if command[0] != sys.executable and shutil.which(command[0]) is None:
            continue
        works = subprocess.run([*command, "-c", probe], capture_output=True, check=False)
        if works.returncode == 0:
            return command
    raise SetupError(
        "PsychoPy needs Python 3.10, 3.11 or 3.12 (with venv); none was found: install one "
        "(python.org; on Debian: apt-get install python3-venv) and run this again."
    )


def venv_python() -> Path:
    if platform.system() == "Windows":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def make_venv(what: str) -> None:
    python = venv_python()
    if not python.exists():
        command = find_python()
        say(f"creating {VENV} with {' '.join(command)}")
        subprocess.run([*command, "-m", "venv", str(VENV)], check=True)
    requirements = ROOT / ("requirements-dev.txt" if what == "dev" else "requirements.txt")
    stamp = VENV / f".installed-{what}"
    want = requirements_hash()
    if stamp.exists() and stamp.read_text().strip() == want:
        return
    say("installing pinned Python packages (a few minutes the first time)")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
    stamp.write_text(want + "\n")


def requirements_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("requirements*.txt")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "dev"
    if what not in ("runtime", "dev"):
        print(f"usage: python3 tools/setup.py [runtime|dev] (not '{what}')", file=sys.stderr)
        return 2
    try:
        system_pieces(what)
        make_venv(what)
    except SetupError as err:
        say(str(err))
        return 1
    except subprocess.CalledProcessError as err:
        say(f"'{' '.join(map(str, err.cmd))}' failed (exit {err.returncode}): see its messages above, fix, run again.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
