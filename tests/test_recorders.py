"""Recorder files as the recorders write them (tests/data/recorders/, see its README), and one
simulated session written in every format giving the same results."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import REPO
from recorder_writers import (
    BIOSEMI_FLAGS,
    Signals,
    write_bdf,
    write_brainvision,
    write_edf_plus,
    write_labchart,
    write_xdf,
)

from experiment.analysis import pipeline, simulate
from experiment.analysis.align import phases_from_events
from experiment.analysis.recorders import Channel, Columns, read_file, read_recording
from experiment.analysis.recorders.digital import combine_lines, onsets
from experiment.errors import DataError

DATA = REPO / "tests" / "data" / "recorders"
ACQ_COLUMNS = Columns.parse("ecg=EKG - ERS100C,eda=EDA - GSR100C")


def experiment_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiment", *args], capture_output=True, text=True, cwd=REPO)


# --- AcqKnowledge ---------------------------------------------------------------------------------


def test_acq_channels_keep_their_own_rates_and_lengths():
    source = read_file(DATA / "physio-5.0.1.acq")
    by_name = {c.name: c for c in source.channels}
    ekg, eda, resp = by_name["EKG - ERS100C"], by_name["EDA - GSR100C"], by_name["RESP - RSP100C"]
    assert (ekg.rate_hz, len(ekg.values), ekg.unit) == (1000.0, 61893, "mV")
    assert (eda.rate_hz, len(eda.values), eda.unit) == (2000.0, 123787, "microsiemens")
    assert (resp.rate_hz, len(resp.values)) == (3.90625, 241)
    # the same 62 seconds on every channel: nothing cut to the shortest, nothing stretched
    assert ekg.duration_s == pytest.approx(61.893, abs=0.002) and eda.duration_s == pytest.approx(61.893, abs=0.002)
    assert resp.duration_s == pytest.approx(61.7, abs=0.3)


def test_convert_recording_of_an_acq_file_matches_bioread_at_every_time_point(tmp_path):
    import bioread

    out = tmp_path / "physio.csv"
    result = experiment_cli(
        "convert-recording",
        str(DATA / "physio-5.0.1.acq"),
        str(out),
        "--columns",
        "ecg=EKG - ERS100C,eda=EDA - GSR100C",
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["time", "ECG", "EDA", "Digital"]
    truth = {c.name: c for c in bioread.read_file(str(DATA / "physio-5.0.1.acq")).channels}
    ekg, eda = truth["EKG - ERS100C"].data, truth["EDA - GSR100C"].data
    assert len(table) == len(ekg) and table["time"].iloc[-1] == pytest.approx((len(ekg) - 1) / 1000)
    ecg_error = np.abs(table["ECG"].to_numpy() - ekg).max() / np.ptp(ekg)
    # EDA at 2000 Hz: its sample 2i was taken at the ECG's sample i
    eda_at_ecg_times = eda[::2][: len(table)]
    eda_error = np.nanmax(np.abs(table["EDA"].to_numpy()[: len(eda_at_ecg_times)] - eda_at_ecg_times)) / np.ptp(eda)
    assert ecg_error < 1e-6 and eda_error < 0.02
    assert (table["Digital"] == 0).all()  # this file has no markers, and none are invented


def test_compressed_acq_and_an_older_version_read_the_same_recording():
    plain = {c.name: c for c in read_file(DATA / "physio-5.0.1.acq").channels}
    compressed = read_file(DATA / "physio-5.0.1-c.acq")
    old = read_file(DATA / "physio-3.8.1-c.acq")
    assert (compressed.notes, old.format, old.notes) == (["compressed"], "AcqKnowledge 3.8.1", ["compressed"])
    for name in ("EKG - ERS100C", "EDA - GSR100C"):
        same = next(c for c in compressed.channels if c.name == name)
        older = next(c for c in old.channels if c.name == name)
        assert same.rate_hz == older.rate_hz == plain[name].rate_hz
        assert np.array_equal(same.values, plain[name].values)
        # the 3.8.1 file was saved from the same recording; its last 0.2 s differ (as bioread reads them too)
        first_61_s = int(61.6 * plain[name].rate_hz)
        assert np.allclose(older.values[:first_61_s], plain[name].values[:first_61_s])


def test_acq_event_markers_that_are_not_codes_are_reported_not_used():
    source = read_file(DATA / "physio-5.0.1.acq")
    assert source.markers.source == "AcqKnowledge event markers" and len(source.markers.codes) == 0
    assert source.markers.other["EDA Peak"] == 2 and "Breathe In" in source.markers.other
    with pytest.raises(DataError, match=r"physio-5\.0\.1\.acq has no markers.*--columns digital=NAME"):
        read_recording(DATA / "physio-5.0.1.acq", ACQ_COLUMNS)
    with pytest.raises(DataError, match="several channels that could be the EDA.*--columns eda=NAME"):
        read_recording(DATA / "physio-5.0.1.acq")  # two EDA channels: never guessed between


def test_digital_lines_as_separate_channels_are_combined_into_codes():
    rate = 1000
    codes = np.zeros(rate, dtype=np.int64)
    codes[100:110], codes[500:510], codes[800:810] = 5, 12, 255
    lines = [Channel(f"D{bit}", "V", rate, 5.0 * ((codes >> bit) & 1)) for bit in range(8)]  # 0/5 V lines
    assert (combine_lines(lines, "x.acq") == codes).all()
    markers = onsets(lines[0].time_s, combine_lines(lines, "x.acq"), "lines")
    assert markers.codes.tolist() == [5, 12, 255] and markers.times_s.tolist() == [0.1, 0.5, 0.8]
    as_zero_one = [replace(line, values=line.values / 5.0) for line in lines]  # 0/1 lines
    assert (combine_lines(as_zero_one, "x.acq") == codes).all()
    with pytest.raises(DataError, match="differ in rate or length"):
        combine_lines([lines[0], replace(lines[1], rate_hz=500.0)], "x.acq")


# --- LabChart and AcqKnowledge text ---------------------------------------------------------------


def test_labchart_export_as_labchart_writes_it():
    source = read_file(DATA / "labchart_two_blocks.txt")
    assert source.format == "LabChart text export"
    names = [c.name for c in source.channels]
    assert names[:4] == ["PushSWE", "Flow", "EMG", "Pressure"] and len(names) == 9
    units = {c.name: c.unit for c in source.channels}
    assert (units["PushSWE"], units["Flow"], units["Pressure"]) == ("V", "mV", "cmH2O")  # '*' -> Range's unit
    flow = source.channels[1]
    assert flow.rate_hz == 100.0 and len(flow.values) == 1500
    assert flow.values[0] == -42.38833 and flow.values[1000] == -31.23085  # the file's own numbers
    # block 2 starts 22:57.434 after block 1 (ExcelDateTime); both blocks' rows start at 0.5 s
    gap_s = (4.5855665082473875e04 - 4.5855649139942347e04) * 86400
    assert flow.time_s[0] == 0.0 and flow.time_s[999] == pytest.approx(9.99)
    assert flow.time_s[1000] == pytest.approx(gap_s, abs=1e-6)
    comments = source.markers.other
    assert comments["INSPI"] >= 3 and comments["EXPI"] >= 3 and len(source.markers.codes) == 0


def test_labchart_export_without_time_column_and_with_code_comments(tmp_path):
    path = tmp_path / "export.txt"
    rate = 200
    digital = np.zeros(4 * rate, dtype=np.int64)
    digital[100:102], digital[500:502] = 10, 11
    signals = Signals(rate, np.sin(np.arange(4 * rate) / 30), np.full(4 * rate, 5.0), digital)
    write_labchart(path, signals, time_column=False)
    recording = read_recording(path)  # "Digital input" is found by its name
    assert recording.ecg.unit == "mV" and recording.eda.unit == "µS"
    assert recording.markers.codes.tolist() == [10, 11]
    assert recording.markers.times_s.tolist() == pytest.approx([0.5, 2.5])
    # the comments typed at the markers are codes too: the marker source when there is no channel
    source = read_file(path)
    assert source.markers.source == "LabChart comments" and source.markers.codes.tolist() == [10, 11]


def test_acqknowledge_text_export(tmp_path):
    path = tmp_path / "export.txt"
    rows = "\n".join(
        f"{i * 0.5:g}\t{np.sin(i / 10):.5f}\t{5 + i / 1000:.4f}\t{5.0 if i in (10, 11) else 0}" for i in range(400)
    )
    path.write_text(
        "session.acq\n0.5 msec/sample\t2000 Hz\n3 channels\nECG - ECG100C\nmV\nEDA - EDA100C\nmicrosiemens\n"
        f"Digital input\nVolts\nmilliSec\tCH1\tCH2\tCH3\n{rows}\n"
    )
    source = read_file(path)
    assert source.format == "AcqKnowledge text export" and [c.name for c in source.channels] == [
        "ECG",
        "EDA",
        "Digital input",
    ]
    ecg = source.channels[0]
    assert ecg.rate_hz == 2000.0 and len(ecg.values) == 400 and ecg.values[10] == pytest.approx(np.sin(1.0), abs=1e-5)
    recording = read_recording(path)
    assert recording.markers.codes.tolist() == [5] and recording.markers.times_s[0] == pytest.approx(0.005)


# --- BrainVision, BDF, EDF, XDF -------------------------------------------------------------------


def test_brainvision_markers_from_the_vmrk_and_units_as_the_header_states():
    source = read_file(DATA / "test.vhdr")
    markers = source.markers
    assert markers.counts() == {253: 2, 255: 5}  # the Stimulus entries, S n = code n
    assert markers.times_s[:2].tolist() == pytest.approx([0.486, 0.496])  # Mk2 at point 487 (1-based)
    assert markers.other["Response/R255"] == 1 and markers.other["Event/254"] == 3
    raw = np.fromfile(DATA / "test.eeg", dtype="<i2").reshape(-1, 32)  # INT_16, resolution 0.5
    recording = read_recording(DATA / "test.vhdr", Columns.parse("ecg=FP1,eda=CP6"))
    assert recording.ecg.values == pytest.approx(raw[:, 0] * 0.5 / 1000)  # µV in the header -> mV
    assert recording.eda.values == pytest.approx(raw[:, 27] * 0.5)  # µS in the header -> µS
    with pytest.raises(DataError, match="'Vb' is in 'S'.*not a voltage"):
        read_recording(DATA / "test.vhdr", Columns.parse("ecg=Vb,eda=CP6"))


@pytest.mark.parametrize(
    "name, codes", [("biosemi_actiview.bdf", {128: 1}), ("test_bdf_stim_channel.bdf", {1: 7, 2: 1, 4: 1})]
)
def test_bdf_status_codes_are_its_low_16_bits(name, codes):
    source = read_file(DATA / name)
    assert source.markers.source == "BDF Status channel (low 16 bits)"
    assert source.markers.counts() == codes  # the flags above bit 15 (0x98xxxx, 0x1Cxxxx) are masked
    assert "Status" not in [c.name for c in source.channels]


def test_edf_trigger_channel_and_two_ecg_channels_are_never_guessed():
    with pytest.raises(DataError, match="several channels that could be the ECG.*ECG ECG1, ECG ECG2"):
        read_recording(DATA / "test_edf_stim_channel.edf")
    recording = read_recording(DATA / "test_edf_stim_channel.edf", Columns.parse("ecg=ECG ECG1,digital=DIG DTRIG"))
    assert recording.ecg.rate_hz == 128.0 and recording.ecg.unit == "mV" and recording.eda is None
    # the trigger channel is stored in µV (0 or 100): its codes are read in the file's own unit
    assert set(recording.markers.codes.tolist()) == {100} and recording.markers.source == "code channel 'DIG DTRIG'"
    assert recording.ecg.values.std() > 0.001  # mV, not volts


def test_xdf_from_labrecorder():
    source = read_file(DATA / "minimal.xdf")
    assert [c.name for c in source.channels] == ["SendDataC_1", "SendDataC_2", "SendDataC_3"]
    assert source.channels[0].rate_hz == pytest.approx(10.0) and len(source.channels[0].values) == 9
    assert source.channels[0].time_s[0] == 0.0
    assert source.markers.other["Hello"] == 2 and len(source.markers.codes) == 0  # text, not codes


def test_inspect_recording_reads_like_a_page(tmp_path):
    result = experiment_cli("inspect-recording", str(DATA / "physio-5.0.1.acq"), "--columns", "ecg=EKG - ERS100C")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "physio-5.0.1.acq: AcqKnowledge 5.0.1 (BIOPAC)" in text
    assert "EKG - ERS100C" in text and "1000" in text and "2000" in text and "3.90625" in text and "<- ECG" in text
    assert "markers: none found" in text
    assert "other annotations in the file (not codes, not used): 'EDA Peak' x2" in text
    assert "--columns: physio-5.0.1.acq has several channels that could be the EDA" in text
    missing = experiment_cli("inspect-recording", str(tmp_path / "nothing.acq"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    other = tmp_path / "notes.docx"
    other.write_text("x")
    refused = experiment_cli("inspect-recording", str(other))
    assert refused.returncode == 2 and "not a recorder format" in refused.stderr


# --- one session, every format ----------------------------------------------------------------------

SHORT_PHASES = (
    ("welcome", "instructions", 10.0),
    ("baseline", "rest", 60.0),
    ("pre", "questionnaires", 40.0),
    ("induction", "audio", 90.0),
    ("post", "questionnaires", 40.0),
    ("recovery", "rest", 60.0),
    ("end", "end", 5.0),
)
FORMATS = ("csv", "labchart", "brainvision", "bdf", "edf", "xdf")
MEASURES = ("hr_bpm", "rmssd_ms", "hf_ms2", "scl_us")


@pytest.fixture(scope="module")
def session_in_every_format(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    rng = np.random.default_rng(3)
    folder = simulate.make_session(root / "data", "P001", "CBS", rng, phases=SHORT_PHASES)
    person = replace(simulate.random_participant(rng, 11), artefact=False)
    exported = simulate.render(folder, root / "csv", person)
    table = pd.read_csv(exported)
    signals = Signals(1000, table["ECG"].to_numpy(), table["EDA"].to_numpy(), table["Digital"].to_numpy())
    stem = "sub-P001_ses-1_physio"
    for name in FORMATS[1:]:
        (root / name).mkdir()
    write_labchart(root / "labchart" / f"{stem}.txt", signals)
    write_brainvision(root / "brainvision", stem, signals)
    write_bdf(root / "bdf" / f"{stem}.bdf", signals)
    write_edf_plus(root / "edf" / f"{stem}.edf", signals, eda_rate_hz=100)
    record = pd.read_json(folder / "session.json", typ="series")
    labels = {code: label for label, code in record["marker_codes"].items()}
    write_xdf(root / "xdf" / f"{stem}.xdf", signals, labels, eda_rate_hz=250, marker_clock_s=3.25)
    columns = {"bdf": Columns.parse("ecg=EXG1")}  # BioSemi's ECG is an EXG channel: named, as a lab would
    results = {name: pipeline.analyse_session(folder, root / name, columns.get(name, Columns())) for name in FORMATS}
    return folder, signals, results


def test_the_same_session_in_every_format_gives_the_same_phase_values(session_in_every_format):
    _, _, results = session_in_every_format
    reference = pd.DataFrame(results["csv"].phases).set_index("phase")
    assert results["csv"].problem is None and len(reference) == 7
    for name in FORMATS[1:]:
        result = results[name]
        assert result.problem is None, (name, result.problem)
        frame = pd.DataFrame(result.phases).set_index("phase")
        assert list(frame.index) == list(reference.index), name
        for measure in MEASURES:
            ours = pd.to_numeric(frame[measure], errors="coerce")
            theirs = pd.to_numeric(reference[measure], errors="coerce")
            assert ours.isna().equals(theirs.isna()), (name, measure)
            # the same values within the formats' own resolution (EDF: 16 bits; LabChart: 6 digits)
            relative = {"hr_bpm": 0.0005, "rmssd_ms": 0.005, "hf_ms2": 0.01, "scl_us": 0.001}[measure]
            worst = ((ours - theirs).abs() / theirs.abs()).max()
            assert worst <= relative, (name, measure, worst)
        assert (frame["quality"] == reference["quality"]).all(), name


def test_every_format_finds_every_marker_and_the_same_clock(session_in_every_format):
    _, signals, results = session_in_every_format
    expected = len(signals.onsets[0])
    for name, result in results.items():
        assert result.alignment["markers_matched"] == expected, name
        assert result.alignment["offset_s"] == pytest.approx(results["csv"].alignment["offset_s"], abs=0.002), name


def test_bdf_written_with_biosemi_flags_would_be_wrong_unmasked(session_in_every_format, tmp_path):
    # The flags really are in the file: read without the mask, every code would be off by 0x110000.
    _, signals, _ = session_in_every_format
    path = tmp_path / "x.bdf"
    write_bdf(path, signals)
    source = read_file(path)
    assert set(source.markers.counts()) == set(signals.onsets[1].tolist())
    assert all(code | BIOSEMI_FLAGS != code for code in source.markers.counts())


def test_a_session_without_phases_takes_them_from_its_events(session_in_every_format, tmp_path):
    import json
    import shutil

    folder, _, results = session_in_every_format
    copy = tmp_path / "data" / "sub-P001" / "ses-1"
    shutil.copytree(folder, copy)
    record = json.loads((copy / "session.json").read_text())
    del record["phases"]
    (copy / "session.json").write_text(json.dumps(record))
    physio = folder.parents[2] / "csv"
    result = pipeline.analyse_session(copy, physio, Columns())
    assert result.problem is None
    assert pd.DataFrame(result.phases)[list(MEASURES)].equals(pd.DataFrame(results["csv"].phases)[list(MEASURES)])
    events = pd.read_csv(copy / "events.csv", dtype=str).to_dict("records")
    no_phase_markers = [e for e in events if not re.fullmatch(r"(?!session_)\w+_(start|end)", e["label"])]
    with pytest.raises(DataError) as refused:
        phases_from_events(no_phase_markers, str(copy))
    problem = str(refused.value)
    assert "has no phases: session.json lists none and events.csv has no <phase>_start" in problem
