"""Marker devices on real ports: pyserial's loop:// and a socat tty pair."""

from __future__ import annotations

import serial

from experiment.clock import SessionClock
from experiment.datastore import EVENT_COLUMNS, AppendOnlyCsv
from experiment.errors import DeviceError
from experiment.markers import MarkerSender, open_device
from experiment.markers.brainproducts import RawByteDevice


def test_code_byte_then_clear_on_loop_url():
    device = RawByteDevice("loop://", pulse_ms=5)
    device.pulse(200)
    device.pulse(7)
    data = device._serial.read(device._serial.in_waiting)
    device.close()
    assert data == bytes([0, 200, 0, 7, 0])  # cleared at open, each code followed by 0


def test_code_is_held_for_the_pulse_width(tty_pair):
    device = RawByteDevice(tty_pair.near, pulse_ms=20)
    for code in (1, 255, 128):
        device.pulse(code)
    device.close()
    received = tty_pair.received
    tty_pair.bytes()
    codes = [b for _, b in received]
    assert codes[:7] == [0, 1, 0, 255, 0, 128, 0]
    for i in (1, 3, 5):
        held_s = received[i + 1][0] - received[i][0]
        assert 0.018 <= held_s < 0.060, held_s


def test_missing_port_names_it_and_lists_ports(tmp_path):
    missing = str(tmp_path / "ttyUSB9")
    try:
        RawByteDevice(missing)
    except DeviceError as err:
        assert missing in str(err) and "Ports found:" in str(err)
    else:
        raise AssertionError("opening a missing port must fail")


def test_no_port_given_says_how_to_give_one():
    try:
        open_device("brainproducts", None, 115200, 10)
    except DeviceError as err:
        assert "--marker-port" in str(err)
    else:
        raise AssertionError


def test_lost_port_is_logged_not_fatal(tmp_path, tty_pair):
    events = AppendOnlyCsv(tmp_path / "events.csv", EVENT_COLUMNS)
    device = RawByteDevice(tty_pair.near, pulse_ms=2)
    sender = MarkerSender(device, {"a": 1, "b": 2}, SessionClock(), events)
    assert sender.send("a") is True
    tty_pair.kill()  # the trigger box is unplugged
    assert sender.send("b") is False
    assert sender.faults == 1
    lines = (tmp_path / "events.csv").read_text().splitlines()
    assert lines[1].split(",")[4] == "true" and lines[2].split(",")[4] == "false"
    try:
        device.close()
    except serial.SerialException as err:  # closing a dead port must not raise
        raise AssertionError(err) from None


def test_none_device_logs_only(tmp_path):
    events = AppendOnlyCsv(tmp_path / "events.csv", EVENT_COLUMNS)
    sender = MarkerSender(open_device("none", None, 0, 10), {"a": 9}, SessionClock(), events)
    assert sender.send("a", detail="x")
    assert (tmp_path / "events.csv").read_text().splitlines()[1].endswith(",9,a,,true,x")
