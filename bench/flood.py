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
answers with cookie replies instead.

The flooder shares the benchmark machine with the tunnel it floods, which a
real attacker would not, so it spends as little CPU as it can: on Linux it
hands the kernel each 10 ms slice of datagrams in one `sendmmsg` call (each
still its own datagram: no GSO), through ctypes. FLOOD_ONE_BY_ONE=1 sends
them one `sendto` at a time instead, as this script did before 2026-11-22's
session 6, for comparing figures across that change. Standard library only.
"""
import base64
import ctypes
import ctypes.util
import hashlib
import os
import socket
import sys
import time


class IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(IoVec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", MsgHdr), ("msg_len", ctypes.c_uint)]


def batch_sender(sock, pool):
    """A function send(first, count) that sends pool[first:first+count]
    (indices modulo len(pool)) in sendmmsg calls, or None where sendmmsg is
    not available."""
    if not sys.platform.startswith("linux") or os.environ.get("FLOOD_ONE_BY_ONE") == "1":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        sendmmsg = libc.sendmmsg
    except (OSError, AttributeError):
        return None
    sendmmsg.argtypes = [ctypes.c_int, ctypes.POINTER(MMsgHdr), ctypes.c_uint, ctypes.c_int]
    sendmmsg.restype = ctypes.c_int
    n = len(pool)
    # The pool twice over, so any run of up to n messages is contiguous.
    buffers = [ctypes.create_string_buffer(m, len(m)) for m in pool]
    iovs = (IoVec * n)()
    for i, b in enumerate(buffers):
        iovs[i].iov_base = ctypes.cast(b, ctypes.c_void_p)
        iovs[i].iov_len = len(pool[i])
    headers = (MMsgHdr * (2 * n))()
    for i in range(2 * n):
        headers[i].msg_hdr.msg_iov = ctypes.pointer(iovs[i % n])
        headers[i].msg_hdr.msg_iovlen = 1
    fd = sock.fileno()
    size = ctypes.sizeof(MMsgHdr)
    base = ctypes.addressof(headers)

    def send(first, count):
        first %= n
        while count > 0:
            run = min(count, n)
            start = ctypes.cast(base + first * size, ctypes.POINTER(MMsgHdr))
            done = sendmmsg(fd, start, run, 0)
            if done <= 0:
                # ENOBUFS, ECONNREFUSED and the like: the rest of this
                # slice is lost, as a sendto loop would lose it.
                return
            count -= done
            first = (first + done) % n

    send.keep = (buffers, iovs, headers)  # alive as long as send is
    return send


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
    send_batch = batch_sender(s, pool)
    if send_batch is not None:
        s.connect((host, port))  # sendmmsg's messages name no address
    batch = max(1, pps // 100)  # paced in 10 ms slices
    sent = 0
    start = time.monotonic()
    while True:
        if send_batch is not None:
            send_batch(sent, batch)
        else:
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
