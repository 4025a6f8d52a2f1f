"""Load and validate the protocol file (TOML) into frozen dataclasses.

Every setting and its default is documented in ``stimuli/protocol.toml``. Loading either
returns a complete, checked :class:`Protocol` or raises one :class:`ConfigError` sentence
naming the file, the key and what to do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from experiment.errors import ConfigError
from experiment.markers.device import PROTOCOLS as MARKER_PROTOCOLS
from experiment.questionnaires import Questionnaire, load_questionnaire
from experiment.tables import Table, load_toml

GROUP_KEYS = ("CBS", "LKM", "RUM", "PE", "NEU")
PHASE_KINDS = ("instructions", "rest", "questionnaires", "audio", "end")
AUDIO_BACKENDS = ("auto", "ptb", "sounddevice")
# Events every session sends besides each phase's <name>_start and <name>_end.
SESSION_EVENTS = ("session_start", "session_end", "session_abort")
AUDIO_EVENTS = ("audio_onset", "audio_offset", "sync")
QUESTIONNAIRE_EVENTS = ("item_onset",)
_PHASE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
DEFAULT_ID_PATTERN = r"^[A-Z]{1,3}[0-9]{2,4}$"


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    audio: Path
    audio_sha256: str | None


@dataclass(frozen=True)
class Phase:
    name: str
    kind: str
    text: str
    duration_s: float | None = None
    questionnaires: tuple[str, ...] = ()


@dataclass(frozen=True)
class MarkerSettings:
    protocol: str
    port: str | None
    baudrate: int | None  # None: the device's own default
    pulse_ms: float
    lsl: bool  # also send every marker to a Lab Streaming Layer outlet
    sync_interval_s: float
    codes: Mapping[str, int]


@dataclass(frozen=True)
class DisplaySettings:
    fullscreen: bool
    size: tuple[int, int]
    background: str
    foreground: str
    text_height: float


@dataclass(frozen=True)
class AudioSettings:
    backend: str
    device: str | None  # part of the output device's name; None: the system default
    volume: float
    expected_duration_s: float | None  # every group's recording must be this long ...
    duration_tolerance_s: float  # ... give or take this much
    sound_check: bool  # the technician hears a tone before the participant starts


@dataclass(frozen=True)
class RecorderSettings:
    stream: str | None  # the recorder's Lab Streaming Layer stream; None: the recorder is not watched
    columns: str | None  # "ecg=NAME,eda=NAME,digital=NAME" where the labels do not say


@dataclass(frozen=True)
class AnalysisSettings:
    scr_min_amplitude_us: float  # the smallest skin-conductance response counted (trough to peak)


@dataclass(frozen=True)
class AllocationSettings:
    n: int  # planned participants per stratum, for a ledger this protocol creates
    block_sizes: tuple[int, ...]  # permuted blocks of these sizes, chosen at random
    strata: tuple[str, ...]  # () = not stratified
    stratify_by: str  # what the strata are (the dialog's label), e.g. "Gender"
    replace_aborted: bool  # an aborted participant's slot goes to the next participant
    blind: bool  # the technician never sees the group
    seed: int | None  # fixed seed: demos and rehearsals only


@dataclass(frozen=True)
class Protocol:
    path: Path
    sha256: str
    name: str
    id_pattern: str
    allocation: AllocationSettings
    display: DisplaySettings
    markers: MarkerSettings
    audio: AudioSettings
    recorder: RecorderSettings
    analysis: AnalysisSettings
    groups: Mapping[str, Group]
    phases: tuple[Phase, ...]
    questionnaires: Mapping[str, Questionnaire]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)


def _read_allocation(table: Table, n_groups: int) -> AllocationSettings:
    sizes = table.raw("block_sizes", [n_groups, 2 * n_groups])
    if not isinstance(sizes, list) or not sizes or any(isinstance(v, bool) or not isinstance(v, int) for v in sizes):
        raise table.error("block_sizes", f"must be a list of whole numbers, like [{n_groups}, {2 * n_groups}]")
    if any(v <= 0 or v % n_groups for v in sizes):
        raise table.error(
            "block_sizes", f"must be multiples of the number of groups ({n_groups}), like [{n_groups}, {2 * n_groups}]"
        )
    strata = table.str_list("strata", ())
    if len(set(strata)) != len(strata):
        raise table.error("strata", "names a stratum twice: list each once")
    settings = AllocationSettings(
        n=table.int("n", 135, low=1),
        block_sizes=tuple(sizes),
        strata=strata,
        stratify_by=table.str("stratify_by", "Stratum"),
        replace_aborted=table.bool("replace_aborted", False),
        blind=table.bool("blind", True),
        seed=table.int("seed", None, low=0),
    )
    table.finish()
    return settings


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_protocol(path: Path | str, recordings_needed: bool = True) -> Protocol:
    """Read ``path`` and check everything a session needs from it.

    ``recordings_needed=False`` reads a protocol whose recordings are not on this computer
    (the simulator only needs its timeline and marker codes).

    Raises
    ------
    ConfigError
        One sentence naming the file, the key and what to do.
    """
    path = Path(path).resolve()
    top = Table(load_toml(path, "The protocol file"), path)
    base = path.parent

    study = top.table("study", required=True)
    name = study.str("name")
    id_pattern = study.str("participant_id_pattern", DEFAULT_ID_PATTERN)
    try:
        re.compile(id_pattern)
    except re.error as err:
        raise study.error("participant_id_pattern", f"is not a valid pattern ({err})") from None
    study.finish()

    questionnaires = _read_questionnaires(top.table("questionnaires"), base)
    groups = _read_groups(top.table("groups", required=True), base, recordings_needed)
    allocation = _read_allocation(top.table("allocation"), len(groups))
    phases = _read_phases(top, questionnaires)
    markers = _read_markers(top.table("markers", required=True), phases)
    protocol = Protocol(
        path=path,
        sha256=file_sha256(path),
        name=name,
        id_pattern=id_pattern,
        allocation=allocation,
        display=_read_display(top.table("display")),
        markers=markers,
        audio=_read_audio(top.table("audio")),
        recorder=_read_recorder(top.table("recorder")),
        analysis=_read_analysis(top.table("analysis")),
        groups=MappingProxyType(groups),
        phases=phases,
        questionnaires=MappingProxyType(questionnaires),
    )
    top.finish()
    return protocol


def load_questionnaires_of(path: Path | str) -> dict[str, Questionnaire]:
    """Only the item banks a protocol file names (the analysis needs no recordings or ports)."""
    path = Path(path).resolve()
    top = Table(load_toml(path, "The protocol file"), path)
    return _read_questionnaires(top.table("questionnaires"), path.parent)


def load_analysis_settings_of(path: Path | str) -> AnalysisSettings:
    """Only the protocol's [analysis] settings."""
    path = Path(path).resolve()
    return _read_analysis(Table(load_toml(path, "The protocol file"), path).table("analysis"))


