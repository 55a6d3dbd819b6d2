#!/usr/bin/env bash
# Generates Swift from each service's OpenAPI document with Apple's swift-openapi-generator
# (built once, on its own, from ./Generator):
#   - the client, into Shared/APIClients/<Name>API: the console and the tests call the services so;
#   - the server side, into Services/<Name>/Library/Generated/API: the operations' inputs and
#     outputs and the APIProtocol the service conforms to, so a handler that drifts from its
#     contract does not compile. Only the service's own operations: the host serves health,
#     metrics and /openapi.json, and FHIR's polymorphic resources keep hand-written routes
#     (the document still describes them exactly).
# The generated code is committed (the build plugin would cost minutes on every clean build).
#
#   generate.sh           regenerate
#   generate.sh --check   exit 1 if committed code differs from its document
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
scratch="$root/.build-openapi-generator"
check=0
[ "${1:-}" = --check ] && check=1

swift build --package-path "$here/Generator" --scratch-path "$scratch" --product swift-openapi-generator >&2
generator="$scratch/debug/swift-openapi-generator"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/embed.py" --composed "$work"

status=0
# generate <document> <config> <target folder>
generate() {
  local out="$work/out/$(basename "$3")-$RANDOM"
  mkdir -p "$out"
  "$generator" generate --config "$2" --output-directory "$out" "$1" > "$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
  if [ "$check" = 1 ]; then
    if ! diff -r -q "$out" "$3" >/dev/null 2>&1; then
      echo "${3#"$root"/} is stale: run Shared/Contracts/OpenAPI/generate.sh" >&2
      status=1
    fi
  else
    rm -rf "$3"
    mkdir -p "$3"
    cp "$out"/*.swift "$3/"
  fi
}

for service in intake matching notification evaluation; do
  name="$(tr '[:lower:]' '[:upper:]' <<< "${service:0:1}")${service:1}"
  generate "$work/$service.json" "$here/client-generator.yaml" "$root/Shared/APIClients/${name}API"
  # The server's operations: every tag of the document but the host's and FHIR's.
  tags=$(python3 -c '
import json, sys
document = json.load(open(sys.argv[1]))
tags = sorted({tag for item in document["paths"].values() for operation in item.values()
               if isinstance(operation, dict) for tag in operation.get("tags", [])} - {"operations", "fhir"})
print(json.dumps(tags))' "$work/$service.json")
  sed "s/^  tags: .*/  tags: $tags/" "$here/server-generator.yaml" > "$work/server-$service.yaml"
  # The server reads each body by its members' shapes and leaves conditions and choices to the
  # handler, which checks every member and answers 422 pointing at each one at fault: members
  # named only inside an anyOf/allOf/if branch join the object's own (the generator would drop
  # them), enumerations are read as text, and the composition keywords are set aside.
  python3 -c '
import json, sys
document = json.load(open(sys.argv[1]))
def plain(node):
    if isinstance(node, dict):
        # X or null is an optional X to the generator (its own handling of null branches breaks).
        for keyword in ("anyOf", "oneOf"):
            others = [branch for branch in node.get(keyword, []) if branch != {"type": "null"}]
            if keyword in node and len(others) == 1 and len(node[keyword]) == 2:
                node.pop(keyword)
                node.update(others[0])
        # A choice between shapes (tables or HSDS records) is any JSON to the server: the handler
        # reads it as the shapes it knows, or refuses it.
        for keyword in ("anyOf", "oneOf"):
            if any("$ref" in branch or branch.get("type") == "array" for branch in node.get(keyword, [])):
                for key in [key for key in node if key not in ("description", "example", "examples")]:
                    node.pop(key)
        branches = [branch for keyword in ("anyOf", "oneOf", "allOf") for branch in node.get(keyword, [])]
        branches += [node[keyword] for keyword in ("if", "then", "else") if isinstance(node.get(keyword), dict)]
        if branches and (node.get("type") == "object" or "properties" in node or any("properties" in b or "required" in b for b in branches)):
            properties = node.setdefault("properties", {})
            for branch in branches:
                for name, schema in branch.get("properties", {}).items():
                    if name not in properties and ("type" in schema or "$ref" in schema):
                        properties[name] = schema
            node["type"] = "object"
            for keyword in ("anyOf", "oneOf", "allOf", "if", "then", "else", "not"):
                node.pop(keyword, None)
        if "enum" in node and node.get("type") in ("string", ["string", "null"], ["null", "string"]):
            node.pop("enum")
        for value in node.values():
            plain(value)
    elif isinstance(node, list):
        for value in node:
            plain(value)
plain(document)
json.dump(document, open(sys.argv[2], "w"))' "$work/$service.json" "$work/$service-server.json"
  generate "$work/$service-server.json" "$work/server-$service.yaml" "$root/Services/$name/Library/Generated/API"
done
exit $status
