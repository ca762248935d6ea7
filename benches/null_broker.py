#!/usr/bin/env python3
"""A broker that does no storage work: what a client alone reaches on this machine.

When the client is the busier process, a cell of the matrix measures the client, and no
broker can be much faster than one that answers without storing or looking anything up.
This script is that broker, for librdkafka's rdkafka_performance:

  record LISTEN UPSTREAM DIR   a proxy on LISTEN to a real broker that advertises LISTEN.
                               It keeps the last response of every API but Produce and Fetch,
                               and every fetched record batch, in DIR.
  serve LISTEN DIR             answers Produce at once from the request (offsets counted, no
                               bytes kept), Fetch and ListOffsets from the kept batches (sent
                               with sendfile from one file), and every other request with the
                               kept response of its API.

Only the request versions librdkafka 2.0.2 sends are read (Produce 3-8, Fetch 11,
ListOffsets 2-5); anything else closes the connection with a message.
"""
import bisect
import os
import pickle
import signal
import socket
import struct
import sys
import threading
import time

PRODUCE, FETCH, LIST_OFFSETS = 0, 1, 2


def fail(message):
    """Stops the whole server: a request it cannot read would make its figures meaningless."""
    print(f"null_broker: {message}", file=sys.stderr, flush=True)
    os._exit(2)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def read_frame(sock):
    return recv_exact(sock, struct.unpack(">i", recv_exact(sock, 4))[0])


