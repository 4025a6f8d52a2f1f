"""Runs one session: the protocol's phases as screens, audio, markers and data rows.

A :class:`Session` gets every device and writer ready-made (see :mod:`experiment.launcher`)
and only walks the timeline. Markers that open a screen are sent from the flip itself.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from experiment.audio_verdict import AudioVerdict, judge_audio
from experiment.clock import SessionClock
from experiment.config import Group, Phase, Protocol
from experiment.console import TechnicianConsole
from experiment.datastore import AppendOnlyCsv
from experiment.errors import DeviceError, SessionAborted
from experiment.markers import MarkerSender
from experiment.playback import Player
from experiment.record import SessionRecord
from experiment.ui.display import Display
from experiment.ui.scales import ItemScreen
from experiment.ui.soundcheck import calibration_tone, run_sound_check

if TYPE_CHECKING:
    from experiment.recorder.watch import RecorderWatch

log = logging.getLogger(__name__)
AUDIO_START_TIMEOUT_S = 10.0  # the sound system's queue filling (2 s on PulseAudio) and a steady stream
AUDIO_STALL_S = 3.0


class Session:
    def __init__(
        self,
        protocol: Protocol,
        group: Group,
        clock: SessionClock,
        markers: MarkerSender,
        display: Display,
        player: Player,
        responses: AppendOnlyCsv,
        record: SessionRecord,
        audio_device: str | None = None,
        console: TechnicianConsole | None = None,
        recorder: RecorderWatch | None = None,
    ) -> None:
        self.protocol = protocol
        self.group = group
        self.clock = clock
        self.markers = markers
        self.display = display
        self.player = player
        self.responses = responses
        self.record = record
        self.audio_device = audio_device
        self.phase_times: list[dict[str, Any]] = []
        self.incidents: list[dict[str, Any]] = []
        self.audio_verdict: AudioVerdict | None = None  # once the recording has played
        self.item_orders: dict[str, dict[str, Any]] = {}
        self.start_phase: str | None = None
        self.console = console
        self.recorder = recorder
        if recorder is not None:
            markers.on_written = recorder.wrote
        if console is not None:
            console.player = player
            console.recorder = recorder
        display.on_frame = self._on_frame

    def _on_frame(self) -> None:
        """Every frame: what the recorder watch found becomes incidents; the console is redrawn when due."""
        if self.recorder is not None:
            for kind, detail in self.recorder.poll():
                self.incident(kind, detail)
        if self.console is not None:
            self.console.show()

    def run(self) -> str:
        """Walk the timeline; return the final status ("completed" or "aborted")."""
        try:
            if self.protocol.audio.sound_check:
                self.record.update(sound_check=run_sound_check(self.display, self._play_tone))
            self.markers.send("session_start")
            phases = list(self.protocol.phases)
            if self.start_phase:  # a resumed run starts again where the crash happened
                phases = phases[[p.name for p in phases].index(self.start_phase) :]
            for phase in phases:
                self._run_phase(phase)
        except SessionAborted:
            log.warning("Session aborted by the technician during phase '%s'", self.markers.phase)
            if "session_abort" in self.markers.codes:
                self.markers.send("session_abort")
            return "aborted"
        self.markers.send("session_end")
        return "completed"

    @property
    def participant(self) -> str:
        return self.record.data.get("participant", "")

    def _play_tone(self):
        """Start the calibration tone on the session's own output; return its stop function."""
        player = self.player
        tone = type(player)(
            calibration_tone(player.rate_hz, player.channels),
            player.rate_hz,
            self.protocol.audio.volume,
            self.audio_device,
        )
        tone.start()

        def release() -> None:
            if not tone.finished():
                tone.stop()
            tone.close()

        return release

    def incident(self, kind: str, detail: str) -> None:
        """Something went wrong that the session survives: log it loudly and keep it in session.json."""
        log.error("INCIDENT %s: %s", kind, detail)
        self.incidents.append(
            {"time_s": round(self.clock.now(), 6), "kind": kind, "phase": self.markers.phase, "detail": detail}
        )
        self.record.update(incidents=self.incidents)
        if self.console is not None:
            self.console.incidents = len(self.incidents)

    # --- phases --------------------------------------------------------------------------
    def _run_phase(self, phase: Phase) -> None:
        self.markers.phase = phase.name
        timing: dict[str, Any] = {"name": phase.name, "kind": phase.kind}
        self.phase_times.append(timing)
        self.record.update(current_phase=phase.name, phases=self.phase_times)
        if self.console is not None:
            items = sum(len(self.protocol.questionnaires[q].items) for q in phase.questionnaires)
            self.console.phase_started_now(phase, items)
        log.info("Phase %s (%s)%s", phase.name, phase.kind, f", {phase.duration_s:g} s" if phase.duration_s else "")
        runner = {
            "instructions": self._instructions,
            "end": self._instructions,
            "rest": self._rest,
            "questionnaires": self._questionnaires,
            "audio": self._audio,
        }[phase.kind]
        runner(phase, timing)
        self.markers.send(f"{phase.name}_end")
        timing["end_s"] = round(self.clock.now(), 6)
        self.record.update(phases=self.phase_times)

    def _start_marker(self, phase: Phase, timing: dict[str, Any]):
        def send() -> None:
            self.markers.send(f"{phase.name}_start")
            timing["start_s"] = round(self.clock.now(), 6)

        return send

    def _instructions(self, phase: Phase, timing: dict[str, Any]) -> None:
        text = self.display.text(phase.text)
        self.display.wait_for_key([text], ("space",), shot=phase.name, on_flip=self._start_marker(phase, timing))

    def _rest(self, phase: Phase, timing: dict[str, Any]) -> None:
        self.display.wait_for_key([self.display.text(phase.text)], ("space",), shot=f"{phase.name}_instructions")
        self.display.show_for(
            [self.display.fixation()], phase.duration_s, shot=phase.name, on_flip=self._start_marker(phase, timing)
        )

    def _questionnaires(self, phase: Phase, timing: dict[str, Any]) -> None:
        self.display.wait_for_key(
            [self.display.text(phase.text)],
            ("space",),
            shot=f"{phase.name}_intro",
            on_flip=self._start_marker(phase, timing),
        )
        screen = ItemScreen(self.display)
        for bank_id in phase.questionnaires:
            bank = self.protocol.questionnaires[bank_id]
            items, seed = bank.ordered_items(f"{self.participant}/{self.record.data.get('session')}/{phase.name}")
            self.item_orders[f"{phase.name}/{bank_id}"] = {"seed": seed, "items": [i.id for i in items]}
            self.record.update(item_orders=self.item_orders)
            self.display.wait_for_key(
                [self.display.text(bank.instructions)], ("space",), shot=f"{phase.name}_{bank_id}_instructions"
            )
            for position, item in enumerate(items, start=1):
                answer = screen.ask(item, self._item_marker(bank_id, item.id), f"{phase.name}_{item.id}", bank.required)
                self.responses.append(
                    {
                        "time_s": answer.time_s,
                        "phase": phase.name,
                        "questionnaire": bank_id,
                        "item": item.id,
                        "value": "" if answer.value is None else answer.value,
                        "rt_s": answer.rt_s,
                        "onset_s": answer.onset_s,
                        "input": answer.input,
                        "position": position,
                        "response_type": item.response,
                    }
                )
                if self.console is not None:
                    self.console.item_answered()

    def _item_marker(self, bank_id: str, item_id: str):
        return lambda: self.markers.send("item_onset", detail=f"{bank_id}/{item_id}")

    def _audio(self, phase: Phase, timing: dict[str, Any]) -> None:
        d = self.display
        d.wait_for_key([d.text(phase.text)], ("space",), shot=f"{phase.name}_instructions")
        listening = [d.fixation()]
        d.frame(listening, on_flip=self._start_marker(phase, timing), shot=phase.name)
        try:
            self._play(listening)
        finally:
            if not self.player.finished():
                self.player.stop()
            self._record_audio()

    def _play(self, listening) -> None:
        player = self.player
        player.start()
        deadline = time.perf_counter() + AUDIO_START_TIMEOUT_S
        while player.onset_perf_s is None:
            if player.finished() and player.onset_perf_s is None:
                raise DeviceError(
                    "The sound output stopped before it started: check the headphones and sound settings."
                )
            if time.perf_counter() > deadline:
                raise DeviceError(
                    f"The sound output did not start within {AUDIO_START_TIMEOUT_S:g} s: "
                    "check the headphones and sound settings."
                )
            self.display.frame(listening)
        # Written when the first sample reaches the output, by the marker thread.
        # The file name would tell the group: in blind mode only session.json and the ledger hold it.
        detail = "" if self.protocol.allocation.blind else self.group.audio.name
        self.markers.send("audio_onset", detail=detail, at_perf=player.onset_perf_s)
        synced = 0
        progress = (player.frames_played, time.perf_counter())
        while not player.finished():
            synced = self._send_syncs(synced)
            self.display.keys(())  # Escape
            self.display.frame(listening)
            if player.frames_played != progress[0]:
                progress = (player.frames_played, time.perf_counter())
            elif time.perf_counter() - progress[1] > AUDIO_STALL_S:
                # A lost sound server can leave the stream hanging instead of failing.
                self.incident("audio_stalled", f"no audio was played for {AUDIO_STALL_S:g} s; playback stopped")
                player.stop()
                break
        self._send_syncs(synced)
        self.markers.send(
            "audio_offset", detail=f"{player.frames_played}/{player.total_frames} frames", at_perf=player.offset_perf_s
        )
        if player.frames_played < player.total_frames:
            self.incident(
                "audio_stopped_early",
                f"the recording stopped after {player.frames_played / player.rate_hz:.1f} of "
                f"{player.total_frames / player.rate_hz:.1f} s (sound output lost?); the session goes on",
            )

    def _judge_audio(self) -> dict:
        """The audio's verdict (experiment/audio_verdict.py): its figures for session.json, its
        incidents said now. Judged once every sync marker has been written."""
        p = self.player
        if not hasattr(p, "timing") or p.onset_perf_s is None:
            return {}
        self.markers.flush()
        self.audio_verdict = judge_audio(p.timing(), p.onset_perf_s, self.markers.written, self.clock.from_perf_counter)
        for kind, detail in self.audio_verdict.incidents:
            self.incident(kind, detail)
        return self.audio_verdict.figures

    def _send_syncs(self, already_sent: int) -> int:
        """Queue a sync marker for each sync sample the sound card has reached."""
        times = self.player.sync_times
        for position_s, perf_s in times[already_sent:]:
            self.markers.send("sync", detail=f"audio_s={position_s:.3f}", at_perf=perf_s)
        return len(times)

    def _record_audio(self) -> None:
        p = self.player
        info = (
            p.describe()
            | self._judge_audio()
            | {
                "onset_s": None if p.onset_perf_s is None else round(self.clock.from_perf_counter(p.onset_perf_s), 6),
                "offset_s": None
                if p.offset_perf_s is None
                else round(self.clock.from_perf_counter(p.offset_perf_s), 6),
                "frames_played": p.frames_played,
                "frames_total": p.total_frames,
                "played_s": round(p.frames_played / p.rate_hz, 3),
                "complete": p.frames_played >= p.total_frames,
            }
        )
        self.record.update(audio=self.record.data.get("audio", {}) | info)
