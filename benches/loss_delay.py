"""A delay element for benches/loss.sh: holds every packet that iptables hands to NFQUEUE queue
QUEUE for DELAY_MS milliseconds, then lets it through, in the order it came.

    python3 loss_delay.py QUEUE DELAY_MS

The kernel here has no netem (no delay qdisc), so the delay is done in user space: an iptables
rule (`-j NFQUEUE --queue-num QUEUE`) parks each matching packet in the kernel and sends us its
id over nfnetlink; we give the verdict (accept) DELAY_MS later. The packet itself never leaves
the kernel (we ask for its metadata only), so nothing is copied, changed or reordered, and every
client behind the rule (Confer or Chromium) is delayed the same way. On loopback each packet of
either direction passes INPUT once, so a rule there with DELAY_MS=100 makes a 200 ms round trip.

Plain nfnetlink over a netlink socket, with the standard library only (no libnetfilter_queue,
nothing to build or install). Runs until SIGTERM/SIGINT; on exit the packets still held are let
through. Prints "ready" on stdout once bound, so the caller knows the queue has a listener, and
on exit how many packets it held and how late it let them go (against the packet's arrival in the
kernel plus DELAY_MS), so the bench can show the delay was what it says.

Two things keep the delay steady when the machine is busy (two browsers take most of two cores):
each packet's hold is counted from the kernel's timestamp of its arrival (NFQA_TIMESTAMP), not
from when we got round to reading it, and the element asks for a real-time priority, so it
wakes when a packet is due and not when the scheduler gets to it.
"""
import collections
import os
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
SO_TIMESTAMP = 29  # Linux; the socket module does not name it
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_TIMESTAMP = 1, 2, 4
NF_ACCEPT = 1


def attr(kind, payload):
    """One netlink attribute, padded to 4 bytes."""
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


class Queue:
    def __init__(self, number):
        self.number = number
        self.seq = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        # A burst of video at 720p is a few hundred packets; room for far more than that, and
        # no ENOBUFS error if the kernel ever has to drop a notification.
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (root)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.sock.bind((0, 0))

    def send(self, msg_type, attrs, ack=False):
        self.seq += 1
        # nfgenmsg: family (unspecified), version 0, the queue number (big-endian).
        body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(self.number)) + attrs
        flags = NLM_F_REQUEST | (NLM_F_ACK if ack else 0)
        header = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type,
                             flags, self.seq, 0)
        self.sock.send(header + body)
        if ack:
            for kind, payload in self.messages(self.sock.recv(65536)):
                if kind == NLMSG_ERROR:
                    error = struct.unpack("=i", payload[:4])[0]
                    if error != 0:
                        raise OSError(-error, f"nfqueue config: {os.strerror(-error)}")

    def configure(self, maxlen):
        self.send(NFQNL_MSG_CONFIG, attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0)),
                  ack=True)
        # Metadata only (copy range 0): we need the packet's id, not its bytes.
        self.send(NFQNL_MSG_CONFIG, attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META)),
                  ack=True)
        # The kernel drops what does not fit in the queue; make that never happen (a delay
        # element must not add loss of its own).
        self.send(NFQNL_MSG_CONFIG, attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", maxlen)),
                  ack=True)

    def accept(self, packet_id):
        self.send(NFQNL_MSG_VERDICT, attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id)))

    @staticmethod
    def messages(data):
        """(type, payload) of each netlink message in a datagram."""
        at = 0
        while at + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, at)
            if length < 16:
                break
            yield kind, data[at + 16:at + length]
            at += (length + 3) & ~3

    @staticmethod
    def packet(payload):
        """(id, arrival in s since the epoch or None) of a queued packet's message (payload: after
        the netlink header): its NFQA_PACKET_HDR and NFQA_TIMESTAMP."""
        at = 4  # nfgenmsg
        packet_id = arrived = None
        while at + 4 <= len(payload):
            length, kind = struct.unpack_from("=HH", payload, at)
            if length < 4:
                break
            if kind & 0x7FFF == NFQA_PACKET_HDR:
                packet_id = struct.unpack_from("!I", payload, at + 4)[0]
            elif kind & 0x7FFF == NFQA_TIMESTAMP:
                sec, usec = struct.unpack_from("!QQ", payload, at + 4)
                arrived = sec + usec / 1e6
            at += (length + 3) & ~3
        return packet_id, arrived


def percentile(values, q):
    values = sorted(values)
    return values[min(int(q * len(values)), len(values) - 1)] if values else 0.0


def main():
    number, delay = int(sys.argv[1]), float(sys.argv[2]) / 1000
    # The kernel stamps received packets (so NFQA_TIMESTAMP is there) only while some socket
    # asks for timestamps: this one does, for as long as we run.
    stamps = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stamps.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        priority = "real-time"
    except (AttributeError, PermissionError, OSError):
        priority = "normal (no real-time priority allowed)"
    queue = Queue(number)
    queue.configure(maxlen=65536)
    held = collections.deque()  # (release time, packet id), oldest first: one delay for all
    read_lag, late = [], []  # s: arrival to our reading it; due time to our letting it go
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", flush=True)
    while not stop:
        now = time.time()
        while held and held[0][0] <= now:
            due, packet_id = held.popleft()
            queue.accept(packet_id)
            late.append(now - due)
        timeout = max(0.0, held[0][0] - now) if held else 0.5
        try:
            readable, _, _ = select.select([queue.sock], [], [], timeout)
        except InterruptedError:
            continue
        if not readable:
            continue
        while True:
            try:
                data = queue.sock.recv(65536, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            read = time.time()
            for kind, payload in queue.messages(data):
                if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    packet_id, arrived = queue.packet(payload)
                    if packet_id is None:
                        continue
                    if arrived is None or arrived > read:
                        arrived = read
                    read_lag.append(read - arrived)
                    # The kernel's order is arrival order, so the deque stays sorted.
                    held.append((max(arrived + delay, held[-1][0] if held else 0), packet_id))
    for _, packet_id in held:
        queue.accept(packet_id)
    ms = lambda values, q: percentile(values, q) * 1000
    print(f"held {len(late)} packets {delay * 1000:.0f} ms each at {priority} priority; "
          f"read after arrival p50 {ms(read_lag, 0.5):.1f} / p99 {ms(read_lag, 0.99):.1f} / "
          f"max {ms(read_lag, 1):.1f} ms; let go after due p50 {ms(late, 0.5):.1f} / "
          f"p99 {ms(late, 0.99):.1f} / max {ms(late, 1):.1f} ms", flush=True)


if __name__ == "__main__":
    main()
