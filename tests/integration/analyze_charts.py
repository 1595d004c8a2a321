#!/usr/bin/env python3
"""Checks the charts of an analyze report: each is well-formed SVG drawn by
gnuplot with two data series (with and without XEP-0232) holding one bar or
point per data row of the CSV it was drawn from, and the Markdown links it.
usage: analyze_charts.py REPORT_DIR"""
import csv
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def rows(path, keep=lambda r: True):
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if keep(r)]


def series(svg_path):
    root = ET.parse(svg_path).getroot()  # raises on malformed XML
    if root.tag != SVG + "svg":
        sys.exit(f"{svg_path}: root is {root.tag}, not svg")
    found = {}
    for g in root.iter(SVG + "g"):
        gid = g.get("id", "")
        if gid.startswith("gnuplot_plot_"):
            found[gid] = g
    texts = [t.text or "" for t in root.iter(SVG + "text")]
    return found, texts


def check(d, name, kind, expect, label):
    found, texts = series(f"{d}/{name}")
    for sid in ("gnuplot_plot_1", "gnuplot_plot_2"):
        if sid not in found:
            sys.exit(f"{name}: series {sid} missing")
        tag = SVG + ("polygon" if kind == "bars" else "use")
        # one mark per data row, plus the key's sample
        marks = len(list(found[sid].iter(tag))) - 1
        if marks != expect:
            sys.exit(f"{name}: {sid} has {marks} marks, the CSV {expect} rows")
    if label and not any(label in t for t in texts):
        sys.exit(f"{name}: no label {label!r}")
    md = open(f"{d}/report.md").read()
    if f"]({name})" not in md:
        sys.exit(f"report.md does not link {name}")
    print(f"{name}: ok ({expect} rows)")


d = sys.argv[1]
sizes = rows(f"{d}/sizes.csv")
check(d, "sizes.svg", "bars", len(sizes), sizes[0]["representation"])
sw = rows(f"{d}/xep0232_by_software.csv")
check(d, "collapse.svg", "bars", min(20, len(sw)), sw[0]["node"])
curve = rows(f"{d}/hit_rate_curve.csv", lambda r: int(r["capacity"]) > 0)
check(d, "hit_rate_curve.svg", "points", len(curve), None)