def _read_analysis(table: Table) -> AnalysisSettings:
    amplitude = table.positive("scr_min_amplitude_us", 0.05)
    if not 0.005 <= amplitude <= 1.0:
        raise table.error(
            "scr_min_amplitude_us", f"is {amplitude:g}; choose 0.005-1 µS (0.05 is common, 0.01 the smallest scored)"
        )
    settings = AnalysisSettings(scr_min_amplitude_us=float(amplitude))
    table.finish()
    return settings


def _read_questionnaires(table: Table, base: Path) -> dict[str, Questionnaire]:
    banks = {}
    for key in list(table.data):
        bank = load_questionnaire(table.file_path(key, base))
        if bank.id != key:
            raise table.error(key, f"points at a file whose id is '{bank.id}': make them match")
        banks[key] = bank
    return banks


def _read_groups(table: Table, base: Path, recordings_needed: bool) -> dict[str, Group]:
    groups = {}
    for key in list(table.data):
        if key not in GROUP_KEYS:
            raise table.error(key, f"is not one of the five groups {', '.join(GROUP_KEYS)}")
        entry = table.table(key)
        sha = entry.str("audio_sha256", None)
        if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise entry.error("audio_sha256", "must be 64 lower-case hex digits")
        audio = entry.file_path("audio", base) if recordings_needed else (base / entry.str("audio")).resolve()
        groups[key] = Group(key, entry.str("label"), audio, sha)
        entry.finish()
    if len(groups) < 2:
        raise table.error("", "must define at least two of the groups " + ", ".join(GROUP_KEYS))
    return groups


def _read_phases(top: Table, questionnaires: Mapping[str, Questionnaire]) -> tuple[Phase, ...]:
    phases = []
    for table in top.table_list("phases"):
        name = table.str("name")
        if not _PHASE_NAME.match(name):
            raise table.error("name", "must be lower-case letters, digits and _")
        if any(p.name == name for p in phases):
            raise table.error("name", f"repeats the phase name '{name}': names must be unique")
        kind = table.str("kind")
        if kind not in PHASE_KINDS:
            raise table.error("kind", f"is '{kind}', not one of {', '.join(PHASE_KINDS)}")
        text = table.str("text")
        duration = table.positive("duration_s") if kind == "rest" else None
        banks: tuple[str, ...] = ()
        if kind == "questionnaires":
            banks = table.str_list("questionnaires")
            for bank in banks:
                if bank not in questionnaires:
                    raise table.error("questionnaires", f"names '{bank}', which [questionnaires] does not define")
        table.finish()
        phases.append(Phase(name, kind, text, duration, banks))
    kinds = [p.kind for p in phases]
    if kinds.count("audio") != 1:
        raise top.error("phases", "must hold exactly one phase of kind 'audio'")
    return tuple(phases)


