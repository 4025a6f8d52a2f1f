"""The probe the sound-timing tests wait on: it keeps every processor busy, or it would read no
steal however much the host takes (an idle vCPU is not taken)."""

from __future__ import annotations

import os
import resource

import pytest
import quiet_host


@pytest.mark.timing
def test_the_probe_keeps_every_processor_busy_while_it_reads_the_hosts_share():
    """A timing test (runs alone): beside other tests the spinners would share the processors."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    steal = quiet_host.host_steal(probe_s=0.5)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spun_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert steal is not None and 0.0 <= steal < 1.0
    assert spun_s >= 0.8 * 0.5 * os.cpu_count() * (1 - steal)  # what the host took was not spun
