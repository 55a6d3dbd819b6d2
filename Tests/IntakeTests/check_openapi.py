#!/usr/bin/env python3
"""Checks intake's OpenAPI document: valid OpenAPI, and every registered route documented.

Usage: check_openapi.py DOCUMENT_JSON "METHOD /path" ...

DOCUMENT_JSON holds the document served at /openapi.json. It must pass openapi-spec-validator
(which picks the 3.0 or 3.1 rules from its `openapi` member). Each further argument names a
route as the router registers it, e.g. `POST /v1/referrals` or `GET /v1/referrals/{id}`; the
path must appear exactly so under `paths`, with that method. Prints one line per failure and
exits 1 if there was any, 0 otherwise.
"""

import json
import sys

from openapi_spec_validator import validate

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def load_document(path, failures):
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as error:
        failures.append(f"{path}: not readable JSON: {error}")
        return None
    if not isinstance(document, dict):
        failures.append(f"{path}: the document must be a JSON object")
        return None
    return document


def check_valid(document, failures):
    try:
        validate(document)
    except Exception as error:  # the validator's errors share no public base class across versions
        # The first line names the rule; what follows (and an unresolved $ref's message) can
        # repeat the whole document, which helps nobody.
        lines = str(error).strip().splitlines()
        message = lines[0] if lines else type(error).__name__
        if len(message) > 300:
            message = message[:300] + "..."
        failures.append(f"not a valid OpenAPI document: {message}")


def check_routes(document, routes, failures):
    paths = document.get("paths") or {}
    for route in routes:
        parts = route.split()
        if len(parts) != 2 or parts[0].lower() not in METHODS or not parts[1].startswith("/"):
            failures.append(f"{route!r}: not a route; write it as \"METHOD /path\"")
            continue
        method, path = parts[0].lower(), parts[1]
        item = paths.get(path)
        if not isinstance(item, dict):
            failures.append(f"{method.upper()} {path}: the path is not documented")
        elif not isinstance(item.get(method), dict):
            documented = sorted(key.upper() for key in item if key in METHODS)
            failures.append(f"{method.upper()} {path}: the method is not documented (the path has {', '.join(documented) or 'no methods'})")


def main(argv):
    if len(argv) < 2:
        print('usage: check_openapi.py DOCUMENT_JSON ["METHOD /path" ...]', file=sys.stderr)
        return 2
    failures = []
    document = load_document(argv[1], failures)
    routes = argv[2:]
    if document is not None:
        check_valid(document, failures)
        check_routes(document, routes, failures)

    for failure in failures:
        print(failure)
    version = document.get("openapi", "?") if document is not None else "?"
    print(f"checked OpenAPI {version} document {argv[1]}: {len(routes)} routes"
          + (f", {len(failures)} failures" if failures else ", all documented"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
