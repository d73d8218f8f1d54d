#!/usr/bin/env python3
"""Validates custom resources offline against the JSON schemas in schemas/.

kubernetes-validate ships the schemas of Kubernetes' own kinds only: it skips a custom
resource with a warning. This checks each document of the given files whose kind has a schema
here (schemas/<kind>-<group>-<version>.json, e.g. podmonitor-monitoring-v1.json) and refuses
any other custom kind. Exit 0 when every document passes, 1 otherwise.

    python3 deploy/kubernetes/check-crds.py deploy/kubernetes/podmonitor.yaml
"""
import json
import pathlib
import sys

import jsonschema
import yaml

SCHEMAS = pathlib.Path(__file__).resolve().parent / "schemas"


def schema_for(doc):
    group, _, version = doc.get("apiVersion", "").rpartition("/")
    name = "%s-%s-%s.json" % (doc.get("kind", "").lower(), group.split(".")[0], version)
    path = SCHEMAS / name
    return json.loads(path.read_text()) if path.exists() else None


def main(paths):
    failed = 0
    for path in paths:
        for doc in yaml.safe_load_all(pathlib.Path(path).read_text()):
            if not doc:
                continue
            where = "%s %s/%s" % (path, doc.get("kind"), doc.get("metadata", {}).get("name"))
            schema = schema_for(doc)
            if schema is None:
                print("ERROR %s: no schema in %s for %s" % (where, SCHEMAS, doc.get("apiVersion")))
                failed += 1
                continue
            errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
            for e in errors:
                print("ERROR %s: %s: %s" % (where, ".".join(map(str, e.path)), e.message))
            failed += bool(errors)
            if not errors:
                print("INFO %s passed" % where)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
