"""Heart rate and HRV against cardiologist beat annotations: ours beside NeuroKit2's.

    .venv/bin/python tools/bench_hrv.py [--record PATH ...] [--lead N]

For each WFDB record (PATH without extension; default: the committed excerpt of MIT-BIH
record 100, tests/data/ecg/), each degraded copy (muscle noise, baseline wander, mains hum,
250 and 500 Hz, inverted polarity) and each five-minute window: the annotation's truth (NN
intervals between beats both annotated normal) and the error of

- ours: detect_beats + segment_metrics, as the analysis runs them;
- NeuroKit2 plain: ``ecg_peaks`` on ``ecg_clean``, every interval used;
- NeuroKit2 Kubios: the same with ``correct_artifacts=True`` (Lipponen & Tarvainen correction);

and beat detection sensitivity and positive predictive value (50 ms tolerance). Prints a
table and a summary; measures, it does not assert (tests/test_hrv.py asserts on the excerpt).
The full MIT-BIH record 100 is in the wfdb-python repository (sample-data/100) and on
PhysioNet (mitdb); any other annotated record there works the same way.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hrv_validation import (  # noqa: E402
    DEGRADATIONS,
    degrade,
    detection,
    five_minute_windows,
    from_peaks,
    load_record,
    neurokit_peaks,
    ours,
    truth,
)

EXCERPT = Path(__file__).resolve().parents[1] / "tests" / "data" / "ecg" / "mitdb-100-20min"
MAX_ECTOPIC = 0.05


def percent(value: float, true: float) -> float:
    return 100 * (value / true - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, action="append", help="WFDB record path without extension")
    parser.add_argument("--lead", type=int, action="append", help="signal index (default: 0 and 1)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # NeuroKit2's own warnings about its corrections
    worst: dict[str, list[float]] = {}
    print(
        f"{'record':<18}{'copy':<16}{'window':>7}{'ect%':>6}{'HR':>7}{'RMSSD':>7}{'HF':>7}  "
        f"{'HR err (bpm): ours / NK / NK-Kub':>34}  {'RMSSD err %: ours / NK / NK-Kub':>32}  "
        f"{'HF err %: ours / NK-Kub':>24}"
    )
    for path in args.record or [EXCERPT]:
        for lead in args.lead or [0, 1]:
            record = load_record(path, lead)
            label = f"{record.name}:{lead}"
            for kind in DEGRADATIONS:
                ecg, rate = degrade(record.ecg_mv, record.rate_hz, kind)
                windows = five_minute_windows(record)
                results, beats = ours(ecg, rate, windows)
                plain, kubios = neurokit_peaks(ecg, rate, False), neurokit_peaks(ecg, rate, True)
                for name, found in (("ours", beats.times_s), ("NK", plain)):
                    tp, fn, fp = detection(found, record.beat_s)
                    worst.setdefault(f"sensitivity {name}", []).append(100 * tp / (tp + fn))
                    worst.setdefault(f"PPV {name}", []).append(100 * tp / (tp + fp))
                for (start, end), (value, _) in zip(windows, results, strict=True):
                    true, ectopic = truth(record, start, end)
                    p, k = from_peaks(plain, start, end), from_peaks(kubios, start, end)
                    hr = (value.hr_bpm - true.hr_bpm, p.hr_bpm - true.hr_bpm, k.hr_bpm - true.hr_bpm)
                    rmssd = tuple(percent(v.rmssd_ms, true.rmssd_ms) for v in (value, p, k))
                    hf = (percent(value.hf_ms2, true.hf_ms2), percent(k.hf_ms2, true.hf_ms2))
                    print(
                        f"{label:<18}{kind:<16}{start:>7.0f}{100 * ectopic:>6.1f}{true.hr_bpm:>7.1f}"
                        f"{true.rmssd_ms:>7.1f}{true.hf_ms2:>7.0f}  "
                        f"{hr[0]:>+10.2f} / {hr[1]:>+8.2f} / {hr[2]:>+8.2f}  "
                        f"{rmssd[0]:>+9.1f} / {rmssd[1]:>+8.1f} / {rmssd[2]:>+8.1f}  "
                        f"{hf[0]:>+11.1f} / {hf[1]:>+8.1f}"
                    )
                    if ectopic <= MAX_ECTOPIC:
                        for method, i in (("ours", 0), ("NK", 1), ("NK-Kubios", 2)):
                            worst.setdefault(f"|HR err| bpm {method}", []).append(abs(hr[i]))
                            worst.setdefault(f"|RMSSD err| % {method}", []).append(abs(rmssd[i]))
                        worst.setdefault("|HF err| % ours", []).append(abs(hf[0]))
                        worst.setdefault("|HF err| % NK-Kubios", []).append(abs(hf[1]))
    print(f"\nSummary over every window with at most {MAX_ECTOPIC:.0%} ectopic beats, every copy and lead:")
    for name, values in worst.items():
        pick = min if name.startswith(("sensitivity", "PPV")) else max
        print(
            f"  {name:<26} {'lowest' if pick is min else 'worst'} {pick(values):8.2f}   median {np.median(values):7.2f}"
        )


if __name__ == "__main__":
    main()
