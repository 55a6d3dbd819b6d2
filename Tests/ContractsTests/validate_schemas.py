#!/usr/bin/env python3
"""Validates event data bodies against the JSON Schemas of their event types.

Usage: validate_schemas.py SCHEMAS_DIR SAMPLES_DIR

Schemas are named `<eventType>.schema.json`; samples are named `<eventType>.<anything>.json`
and hold one JSON data body. Every schema must be a valid draft 2020-12 schema, every sample
must have a schema and every schema must have at least one sample. Prints one line per
failure and exits 1 if there was any, 0 otherwise.
"""

import json
import os
import sys

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_SUFFIX = ".schema.json"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "https://passerelle.example/schemas/"


def load_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def json_path(error):
    # `json_path` arrived in jsonschema 4.0; build the same thing for older versions.
    path = getattr(error, "json_path", None)
    if path is not None:
        return path
    text = "$"
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def load_schemas(directory, failures):
    schemas = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(SCHEMA_SUFFIX):
            continue
        event_type = name[: -len(SCHEMA_SUFFIX)]
        path = os.path.join(directory, name)
        try:
            schema = load_json(path)
        except (OSError, ValueError) as error:
            failures.append(f"{name}: $: not readable JSON: {error}")
            continue
        if not isinstance(schema, dict):
            failures.append(f"{name}: $: a schema must be a JSON object")
            continue
        if schema.get("$schema") != DRAFT_2020_12:
            failures.append(f"{name}: $.$schema: must be {DRAFT_2020_12}")
        expected_id = ID_PREFIX + name
        if schema.get("$id") != expected_id:
            failures.append(f"{name}: $.$id: must be {expected_id}")
        try:
            Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as error:
            failures.append(f"{name}: {json_path(error)}: not a valid draft 2020-12 schema: {error.message}")
            continue
        schemas[event_type] = Draft202012Validator(schema, format_checker=FormatChecker())
    return schemas


def event_type_of(sample_name, event_types):
    """The longest known event type that prefixes `<eventType>.<anything>.json`."""
    matches = [event_type for event_type in event_types if sample_name.startswith(event_type + ".")]
    return max(matches, key=len) if matches else None


def main(argv):
    if len(argv) != 3:
        print("usage: validate_schemas.py SCHEMAS_DIR SAMPLES_DIR", file=sys.stderr)
        return 2
    schemas_dir, samples_dir = argv[1], argv[2]
    failures = []
    schemas = load_schemas(schemas_dir, failures)
    if not schemas:
        failures.append(f"{schemas_dir}: no *{SCHEMA_SUFFIX} files")

    sampled = set()
    sample_count = 0
    for name in sorted(os.listdir(samples_dir)):
        if not name.endswith(".json"):
            continue
        sample_count += 1
        event_type = event_type_of(name, schemas)
        if event_type is None:
            failures.append(f"{name}: $: no schema for this sample's event type")
            continue
        sampled.add(event_type)
        try:
            sample = load_json(os.path.join(samples_dir, name))
        except (OSError, ValueError) as error:
            failures.append(f"{name}: $: not readable JSON: {error}")
            continue
        errors = sorted(schemas[event_type].iter_errors(sample), key=lambda e: (list(map(str, e.absolute_path)), e.message))
        for error in errors:
            failures.append(f"{name}: {json_path(error)}: {error.message}")

    for event_type in sorted(set(schemas) - sampled):
        failures.append(f"{event_type}{SCHEMA_SUFFIX}: $: no sample of this event type")

    for failure in failures:
        print(failure)
    print(f"validated {sample_count} samples against {len(schemas)} schemas" + (f", {len(failures)} failures" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
