"""The CONSORT 2010 flow diagram, counted from the disposition table (never typed by hand).

Laid out as the CONSORT template: the randomised total at the top, then one column per arm with
its Allocation, Follow-up and Analysis boxes, the stage names down the left. Written as PNG
(for a report) and SVG (for a journal's editor).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from experiment.study.disposition import counts_by_arm

STAGES = ("Allocation", "Follow-up", "Analysis")


def _reasons(bucket: dict) -> str:
    return "".join(f"\n   - {reason} (n = {n})" for reason, n in sorted(bucket.items()))


def boxes(rows: list[dict]) -> tuple[str, dict[str, tuple[str, str, str]]]:
    """The top box's text and, per arm, the three boxes' texts (what the diagram shows)."""
    arms = counts_by_arm(rows)
    top = f"Randomised (n = {len(rows)})"
    texts = {}
    for arm, c in arms.items():
        not_received = sum(c["not_received"].values())
        allocation = (
            f"Allocated to {arm} (n = {c['allocated']})\n"
            f"Received the allocated audio (n = {c['received']})\n"
            f"Did not receive it (n = {not_received})" + _reasons(c["not_received"])
        )
        follow_up = f"Discontinued (n = {sum(c['discontinued'].values())})" + _reasons(c["discontinued"])
        analysis = (
            f"Analysed (n = {c['analysed']})\n"
            f"Excluded from analysis (n = {sum(c['excluded'].values())})" + _reasons(c["excluded"])
        )
        texts[arm] = (allocation, follow_up, analysis)
    return top, texts


def draw(rows: list[dict], out: Path, title: str = "") -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.fonttype"] = "none"  # the SVG keeps its words as text: an editor can change them

    top, texts = boxes(rows)
    arms = list(texts)
    width = max(len(arms), 1)
    fig, ax = plt.subplots(figsize=(3.3 * width + 1.2, 8.5))
    ax.set_xlim(0, width + 0.35)
    ax.set_ylim(0, 10)
    ax.axis("off")
    style = {"boxstyle": "square,pad=0.5", "facecolor": "white", "edgecolor": "black"}
    middle = 0.35 + width / 2
    ax.text(middle, 9.4, top, ha="center", va="center", fontsize=10, bbox=style)
    rows_y = (7.4, 4.6, 2.0)
    for stage, y in zip(STAGES, rows_y, strict=True):
        ax.text(0.12, y, stage, rotation=90, ha="center", va="center", fontsize=10, weight="bold",
                bbox={"boxstyle": "round,pad=0.4", "facecolor": "#dbe9f6", "edgecolor": "#7aa6c2"})  # fmt: skip
    for i, arm in enumerate(arms):
        x = 0.35 + i + 0.5
        ax.annotate("", xy=(x, 8.55), xytext=(middle, 9.05), arrowprops={"arrowstyle": "->"})
        for k, (text, y) in enumerate(zip(texts[arm], rows_y, strict=True)):
            wrapped = "\n".join(textwrap.fill(line, 40, subsequent_indent="      ") for line in text.splitlines())
            ax.text(x, y, wrapped, ha="center", va="center", multialignment="left", fontsize=7.5, bbox=style)
            if k < 2:
                ax.annotate("", xy=(x, rows_y[k + 1] + 0.95), xytext=(x, y - 0.95), arrowprops={"arrowstyle": "->"})
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    paths = [out / "consort.png", out / "consort.svg"]
    fig.savefig(paths[0], dpi=130)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths
