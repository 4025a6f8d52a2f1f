"""Marker devices and the marker thread on real ports: pyserial's loop:// and socat tty pairs
read by an emulator of each trigger box."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, TtyPair, logged_markers, marker_timing_faults
from kernel_trace import DescriptorWatch, WriteTrace

from experiment.clock import SessionClock
from experiment.datastore import EVENT_COLUMNS, AppendOnlyCsv
from experiment.errors import DeviceError
from experiment.markers import MarkerSender, open_device, serialport
from experiment.markers.device import SERIAL_PROTOCOLS
from experiment.markers.ports import PortInfo, identify, lower_ftdi_latency, resolve_port
from experiment.markers.sender import uncertain_markers

CODES = {f"e{code}": code for code in (1, 7, 10, 16, 99, 128, 200, 254, 255)}


def make_sender(tmp_path, device, lsl=None) -> MarkerSender:
    events = AppendOnlyCsv(tmp_path / "events.csv", EVENT_COLUMNS)
    return MarkerSender(device, CODES, SessionClock(), events, lsl)


def close_sender(sender: MarkerSender) -> None:
    """The sender's thread ends, then its log is closed (in a session, the session closes it)."""
    sender.close()
    sender.events.close()


def logged(tmp_path) -> list[dict]:
    with (tmp_path / "events.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.timing
@pytest.mark.parametrize("protocol", SERIAL_PROTOCOLS)
def test_a_burst_of_markers_arrives_whole_in_order_and_never_overlapping(tmp_path, make_tty_pair, protocol):
    """All queued at once: the thread must space them out (held, then lines at 0 as long), and
    log each at the kernel's time of its write (helpers.marker_timing_faults)."""
    pair = make_tty_pair(protocol)
    with WriteTrace() as trace:
        port = DescriptorWatch(os.getpid(), pair.near)
        device = open_device(protocol, pair.near, None, 10.0)
        sender = make_sender(tmp_path, device)
        started = time.perf_counter()
        for label in CODES:
            sender.send(label)
        queued_s = time.perf_counter() - started
        close_sender(sender)
        device.close()
        writes = trace.writes(os.getpid(), *port.result())
        assert trace.overruns() == 0
    assert queued_s < 0.005, "send() must not wait for the device"
    rows = logged(tmp_path)
    assert [int(r["code"]) for r in rows] == list(CODES.values())
    assert all(r["sent_ok"] == "true" for r in rows)
    origin_s = sender.clock.origin_s
    faults = marker_timing_faults(
        protocol,
        pair.box.settled(),
        writes,
        logged_markers(rows, origin_s),
        list(CODES.values()),
        device.hold_s,
        device.rest_s,
    )
    assert not faults, faults


def test_bbtk_gets_exactly_rr_then_upper_case_hex_pairs(make_tty_pair):
    pair = make_tty_pair("bbtk")
    device = open_device("bbtk", pair.near, None, 5.0)
    for code in (10, 171, 255):
        device.set_code(code)
        device.clear()
    device.close()
    assert pair.box.raw() == b"RR" + b"0A00" + b"AB00" + b"FF00" + b"00"


def test_brainproducts_bytes_on_a_loop_url():
    device = open_device("brainproducts", "loop://", None, 5.0)
    device.set_code(200)
    device.clear()
    data = device._serial.read(device._serial.in_waiting)
    device.close()
    assert data == bytes([0, 200, 0])


def test_cedrus_box_that_does_not_answer_is_refused(make_tty_pair):
    pair = make_tty_pair("brainproducts")  # a box that never answers XID
    with pytest.raises(DeviceError, match="did not answer as a Cedrus XID box"):
        open_device("cedrus", pair.near, None, 10.0)


def test_lost_port_is_flagged_then_reconnected(tmp_path):
    pair = TtyPair(tmp_path)
    device = open_device("brainproducts", pair.near, None, 2.0)
    sender = make_sender(tmp_path, device)
    sender.send("e1")
    sender.flush()
    pair.kill()  # the trigger box is unplugged
    pair.box.close()
    sender.send("e7")
    sender.flush()
    replugged = TtyPair(tmp_path)  # plugged in again under the same name
    try:
        time.sleep(1.1)  # reconnection is tried at most once a second
        sender.send("e10")
        close_sender(sender)
        assert [r["sent_ok"] for r in logged(tmp_path)] == ["true", "false", "true"]
        assert (sender.faults, sender.reconnects) == (1, 1)
        assert 10 in replugged.bytes()
    finally:
        device.close()
        replugged.close()


def test_another_usb_device_under_the_boxs_name_gets_no_markers(tmp_path, monkeypatch, caplog):
    """Linux gives a USB serial device the lowest free ttyUSB number, so while the box is out
    another adapter can take its name. There is no USB here: only the port list (which USB
    device is behind a name, from serial.tools.list_ports) is made up; the port is a real pty."""
    pair = TtyPair(tmp_path)
    behind = {"serial_number": "BBTK0001"}

    def listed() -> list[PortInfo]:  # the device itself, as /dev/ttyUSB0 is behind a /dev/serial/by-id link
        device = str(Path(pair.near).resolve())
        return [PortInfo(device, "FT232R USB UART", 0x0403, 0x6001, behind["serial_number"], None)]

    monkeypatch.setattr(serialport, "list_ports", listed)
    device = open_device("brainproducts", pair.near, None, 2.0)
    assert device.usb_identity == (0x0403, 0x6001, "BBTK0001")
    assert device.describe()["usb"] == "USB 0403:6001, serial number BBTK0001"
    sender = make_sender(tmp_path, device)
    sender.send("e1")
    sender.flush()
    pair.kill()  # the box is unplugged...
    pair.box.close()
    sender.send("e7")
    sender.flush()
    other = TtyPair(tmp_path)  # ...and another adapter takes its name
    behind["serial_number"] = "A9XK2LQ"
    try:
        time.sleep(1.1)  # reconnection is tried at most once a second
        sender.send("e10")
        sender.flush()
        assert "Another USB device now answers at" in caplog.text and "serial number A9XK2LQ" in caplog.text
        behind["serial_number"] = "BBTK0001"  # the box is back under its name
        time.sleep(1.1)
        sender.send("e16")
        close_sender(sender)
        assert [r["sent_ok"] for r in logged(tmp_path)] == ["true", "false", "false", "true"]
        received = other.bytes()
        assert 10 not in received and 16 in received
    finally:
        device.close()
        other.close()


def test_a_write_that_loses_the_processor_says_so_in_its_row_and_the_incident(tmp_path, make_tty_pair, monkeypatch):
    """The window is the program's own measure: a write the thread was held up in is logged with
    its length, and counted as uncertain over 2 ms. (The hold-up is made here: a thread losing the
    processor mid-write to a busy PC or a virtual machine's host cannot be caused at will.)"""
    clocked_write = serialport._clocked_write

    def held_up_after_writing(fd, data):
        before, sent, _ = clocked_write(fd, data)
        time.sleep(0.0025)
        return before, sent, time.perf_counter()

    pair = make_tty_pair("brainproducts")
    device = open_device("brainproducts", pair.near, None, 2.0)
    sender = make_sender(tmp_path, device)
    sender.send("e1")
    sender.flush()
    monkeypatch.setattr(serialport, "_clocked_write", held_up_after_writing)
    sender.send("e7")
    close_sender(sender)
    device.close()
    first, second = (float(r["write_ms"]) for r in logged(tmp_path))
    assert first < 2.0 and second >= 2.5
    assert [label for label, _ in sender.uncertain] == ["e7"]
    assert uncertain_markers(sender.uncertain).startswith("1 marker(s) took longer than 2 ms to write")
    assert 7 in pair.bytes()


def test_lsl_outlet_carries_the_labels_with_write_times(tmp_path):
    import pylsl

    from experiment.markers.lsl import LslOutlet

    outlet = LslOutlet(CODES, name="TestMarkers")
    streams = pylsl.resolve_byprop("name", "TestMarkers", timeout=10)
    assert streams, "the LSL stream was not found on this machine"
    inlet = pylsl.StreamInlet(streams[0])
    inlet.open_stream(timeout=10)
    time.sleep(0.5)
    sender = make_sender(tmp_path, open_device("lsl", None, None, 10.0), lsl=outlet)
    sender.send("e99")
    sender.send("e128")
    close_sender(sender)
    received = [inlet.pull_sample(timeout=5) for _ in range(2)]
    assert [sample[0] for sample, _ in received] == ["e99", "e128"]
    rows = logged(tmp_path)
    lsl_gap = received[1][1] - received[0][1]
    log_gap = float(rows[1]["time_s"]) - float(rows[0]["time_s"])
    assert abs(lsl_gap - log_gap) < 0.001


def test_missing_port_names_it_and_lists_ports(tmp_path):
    missing = str(tmp_path / "ttyUSB9")
    with pytest.raises(DeviceError, match="Ports found:") as err:
        open_device("brainproducts", missing, None, 10.0)
    assert missing in str(err.value)


def test_no_port_given_says_how_to_give_one():
    with pytest.raises(DeviceError, match="--marker-port"):
        open_device("bbtk", None, None, 10.0)


def test_usb_id_without_such_a_device_is_one_sentence():
    with pytest.raises(DeviceError, match="No serial port has the USB id 1103:0021"):
        resolve_port("usb:1103:0021")
    assert resolve_port("/dev/ttyUSB0") == "/dev/ttyUSB0"


def test_known_boxes_are_told_apart_on_a_shared_ftdi_chip():
    assert identify(0x1103, 0x0021, "").protocol == "brainproducts"
    assert identify(0x0403, 0x6001, "BBTKUSBTTLA").protocol == "bbtk"
    assert identify(0x0403, 0x6001, "StimTracker Duo").protocol == "cedrus"
    assert identify(0x0403, 0x6001, "FT232R USB UART").name.startswith("FTDI")
    assert identify(0x2341, 0x0043, "Arduino Uno").protocol == "brainproducts"
    assert identify(0x1234, 0x5678, "") is None


def test_ftdi_latency_timer_is_set_to_one_ms(tmp_path):
    timer = tmp_path / "ttyUSB7" / "latency_timer"
    timer.parent.mkdir()
    timer.write_text("16\n")
    advice = lower_ftdi_latency("/dev/ttyUSB7", sysfs=tmp_path)
    if sys.platform.startswith("linux"):
        assert advice is None and timer.read_text().strip() == "1"


def test_an_unreadable_ftdi_latency_timer_is_a_warning_not_a_crash(tmp_path):
    timer = tmp_path / "ttyUSB7" / "latency_timer"
    timer.parent.mkdir()
    timer.write_text("sixteen\n")  # a read that fails once left the timer's value unbound
    advice = lower_ftdi_latency("/dev/ttyUSB7", sysfs=tmp_path)
    if sys.platform.startswith("linux"):
        assert advice.startswith("Could not read the FTDI latency timer of /dev/ttyUSB7")


def test_ports_command_runs():
    result = subprocess.run([sys.executable, "-m", "experiment", "ports"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and result.stdout.strip()
