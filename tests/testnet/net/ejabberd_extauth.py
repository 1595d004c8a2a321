#!/usr/bin/python3
# ejabberd external authentication program for xcensus' test network
# (tests/testnet/testnet). Reads "user@host password" lines from the file
# given as argument once at start, then answers ejabberd's extauth protocol
# (2-byte big-endian length + "op:user:host[:password]", reply 2-byte 2 +
# 2-byte result) on stdin/stdout. Only for the isolated test net.
import struct
import sys


def main():
    accounts = {}
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 1)
            if len(parts) == 2:
                accounts[parts[0]] = parts[1]
    rd, wr = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = rd.read(2)
        if len(head) < 2:
            return
        (size,) = struct.unpack(">H", head)
        data = rd.read(size).decode("utf-8", "replace").split(":", 3)
        ok = 0
        op = data[0]
        if op == "auth" and len(data) == 4:
            ok = int(accounts.get(data[1] + "@" + data[2]) == data[3])
        elif op == "isuser" and len(data) >= 3:
            ok = int((data[1] + "@" + data[2]) in accounts)
        wr.write(struct.pack(">HH", 2, ok))
        wr.flush()


if __name__ == "__main__":
    main()
