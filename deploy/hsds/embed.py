#!/usr/bin/env python3
"""Copies the reviewed crosswalk files into the matching service's sources, so an image without
the deploy folder still has them: run after editing deploy/hsds/*.json (a test fails until then)."""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = ROOT / "Services/Matching/Library/Catalogue/HSDS"
FILES = [
    ("taxonomy-mapping.json", "DefaultTaxonomyMapping.swift", "defaultJSON", "Open Eligibility and common directory terms"),
    ("airs-crosswalk.json", "AIRSCrosswalk.swift", "airsCrosswalkJSON", "the AIRS/211 LA County Taxonomy crosswalk"),
]
for source, swift, name, what in FILES:
    text = (ROOT / "deploy/hsds" / source).read_text(encoding="utf-8")
    json.loads(text)  # refuse to embed a file that is not JSON
    assert '"""#' not in text
    (TARGET / swift).write_text(
        "// swift-format-ignore-file\n"
        f"/// The built-in crosswalk of {what}: the same text as deploy/hsds/{source}\n"
        "/// (written by deploy/hsds/embed.py; a test keeps them equal).\n"
        "extension TaxonomyMapping {\n"
        f"    static let {name} = #\"\"\"\n{text.rstrip()}\n\"\"\"#\n}}\n",
        encoding="utf-8",
    )
    print(f"{source} → {swift}")
