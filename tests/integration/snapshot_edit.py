#!/usr/bin/env python3
"""Edits a snapshot directory the way a careless or hostile producer would,
for tests/integration/snapshot_test.sh.

  snapshot_edit.py reseal DIR FILE        record FILE's real size and sha256
                                          in manifest.json (so that only the
                                          structure checks can catch it)
  snapshot_edit.py set DIR KEY JSON       set a top-level manifest key
  snapshot_edit.py table DIR NAME KEY JSON  set a key of one table entry
  snapshot_edit.py rows DIR NAME          print a table's row count
"""
import hashlib
import json
import os
import sys


def load(d):
    with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def save(d, m):
    with open(os.path.join(d, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(m, f, indent=2)
        f.write("\n")


def main(argv):
    cmd, d = argv[1], argv[2]
    m = load(d)
    if cmd == "reseal":
        name = argv[3]
        data = open(os.path.join(d, name), "rb").read()
        for e in m["files"]:
            if e["path"] == name:
                e["bytes"] = len(data)
                e["sha256"] = hashlib.sha256(data).hexdigest()
                break
        else:
            sys.exit("no file " + name)
        save(d, m)
    elif cmd == "set":
        m[argv[3]] = json.loads(argv[4])
        save(d, m)
    elif cmd == "table":
        for t in m["tables"]:
            if t["name"] == argv[3]:
                t[argv[4]] = json.loads(argv[5])
                break
        else:
            sys.exit("no table " + argv[3])
        save(d, m)
    elif cmd == "rows":
        print(next(t["rows"] for t in m["tables"] if t["name"] == argv[3]))
    else:
        sys.exit("usage: see the file header")


if __name__ == "__main__":
    main(sys.argv)
