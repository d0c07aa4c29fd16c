#!/usr/bin/env python3
"""Summarises bench/throughput.sh runs: medians, CPU per Gbit, ratios of
each DyberVPN mode to each comparison, a JSON summary and an SVG plot.

    summarize.py RESULT_DIR                 reads runs.csv and machine.txt
    summarize.py --parse-iperf TICKS HZ     (internal) iperf3 -J on stdin ->
                                            "gbps retransmits cpu_seconds"

Standard library only, so the benchmark needs nothing beyond python3.
"""
import csv
import json
import statistics
import sys
from collections import OrderedDict

COMPARISONS = ["wireguard-go", "boringtun"]
TESTS = ["single", "P4", "reverse", "flood", "flood-mac1"]
TEST_LABEL = {
    "single": "TCP, 1 stream",
    "P4": "TCP, -P 4",
    "reverse": "TCP, -R",
    "flood": "TCP, 1 stream, initiation flood",
    "flood-mac1": "TCP, 1 stream, flood with valid mac1",
}


def parse_iperf(ticks, hz):
    try:
        d = json.loads(sys.stdin.read())
        end = d["end"]
        bps = float(end["sum_received"]["bits_per_second"])
        rt = int(end.get("sum_sent", {}).get("retransmits", 0))
    except Exception:
        bps, rt = 0.0, 0
    print(f"{bps / 1e9:.3f} {rt} {int(ticks) / int(hz):.2f}")


def load(out):
    runs = OrderedDict()
    with open(f"{out}/runs.csv") as f:
        for r in csv.DictReader(f):
            runs.setdefault((r["impl"], r["test"]), []).append(r)
    machine = {}
    try:
        with open(f"{out}/machine.txt") as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                machine[k] = v
    except OSError:
        pass
    return runs, machine


def summarise(runs):
    rows = OrderedDict()
    for (impl, test), rs in runs.items():
        gbps = [float(r["gbps"]) for r in rs]
        per_gbit = []
        for r in rs:
            g = float(r["gbps"]) * float(r["duration_s"])
            cpu = float(r["daemon_cpu_s"])
            if g > 0 and impl != "veth":
                per_gbit.append(cpu / g)
        rows[(impl, test)] = {
            "impl": impl,
            "test": test,
            "runs": len(rs),
            "gbps_median": statistics.median(gbps),
            "gbps_min": min(gbps),
            "gbps_max": max(gbps),
            "gbps_all": gbps,
            "cpu_s_per_gbit_median": statistics.median(per_gbit) if per_gbit else None,
            "retransmits_median": statistics.median(int(r["retransmits"]) for r in rs),
        }
    ratios = []
    for (impl, test), row in rows.items():
        if not impl.startswith("dybervpn"):
            continue
        for comp in COMPARISONS:
            other = rows.get((comp, test))
            if other and other["gbps_median"] > 0:
                ratios.append(
                    {
                        "impl": impl,
                        "test": test,
                        "versus": comp,
                        "ratio": row["gbps_median"] / other["gbps_median"],
                    }
                )
    return rows, ratios


def paired(runs):
    """Ratios taken repeat by repeat: each DyberVPN run against the
    comparison's run in the same repeat (the implementations take turns
    within a repeat, so the two met the same moment of the host), and each
    other mode against hybrid. Reported beside the ratio of medians, which
    drift between repeats can move on its own."""
    out = []
    for (impl, test), rs in runs.items():
        if not impl.startswith("dybervpn"):
            continue
        versus = list(COMPARISONS)
        if impl != "dybervpn-hybrid":
            versus.append("dybervpn-hybrid")
        mine = {r["repeat"]: float(r["gbps"]) for r in rs}
        for comp in versus:
            theirs = {r["repeat"]: float(r["gbps"]) for r in runs.get((comp, test), [])}
            each = [
                mine[k] / theirs[k]
                for k in sorted(mine, key=int)
                if k in theirs and theirs[k] > 0
            ]
            if each:
                out.append(
                    {
                        "impl": impl,
                        "test": test,
                        "versus": comp,
                        "each": each,
                        "median": statistics.median(each),
                    }
                )
    return out


def paired_text(pairs):
    lines = ["Ratios repeat by repeat (each pair ran in the same repeat):"]
    for p in pairs:
        each = ", ".join(f"{x:.2f}" for x in p["each"])
        lines.append(
            f"- {p['impl']} / {p['versus']}, {TEST_LABEL.get(p['test'], p['test'])}: "
            f"{each} (median {p['median']:.2f})"
        )
    return "\n".join(lines)


def flood_retained(rows):
    out = []
    for (impl, test), r in rows.items():
        base = rows.get((impl, "single"))
        if test.startswith("flood") and base and base["gbps_median"] > 0:
            out.append(
                {"impl": impl, "test": test, "retained": r["gbps_median"] / base["gbps_median"]}
            )
    return out


def latency(out):
    """Medians per implementation from latency.csv (absent: empty)."""
    per = OrderedDict()
    try:
        with open(f"{out}/latency.csv") as f:
            for r in csv.DictReader(f):
                per.setdefault(r["impl"], []).append(r)
    except OSError:
        return []
    rows = []
    for impl, rs in per.items():
        up = [float(r["up_to_first_reply_ms"]) for r in rs if r["up_to_first_reply_ms"]]
        rtt = [float(r["idle_rtt_ms"]) for r in rs if r["idle_rtt_ms"]]
        rows.append(
            {
                "impl": impl,
                "up_to_first_reply_ms_median": statistics.median(up) if up else None,
                "idle_rtt_ms_median": statistics.median(rtt) if rtt else None,
            }
        )
    return rows


