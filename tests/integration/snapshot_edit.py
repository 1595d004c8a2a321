#!/usr/bin/env python3
"""Edits a snapshot directory the way a careless or hostile producer would,
for tests/integration/snapshot_test.sh.

  snapshot_edit.py reseal DIR FILE        record FILE's real size and sha256
                                          in manifest.json (so that only the
                                          structure checks can catch it)
  snapshot_edit.py set DIR KEY JSON       set a top-level manifest key
  snapshot_edit.py table DIR NAME KEY JSON  set a key of one table entry
  snapshot_edit.py rows DIR NAME          print a table's row count
  snapshot_edit.py mutate DIR SEED        one random damage (seeded): a
                                          manifest value of another type, or
                                          bytes flipped, inserted, deleted,
                                          a line repeated or the file cut in
                                          a data file (then resealed so that
                                          the structure checks must see it);
                                          prints what it did
"""
import hashlib
import json
import os
import random
import sys


def load(d):
    with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def save(d, m):
    with open(os.path.join(d, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(m, f, indent=2)
        f.write("\n")


def reseal(d, m, name):
    data = open(os.path.join(d, name), "rb").read()
    for e in m["files"]:
        if e["path"] == name:
            e["bytes"] = len(data)
            e["sha256"] = hashlib.sha256(data).hexdigest()
    save(d, m)


def paths(j, prefix=()):
    """Every path into the JSON document j."""
    yield prefix
    if isinstance(j, dict):
        for k, v in j.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(j, list):
        for i, v in enumerate(j):
            yield from paths(v, prefix + (i,))


def mutate(d, m, rnd):
    if rnd.random() < 0.4:
        # a manifest value replaced by one of another type
        p = rnd.choice([p for p in paths(m) if p])
        new = rnd.choice([None, -1, 2**70, 1.5, "", "x" * 5000, [], {}, "../x",
                          True, "a,b", "id\"; --"])
        parent = m
        for k in p[:-1]:
            parent = parent[k]
        parent[p[-1]] = new
        save(d, m)
        return "manifest %s = %r" % ("/".join(map(str, p)), new if not isinstance(new, str) else new[:20])
    t = rnd.choice([t for t in m["tables"] if t["rows"] > 0])
    name = t[rnd.choice(["csv", "jsonl"])]
    f = os.path.join(d, name)
    b = bytearray(open(f, "rb").read())
    kind = rnd.choice(["flip", "insert", "delete", "repeat", "cut"])
    i = rnd.randrange(len(b))
    if kind == "flip":
        b[i] = rnd.choice(b'",\r\n\x00{}[]:x9\\')
    elif kind == "insert":
        b[i:i] = bytes(rnd.choice(b'",\r\nx{') for _ in range(rnd.randint(1, 4)))
    elif kind == "delete":
        del b[i:i + rnd.randint(1, 8)]
    elif kind == "repeat":
        lines = bytes(b).split(b"\n")
        j = rnd.randrange(len(lines))
        lines.insert(j, lines[j])
        b = bytearray(b"\n".join(lines))
    else:
        b = b[:i]
    open(f, "wb").write(bytes(b))
    reseal(d, m, name)
    return "%s: %s at %d" % (name, kind, i)


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
    elif cmd == "mutate":
        print(mutate(d, m, random.Random(int(argv[3]))))
    elif cmd == "rows":
        print(next(t["rows"] for t in m["tables"] if t["name"] == argv[3]))
    else:
        sys.exit("usage: see the file header")


if __name__ == "__main__":
    main(sys.argv)
