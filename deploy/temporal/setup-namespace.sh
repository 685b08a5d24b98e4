#!/bin/sh
# Registers the namespace and Clearhouse's search attributes; both are no-ops when present.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
temporal operator namespace describe -n "$ns" >/dev/null 2>&1 || temporal operator namespace create -n "$ns" --retention 30d
# search-attributes.json is {"Name": "Type", ...}
sed -n 's/^ *"\([A-Za-z]*\)": *"\([A-Za-z]*\)".*/\1 \2/p' /search-attributes.json | while read -r name type; do
  temporal operator search-attribute create -n "$ns" --name "$name" --type "$type" 2>/dev/null || true
done
temporal operator search-attribute list -n "$ns"