def required_events(phases: tuple[Phase, ...]) -> list[str]:
    """Every marker label a session with these phases sends (optional ones excluded)."""
    events = ["session_start", "session_end"]
    for phase in phases:
        events += [f"{phase.name}_start", f"{phase.name}_end"]
    events += list(AUDIO_EVENTS)
    if any(p.kind == "questionnaires" for p in phases):
        events += list(QUESTIONNAIRE_EVENTS)
    return events


def _read_markers(table: Table, phases: tuple[Phase, ...]) -> MarkerSettings:
    protocol = table.str("protocol", "none")
    if protocol not in MARKER_PROTOCOLS:
        raise table.error("protocol", f"is '{protocol}', not one of {', '.join(MARKER_PROTOCOLS)}")
    port = table.str("port", None)
    baudrate = table.int("baudrate", None, low=300, high=4_000_000)
    pulse_ms = table.positive("pulse_ms", 10.0)
    if pulse_ms < 2 or pulse_ms > 1000:
        raise table.error("pulse_ms", f"is {pulse_ms:g}; recorders need 2-1000 ms (10 is safe at 1 kHz and above)")
    lsl = table.bool("lsl", False)
    sync_interval_s = table.positive("sync_interval_s", 60.0)
    codes_table = table.table("codes", required=True)
    needed = required_events(phases)
    allowed = set(needed) | set(SESSION_EVENTS)
    codes: dict[str, int] = {}
    for label in needed:
        codes[label] = codes_table.int(label, low=1, high=255)
    for label in list(codes_table.data):
        if label not in allowed:
            raise codes_table.error(label, "is not an event of this protocol: remove it or fix its name")
        codes[label] = codes_table.int(label, low=1, high=255)
    by_code: dict[int, str] = {}
    for label, code in codes.items():
        if code in by_code:
            raise codes_table.error(
                label, f"uses code {code}, already used by '{by_code[code]}': give each event its own code"
            )
        by_code[code] = label
    table.finish()
    return MarkerSettings(protocol, port, baudrate, pulse_ms, lsl, sync_interval_s, MappingProxyType(codes))


def _read_display(table: Table) -> DisplaySettings:
    size = table.raw("size", [1280, 1024])
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise table.error("size", "must be two positive whole numbers, like [1920, 1080]")
    display = DisplaySettings(
        fullscreen=table.bool("fullscreen", True),
        size=(size[0], size[1]),
        background=table.str("background", "#303030"),
        foreground=table.str("foreground", "#f0f0f0"),
        text_height=table.positive("text_height", 0.05),
    )
    table.finish()
    return display


def _read_recorder(table: Table) -> RecorderSettings:
    recorder = RecorderSettings(stream=table.str("stream", None), columns=table.str("columns", None))
    table.finish()
    return recorder


def _read_audio(table: Table) -> AudioSettings:
    backend = table.str("backend", "auto")
    if backend not in AUDIO_BACKENDS:
        raise table.error("backend", f"is '{backend}', not one of {', '.join(AUDIO_BACKENDS)}")
    volume = table.positive("volume", 1.0)
    if volume > 1.0:
        raise table.error("volume", "must be at most 1.0 (full scale)")
    audio = AudioSettings(
        backend=backend,
        device=table.str("device", None),
        volume=volume,
        expected_duration_s=table.positive("expected_duration_s", None),
        duration_tolerance_s=table.positive("duration_tolerance_s", 2.0),
        sound_check=table.bool("sound_check", True),
    )
    table.finish()
    return audio


def participant_id_problem(id_pattern: str, participant: str, where: str = "") -> str:
    """What is wrong with ``participant`` as a pseudonym of the study ("" when nothing is)."""
    if re.fullmatch(id_pattern, participant or ""):
        return ""
    source = f" (set in {where})" if where else ""
    return (
        f"Participant ID '{participant}' does not match the study's pattern {id_pattern}{source}: "
        "type a pseudonym like P001, never a name."
    )


def check_participant_id(protocol: Protocol, participant: str) -> str:
    """Return ``participant`` if it matches the study's pseudonym pattern."""
    if problem := participant_id_problem(protocol.id_pattern, participant, protocol.path.name):
        raise ConfigError(problem)
    return participant
