"""One simulated recording written in every recorder format the analysis reads.

The readers are proven on files the real software wrote (tests/data/, see its README); these
writers let one session's recording exist in every format, so the analysis can be checked
to give the same values from each. Where a library of the field writes the format, it is
used (pybv for BrainVision, edfio for EDF+); BDF, XDF and LabChart text are written here
from their specifications, laid out like the real files in tests/data/.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BIOSEMI_FLAGS = 0x110000  # bits 16 and 20 (BioSemi's epoch and CMS-in-range flags): above the trigger lines


@dataclass
class Signals:
    """A recording: ECG in mV and EDA in µS at ``rate_hz``, marker codes held on ``digital``."""

    rate_hz: int
    ecg_mv: np.ndarray
    eda_us: np.ndarray
    digital: np.ndarray

    @property
    def onsets(self) -> tuple[np.ndarray, np.ndarray]:
        """(sample index, code) of every marker onset."""
        changes = np.flatnonzero(np.diff(self.digital) != 0) + 1
        at = changes[self.digital[changes] != 0]
        return at, self.digital[at]


def write_labchart(path: Path, signals: Signals, time_column: bool = True) -> None:
    """A LabChart text export (CRLF, header block, untitled time column, ``#*`` comments)."""
    n = len(signals.ecg_mv)
    at, codes = signals.onsets
    comment_at = dict(zip(at.tolist(), [f"#* {c}" for c in codes.tolist()], strict=True))
    header = [
        "Interval=\t%g s" % (1 / signals.rate_hz),
        "ExcelDateTime=\t4.6353456789120370e+04\t11/27/26 10:57:46.123456",
        "TimeFormat=\tStartOfBlock",
        "DateFormat=\t",
        "ChannelTitle=\tECG\tEDA\tDigital input",
        "Range=\t2.000 mV\t40.00 µS\t10.000 V",
        "UnitName=\t*\t*\t*",
        "TopValue=\t*\t*\t*",
        "BottomValue=\t*\t*\t*",
    ]
    time_s = np.arange(n) / signals.rate_hz
    rows = []
    for i in range(n):
        cells = [f"{time_s[i]:.3f}"] if time_column else []
        cells += [f"{signals.ecg_mv[i]:.6g}", f"{signals.eda_us[i]:.6g}", str(int(signals.digital[i]))]
        if i in comment_at:  # a comment typed at each marker, as a technician might
            cells.append(comment_at[i])
        rows.append("\t".join(cells))
    path.write_bytes(("\r\n".join(header + rows) + "\r\n").encode("latin-1"))


def write_brainvision(folder: Path, stem: str, signals: Signals) -> Path:
    """BrainVision (pybv): ECG in µV as Recorder writes it, EDA in µS, TriggerBox codes as S n."""
    import pybv

    at, codes = signals.onsets
    with warnings.catch_warnings():  # pybv warns that µS is not µV; Recorder writes µS for GSR all the same
        warnings.simplefilter("ignore", UserWarning)
        _write_brainvision(pybv, folder, stem, signals, at, codes)
    return folder / f"{stem}.vhdr"


def _write_brainvision(pybv, folder: Path, stem: str, signals: Signals, at, codes) -> None:
    pybv.write_brainvision(
        data=np.vstack([signals.ecg_mv * 1000, signals.eda_us]),
        sfreq=signals.rate_hz,
        ch_names=["ECG", "EDA"],
        fname_base=stem,
        folder_out=str(folder),
        events=np.column_stack([at, codes]).astype(int),
        unit=["µV", "µS"],
        resolution=[0.01, 0.0001],
        overwrite=True,
    )


def write_edf_plus(path: Path, signals: Signals, eda_rate_hz: int) -> None:
    """EDF+ (edfio): ECG in mV, EDA at its own lower rate in µS, markers as annotations."""
    import edfio

    at, codes = signals.onsets
    step = signals.rate_hz // eda_rate_hz
    seconds = len(signals.ecg_mv) // signals.rate_hz  # EDF holds whole data records
    edf = edfio.Edf(
        [
            edfio.EdfSignal(
                signals.ecg_mv[: seconds * signals.rate_hz],
                sampling_frequency=signals.rate_hz,
                label="ECG",
                physical_dimension="mV",
                physical_range=(-5, 5),
            ),
            edfio.EdfSignal(
                signals.eda_us[: seconds * signals.rate_hz : step],
                sampling_frequency=eda_rate_hz,
                label="EDA",
                physical_dimension="uS",
                physical_range=(0, 50),
            ),
        ],
        annotations=[edfio.EdfAnnotation(i / signals.rate_hz, None, str(c)) for i, c in zip(at, codes, strict=True)],
    )
    edf.write(path)


def write_bdf(path: Path, signals: Signals) -> None:
    """BioSemi BDF: 24-bit samples, ECG in µV (an EXG channel), Status with BioSemi's flags set."""
    rate = signals.rate_hz
    seconds = len(signals.ecg_mv) // rate
    status = signals.digital[: seconds * rate].astype(np.int64) | BIOSEMI_FLAGS
    channels = [  # label, unit, physical min/max, digital min/max, samples
        ("EXG1", "uV", -262144, 262143, -8388608, 8388607, signals.ecg_mv[: seconds * rate] * 1000),
        ("GSR1", "uS", 0, 100, -8388608, 8388607, signals.eda_us[: seconds * rate]),
        ("Status", "Boolean", -8388608, 8388607, -8388608, 8388607, status),
    ]
    count = len(channels)

    def field(values, width):
        return b"".join(str(v).ljust(width)[:width].encode("ascii") for v in values)

    header = b"\xffBIOSEMI" + b"".ljust(80) + b"".ljust(80) + b"27.11.26" + b"10.57.46"
    header += str(256 * (count + 1)).ljust(8).encode() + b"24BIT".ljust(44)
    header += str(seconds).ljust(8).encode() + b"1".ljust(8) + str(count).ljust(4).encode()
    header += field([c[0] for c in channels], 16) + field(["" for _ in channels], 80)
    header += field([c[1] for c in channels], 8)
    header += field([c[2] for c in channels], 8) + field([c[3] for c in channels], 8)
    header += field([c[4] for c in channels], 8) + field([c[5] for c in channels], 8)
    header += field(["" for _ in channels], 80) + field([rate] * count, 8) + field(["" for _ in channels], 32)
    digital = []
    for _, _, pmin, pmax, dmin, dmax, values in channels:
        scaled = (np.asarray(values, dtype=np.float64) - pmin) / (pmax - pmin) * (dmax - dmin) + dmin
        digital.append(np.clip(np.round(scaled), dmin, dmax).astype(np.int64).reshape(seconds, rate))
    records = np.stack(digital, axis=1)  # (seconds, channels, samples)
    unsigned = (records & 0xFFFFFF).astype(np.uint32)
    packed = np.stack([(unsigned >> shift) & 0xFF for shift in (0, 8, 16)], axis=-1).astype(np.uint8)
    path.write_bytes(header + packed.tobytes())


def write_xdf(path: Path, signals: Signals, labels: dict[int, str], eda_rate_hz: int, marker_clock_s: float) -> None:
    """LabRecorder XDF: ECG and EDA as two streams (EDA at its own rate) and our marker
    stream, sent by labels, from a computer whose clock is ``marker_clock_s`` ahead (the
    stream's clock offsets say so, as LabRecorder measures them)."""
    rate = signals.rate_hz
    start = 5000.0  # LSL clocks count from the computer's boot
    chunks = [_chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')]
    ecg_times = start + np.arange(len(signals.ecg_mv)) / rate
    eda_step = rate // eda_rate_hz
    streams = [
        (1, "Physio", "ECG", rate, "float32", [("ECG", "mV")], ecg_times, signals.ecg_mv[:, None]),
        (2, "Physio", "EDA", eda_rate_hz, "float32", [("EDA", "uS")], ecg_times[::eda_step],
         signals.eda_us[::eda_step, None]),
    ]  # fmt: skip
    for stream_id, stype, name, srate, fmt, channels, times, values in streams:
        described = "".join(f"<channel><label>{label}</label><unit>{unit}</unit></channel>" for label, unit in channels)
        info = (
            f'<?xml version="1.0"?><info><name>{name}</name><type>{stype}</type>'
            f"<channel_count>{len(channels)}</channel_count><nominal_srate>{srate}</nominal_srate>"
            f"<channel_format>{fmt}</channel_format><desc><channels>{described}</channels></desc></info>"
        )
        chunks.append(_chunk(2, struct.pack("<I", stream_id) + info.encode()))
        for first in range(0, len(times), 10000):
            block = slice(first, first + 10000)
            chunks.append(_samples(stream_id, times[block], values[block].astype(np.float32)))
    at, codes = signals.onsets
    table = "".join(f"<{label}>{code}</{label}>" for code, label in labels.items())
    info = (
        '<?xml version="1.0"?><info><name>SelfCompassionMarkers</name><type>Markers</type>'
        "<channel_count>1</channel_count><nominal_srate>0</nominal_srate><channel_format>string</channel_format>"
        f"<desc><codes>{table}</codes></desc></info>"
    )
    chunks.append(_chunk(2, struct.pack("<I", 3) + info.encode()))
    sent_at = ecg_times[at] + marker_clock_s  # on the presentation PC's clock
    chunks.append(_string_samples(3, sent_at, [labels[int(c)] for c in codes]))
    for collected in np.arange(start, ecg_times[-1], 5.0):  # what LabRecorder measures every 5 s
        chunks.append(_chunk(4, struct.pack("<Idd", 3, collected + marker_clock_s, -marker_clock_s)))
    path.write_bytes(b"XDF:" + b"".join(chunks))


def _chunk(tag: int, content: bytes) -> bytes:
    body = struct.pack("<H", tag) + content
    return struct.pack("<BQ", 8, len(body)) + body


def _varlen(n: int) -> bytes:
    return struct.pack("<BQ", 8, n)


def _samples(stream_id: int, times: np.ndarray, values: np.ndarray) -> bytes:
    parts = [struct.pack("<I", stream_id), _varlen(len(times))]
    for stamp, row in zip(times, values, strict=True):
        parts.append(b"\x08" + struct.pack("<d", stamp) + row.tobytes())
    return _chunk(3, b"".join(parts))


def _string_samples(stream_id: int, times: np.ndarray, texts: list[str]) -> bytes:
    parts = [struct.pack("<I", stream_id), _varlen(len(times))]
    for stamp, text in zip(times, texts, strict=True):
        encoded = text.encode()
        parts.append(b"\x08" + struct.pack("<d", stamp) + _varlen(len(encoded)) + encoded)
    return _chunk(3, b"".join(parts))
