"""Prints a TCP port P on 127.0.0.1 such that P and P + 1 were both free a
moment ago (a server's c2s and s2s ports). Exits 1 if none was found."""
import socket
import sys

for _ in range(500):
    a = socket.socket()
    a.bind(("127.0.0.1", 0))
    p = a.getsockname()[1]
    b = socket.socket()
    try:
        if p < 65535:
            b.bind(("127.0.0.1", p + 1))
            print(p)
            sys.exit(0)
    except OSError:
        pass
    finally:
        a.close()
        b.close()
print("free_port.py: no free pair of ports", file=sys.stderr)
sys.exit(1)