def latency_table(rows):
    lines = [
        "| implementation | up → first ping reply, ms (median) | idle RTT, ms (median) |",
        "|---|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['impl']} | {fmt(r['up_to_first_reply_ms_median'], 0)} | "
            f"{fmt(r['idle_rtt_ms_median'], 3)} |"
        )
    return "\n".join(lines)


def fmt(x, nd=2):
    return "—" if x is None else f"{x:.{nd}f}"


def table(rows, ratios):
    lines = [
        "| implementation | test | Gbit/s (median) | min–max | daemon CPU-s per Gbit | "
        + " | ".join(f"× {c}" for c in COMPARISONS)
        + " |",
        "|---|---|---:|---:|---:|" + "---:|" * len(COMPARISONS),
    ]
    for (impl, test), r in rows.items():
        cells = []
        for comp in COMPARISONS:
            m = [x for x in ratios if x["impl"] == impl and x["test"] == test and x["versus"] == comp]
            cells.append(f"{m[0]['ratio']:.2f}" if m else "")
        lines.append(
            f"| {impl} | {TEST_LABEL.get(test, test)} | {r['gbps_median']:.2f} | "
            f"{r['gbps_min']:.2f}–{r['gbps_max']:.2f} | {fmt(r['cpu_s_per_gbit_median'], 3)} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def svg(rows, machine):
    """Grouped horizontal bars: one group per test, one bar per implementation."""
    impls = []
    for impl, _ in rows:
        if impl not in impls:
            impls.append(impl)
    colours = ["#888888", "#1f77b4", "#2ca02c", "#17becf", "#d62728", "#ff7f0e", "#9467bd", "#8c564b"]
    colour = {impl: colours[i % len(colours)] for i, impl in enumerate(impls)}
    tests = [t for t in TESTS if any(k[1] == t for k in rows)]
    bar_h, gap, left, width = 16, 14, 150, 520
    vmax = max((r["gbps_max"] for r in rows.values()), default=1.0) or 1.0
    y = 60
    parts = []
    for t in tests:
        parts.append(f'<text x="10" y="{y + 12}" font-weight="bold">{TEST_LABEL[t]}</text>')
        y += 20
        for impl in impls:
            r = rows.get((impl, t))
            if not r:
                continue
            w = r["gbps_median"] / vmax * width
            lo = r["gbps_min"] / vmax * width
            hi = r["gbps_max"] / vmax * width
            parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{impl}</text>')
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour[impl]}"/>'
            )
            parts.append(
                f'<line x1="{left + lo:.1f}" x2="{left + hi:.1f}" y1="{y + bar_h / 2}" '
                f'y2="{y + bar_h / 2}" stroke="black"/>'
            )
            parts.append(
                f'<text x="{left + w + 6:.1f}" y="{y + 12}">{r["gbps_median"]:.2f}</text>'
            )
            y += bar_h + 4
        y += gap
    height = y + 30
    title = "iperf3 TCP through the tunnel, Gbit/s (median; line: min–max)"
    sub = (
        f"{machine.get('cpu', '?')}, {machine.get('cpus', '?')} vCPU, Linux {machine.get('kernel', '?')}, "
        f"{machine.get('date', '?')}, {machine.get('repeats', '?')}×{machine.get('duration', '?')} s"
    )
    ticks = []
    for i in range(6):
        v = vmax * i / 5
        x = left + width * i / 5
        ticks.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="50" y2="{y}" stroke="#ddd"/>')
        ticks.append(f'<text x="{x:.1f}" y="{y + 16}" text-anchor="middle">{v:.1f}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" '
        f'font-family="sans-serif" font-size="12">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n'
        f'<text x="10" y="20" font-size="14" font-weight="bold">{title}</text>\n'
        f'<text x="10" y="38" fill="#444">{sub}</text>\n'
        + "\n".join(ticks)
        + "\n"
        + "\n".join(parts)
        + "\n</svg>\n"
    )


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--parse-iperf":
        parse_iperf(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    runs, machine = load(out)
    rows, ratios = summarise(runs)
    pairs = paired(runs)
    lat = latency(out)
    with open(f"{out}/summary.json", "w") as f:
        json.dump(
            {
                "machine": machine,
                "results": list(rows.values()),
                "ratios": ratios,
                "paired_ratios": pairs,
                "latency": lat,
                "flood_retained": flood_retained(rows),
            },
            f,
            indent=1,
        )
    with open(f"{out}/throughput.svg", "w") as f:
        f.write(svg(rows, machine))
    text = table(rows, ratios)
    if pairs:
        text += "\n\n" + paired_text(pairs)
    kept = flood_retained(rows)
    if kept:
        text += "\n\nUnder the initiation flood, share of the unloaded single-stream median:\n" + "\n".join(
            f"- {k['impl']}, {TEST_LABEL.get(k['test'], k['test'])}: {k['retained'] * 100:.0f}%"
            for k in kept
        )
    if lat:
        text += "\n\n" + latency_table(lat)
    with open(f"{out}/table.md", "w") as f:
        f.write(text + "\n")
    print()
    for k in ("date", "cpu", "cpus", "kernel", "loadavg_start", "loadavg_end"):
        print(f"{k}: {machine.get(k, '?')}")
    print()
    print(text)
    print(f"\nwritten: {out}/runs.csv, summary.json, table.md, throughput.svg")


if __name__ == "__main__":
    main()
