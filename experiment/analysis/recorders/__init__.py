"""Recorder files as the recorders write them, read into one shape (:mod:`.model`).

=================  =============================================  ================================
extension          written by                                     read with
=================  =============================================  ================================
``.acq``           BIOPAC AcqKnowledge 3.8-5.x                    bioread
``.txt``           LabChart / AcqKnowledge text export, or TSV    :mod:`.text` (told apart by content)
``.csv``           a CSV with one header row (our simulator)      pyarrow
``.vhdr``          BrainVision Recorder (+ ``.vmrk``, ``.eeg``)   MNE-Python
``.edf`` ``.bdf``  EDF/EDF+ writers, BioSemi ActiView             MNE-Python
``.xdf``           LabRecorder                                    pyxdf
``_physio.tsv.gz`` a BIDS dataset (ours, or another tool's)       :mod:`.bids_physio` (its JSON)
=================  =============================================  ================================

A session's recording is found as ``sub-<ID>_ses-<N>_physio.<ext>``.
"""

from __future__ import annotations

from pathlib import Path

from experiment.analysis.recorders.model import Channel, Markers, RecorderFile, Recording
from experiment.analysis.recorders.pick import DEFAULT_COLUMNS, Columns, marker_source, pick
from experiment.errors import DataError

EXTENSIONS = (".csv", ".txt", ".acq", ".vhdr", ".edf", ".bdf", ".xdf")


def read_file(path: Path, columns: Columns = DEFAULT_COLUMNS) -> RecorderFile:
    """Everything in one recorder file; DataError names the file and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist: check the file name.")
    suffix = path.suffix.lower()
    if suffix == ".acq":
        from experiment.analysis.recorders.acq import read_acq

        return read_acq(path)
    if suffix == ".vhdr":
        from experiment.analysis.recorders.eeg_formats import read_brainvision

        return read_brainvision(path)
    if suffix in (".edf", ".bdf"):
        from experiment.analysis.recorders.eeg_formats import read_edf

        return read_edf(path)
    if path.name.endswith("_physio.tsv.gz"):
        from experiment.analysis.recorders.bids_physio import read_bids_physio

        return read_bids_physio(path)
    if suffix == ".xdf":
        from experiment.analysis.recorders.xdf import read_xdf

        return read_xdf(path)
    if suffix in (".csv", ".txt", ".tsv"):
        from experiment.analysis.recorders import text

        kind = text.sniff(path)
        if kind == "labchart":
            return text.read_labchart(path)
        if kind == "acqknowledge-text":
            return text.read_acqknowledge_text(path)
        return text.read_header_csv(path, columns.time)
    raise DataError(
        f"{path.name}: '{path.suffix}' is not a recorder format this program reads ({', '.join(EXTENSIONS)})."
    )


def read_recording(path: Path, columns: Columns = DEFAULT_COLUMNS) -> Recording:
    """The ECG (mV), EDA (µS) and markers of one recorder file."""
    return pick(read_file(path, columns), columns)


def find_export(physio_dir: Path, participant: str, session: int) -> Path | None:
    stem = f"sub-{participant}_ses-{session}_physio"
    return next((physio_dir / f"{stem}{ext}" for ext in EXTENSIONS if (physio_dir / f"{stem}{ext}").exists()), None)


__all__ = [
    "EXTENSIONS",
    "Channel",
    "Columns",
    "Markers",
    "RecorderFile",
    "Recording",
    "find_export",
    "marker_source",
    "pick",
    "read_file",
    "read_recording",
]