class Reader:
    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def take(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        return s

    def bytes_field(self):
        n = self.take(">i")
        start = self.pos
        self.pos += max(n, 0)
        return start, n


def request_header(frame):
    """(api key, version, correlation id, reader at the body) of a non-flexible request."""
    r = Reader(frame)
    key, version, correlation = r.take(">hhi")
    r.string()  # client id
    return key, version, correlation, r


def batches(data, start, length):
    """(base offset, last offset, start, length) of each whole v2 batch in data[start:start+length]."""
    pos, end = start, start + length
    while pos + 61 <= end:
        base, size = struct.unpack_from(">qi", data, pos)
        if pos + 12 + size > end:
            break
        last_delta = struct.unpack_from(">i", data, pos + 23)[0]
        yield base, base + last_delta, pos, 12 + size
        pos += 12 + size


def record(listen, upstream, directory):
    os.makedirs(directory, exist_ok=True)
    kept, lock = {}, threading.Lock()
    store = open(os.path.join(directory, "batches.bin"), "wb")
    index = {}  # (topic, partition) -> {base: (last, file offset, length)}
    high = {}  # (topic, partition) -> high watermark

    def keep_fetch(frame):
        r = Reader(frame, 4)
        r.take(">ihi")  # throttle, error, session id
        for _ in range(r.take(">i")):
            topic = r.string()
            for _ in range(r.take(">i")):
                partition, _error, hwm, _lso, _log_start, aborted = r.take(">ihqqqi")
                r.pos += 16 * max(aborted, 0)
                r.take(">i")  # preferred read replica
                start, n = r.bytes_field()
                key = (topic, partition)
                high[key] = max(high.get(key, 0), hwm)
                for base, last, pos, size in batches(frame, start, max(n, 0)):
                    if base not in index.setdefault(key, {}):
                        index[key][base] = (last, store.tell(), size)
                        store.write(frame[pos:pos + size])

    def save():
        """Writes what is kept so far; runs as each client connection ends."""
        store.flush()
        path = os.path.join(directory, "kept.pickle")
        with open(path + ".new", "wb") as f:
            pickle.dump({"responses": kept, "index": index, "high": high}, f)
        os.replace(path + ".new", path)

    def serve_client(client):
        up = socket.create_connection(upstream)
        try:
            while True:
                request = read_frame(client)
                key, version, _correlation, r = request_header(request)
                up.sendall(struct.pack(">i", len(request)) + request)
                if key == PRODUCE:
                    r.string()  # transactional id
                    if r.take(">h") == 0:
                        continue  # acks=0: no answer comes
                response = read_frame(up)
                with lock:
                    if key == FETCH:
                        if version != 11:
                            fail(f"Fetch v{version}: only v11 is read")
                        keep_fetch(response)
                    elif key != PRODUCE:
                        kept[key] = response
                client.sendall(struct.pack(">i", len(response)) + response)
        except (EOFError, ConnectionError):
            pass
        except struct.error as e:
            fail(f"a frame it cannot read: {e}")
        finally:
            client.close()
            up.close()
            with lock:
                save()

    def stop(_signal, _frame):
        # A save a connection's end started completes first: it holds the lock.
        with lock:
            save()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    accept_forever(listen, serve_client)


def serve(listen, directory):
    with open(os.path.join(directory, "kept.pickle"), "rb") as f:
        kept = pickle.load(f)
    responses, high = kept["responses"], kept["high"]
    index = {}
    for key, entries in kept["index"].items():
        bases = sorted(entries)
        index[key] = (bases, [entries[b] for b in bases])
    store = os.open(os.path.join(directory, "batches.bin"), os.O_RDONLY)
    next_offset, lock = {}, threading.Lock()

    def produce(version, r):
        r.string()  # transactional id
        acks, _timeout = r.take(">hi")
        topics = []
        for _ in range(r.take(">i")):
            topic = r.string()
            partitions = []
            for _ in range(r.take(">i")):
                partition = r.take(">i")
                start, n = r.bytes_field()
                count = sum(1 + last - base for base, last, _, _ in batches(r.data, start, max(n, 0)))
                with lock:
                    base = next_offset.get((topic, partition), 0)
                    next_offset[(topic, partition)] = base + count
                partitions.append((partition, base))
            topics.append((topic, partitions))
        if acks == 0:
            return None
        out = [struct.pack(">i", len(topics))]
        for topic, partitions in topics:
            out.append(struct.pack(">h", len(topic)) + topic + struct.pack(">i", len(partitions)))
            for partition, base in partitions:
                out.append(struct.pack(">ihqq", partition, 0, base, -1))
                if version >= 5:
                    out.append(struct.pack(">q", 0))
                if version >= 8:
                    out.append(struct.pack(">ih", 0, -1))
        out.append(struct.pack(">i", 0))  # throttle time
        return [b"".join(out)]

    def list_offsets(version, r):
        r.take(">i")  # replica id
        r.take(">b")  # isolation level
        out = [struct.pack(">i", 0)]  # throttle time
        topics = r.take(">i")
        out.append(struct.pack(">i", topics))
        for _ in range(topics):
            topic = r.string()
            partitions = r.take(">i")
            out.append(struct.pack(">h", len(topic)) + topic + struct.pack(">i", partitions))
            for _ in range(partitions):
                partition = r.take(">i")
                if version >= 4:
                    r.take(">i")  # current leader epoch
                timestamp = r.take(">q")
                offset = high.get((topic, partition), 0) if timestamp == -1 else 0
                out.append(struct.pack(">ihqq", partition, 0, -1, offset))
                if version >= 4:
                    out.append(struct.pack(">i", 0))
        return [b"".join(out)]

    def fetch(r):
        """Header bytes and (file offset, length) pieces, whole batches from each asked offset."""
        _replica, max_wait, _min_bytes, budget = r.take(">iiii")
        r.take(">bii")  # isolation level, session id and epoch
        topics, any_records = r.take(">i"), False
        out = [struct.pack(">ihii", 0, 0, 0, topics)]  # throttle, error, session id, topics
        for _ in range(topics):
            topic = r.string()
            partitions = r.take(">i")
            out.append(struct.pack(">h", len(topic)) + topic + struct.pack(">i", partitions))
            for _ in range(partitions):
                partition, _epoch, offset, _log_start, limit = r.take(">iiqqi")
                bases, entries = index.get((topic, partition), ([], []))
                i = bisect.bisect_right(bases, offset) - 1
                if i < 0 or entries[i][0] < offset:
                    i += 1
                pieces, size = [], 0
                while i < len(entries) and budget > 0 and (not pieces or size + entries[i][2] <= limit):
                    _last, at, n = entries[i]
                    if pieces and size + n > budget:
                        break
                    pieces.append((at, n))
                    size += n
                    i += 1
                budget -= size
                any_records |= bool(pieces)
                hwm = high.get((topic, partition), 0)
                out.append(struct.pack(">ihqqqii", partition, 0, hwm, hwm, 0, 0, -1))
                out.append(struct.pack(">i", size))
                out.extend(pieces)
        if not any_records:
            time.sleep(max_wait / 1000)
        return out

    def serve_client(client):
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 102400)
        try:
            while True:
                key, version, correlation, r = request_header(read_frame(client))
                if key == PRODUCE:
                    if not 3 <= version <= 8:
                        fail(f"Produce v{version}: only v3-8 are read")
                    parts = produce(version, r)
                elif key == FETCH:
                    if version != 11:
                        fail(f"Fetch v{version}: only v11 is read")
                    parts = fetch(r)
                elif key == LIST_OFFSETS:
                    if not 2 <= version <= 5:
                        fail(f"ListOffsets v{version}: only v2-5 are read")
                    parts = list_offsets(version, r)
                elif key in responses:
                    parts = [responses[key][4:]]
                else:
                    fail(f"no kept response for API {key}")
                if parts is None:
                    continue
                size = 4 + sum(len(p) if isinstance(p, bytes) else p[1] for p in parts)
                head = struct.pack(">ii", size, correlation)
                for part in parts:
                    if isinstance(part, bytes):
                        head += part
                        continue
                    client.sendall(head)
                    head = b""
                    at, n = part
                    while n:
                        sent = os.sendfile(client.fileno(), store, at, n)
                        at, n = at + sent, n - sent
                client.sendall(head)
        except (EOFError, ConnectionError):
            pass
        except struct.error as e:
            fail(f"a request it cannot read: {e}")
        finally:
            client.close()

    accept_forever(listen, serve_client)


def accept_forever(listen, serve_client):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(listen)
    server.listen(64)
    while True:
        client, _ = server.accept()
        threading.Thread(target=serve_client, args=(client,), daemon=True).start()


def address(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "record":
        record(address(sys.argv[2]), address(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(address(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(__doc__)
