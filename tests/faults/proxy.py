"""A TCP proxy the faults test puts between the services and Postgres or Redis
(standard library only), so that it can make the link slow, dead or cut.

    proxy = Proxy("postgres", listen_port, target_port, postgres=True)
    proxy.start()
    proxy.set_mode("delay", delay_s=0.2)   # every client->server chunk waits 0.2 s
    proxy.set_mode("blackhole")            # accept, forward nothing, both ways
    proxy.set_mode("pass")                 # heal: links that lost bytes are reset
    proxy.reset_all()                      # every open link dies at once
    proxy.arm_commit_cut(3)                # the next 3 COMMITs reach Postgres, their
                                           # replies never reach the service
    proxy.stop()

A blackhole drops bytes, so a link that lost some can never be in step again;
healing resets those links (what TCP keepalives or a timeout would do, later).
Links that stayed idle through the blackhole survive it.

With postgres=True the proxy follows the client's side of the Postgres wire
protocol (untyped startup messages, then a type byte and a length per
message) to find a COMMIT: a simple query ('Q') whose text is COMMIT, or an
extended-protocol Parse ('P') of COMMIT, which takes effect at the next Sync
('S'). It forwards the message, waits for Postgres's reply (so the commit has
happened), drops the reply and resets both sides.
"""
import socket
import struct
import threading
import time

CHUNK = 65536
REPLY_WAIT_S = 2.0
# Untyped first messages of the Postgres protocol, by their request code.
PG_SSL_REQUEST, PG_GSS_REQUEST, PG_PROTOCOL_3 = 80877103, 80877104, 196608


def _is_commit(sql):
    return sql.strip().rstrip(";").strip().upper() in ("COMMIT", "END", "COMMIT TRANSACTION")


class PgClientStream:
    """Splits the client's side of a Postgres connection into messages and says,
    for each, whether a COMMIT takes effect with it."""

    def __init__(self):
        self.pending = b""
        self.typed = False
        self.parsed_commit = False  # a Parse of COMMIT waits for its Sync

    def feed(self, data):
        """Yields (message bytes, commits) for each complete message."""
        self.pending += data
        while True:
            if not self.typed:
                if len(self.pending) < 8:
                    return
                length, code = struct.unpack("!ii", self.pending[:8])
                if length < 8 or len(self.pending) < length:
                    return
                message, self.pending = self.pending[:length], self.pending[length:]
                if code == PG_PROTOCOL_3:
                    self.typed = True
                yield message, False
                continue
            if len(self.pending) < 5:
                return
            kind = self.pending[:1]
            (length,) = struct.unpack("!i", self.pending[1:5])
            if len(self.pending) < 1 + length:
                return
            message, self.pending = self.pending[:1 + length], self.pending[1 + length:]
            commits = False
            if kind == b"Q":
                commits = _is_commit(message[5:].split(b"\0", 1)[0].decode("utf-8", "replace"))
            elif kind == b"P":
                body = message[5:].split(b"\0", 2)  # statement name, query, parameter types
                if len(body) >= 2 and _is_commit(body[1].decode("utf-8", "replace")):
                    self.parsed_commit = True
            elif kind == b"S" and self.parsed_commit:
                self.parsed_commit, commits = False, True
            yield message, commits


def _kill(sock):
    """Closes a socket so that the peer sees the connection die (RST where the
    kernel can), and a thread blocked on it wakes up."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Link:
    """One proxied connection: two pumps, client->server and server->client."""

    def __init__(self, proxy, client, server):
        self.proxy = proxy
        self.client = client
        self.server = server
        self.damaged = False    # lost bytes to a blackhole
        self.cutting = False    # a COMMIT went through: drop its reply, then die
        self.replied = threading.Event()
        self.dead = False
        self.lock = threading.Lock()

    def start(self):
        for target in (self.client_to_server, self.server_to_client):
            threading.Thread(target=target, daemon=True).start()

    def kill(self):
        with self.lock:
            if self.dead:
                return
            self.dead = True
        _kill(self.client)
        _kill(self.server)
        self.proxy.forget(self)

    def _hold(self):
        """Applies the mode to a chunk about to be forwarded; False drops it."""
        mode, delay_s = self.proxy.mode, self.proxy.delay_s
        if mode == "blackhole":
            self.damaged = True
            return False
        if mode == "delay" and delay_s > 0:
            time.sleep(delay_s)
        return True

    def client_to_server(self):
        stream = PgClientStream() if self.proxy.postgres else None
        try:
            while not self.dead:
                data = self.client.recv(CHUNK)
                if not data:
                    break
                if not self._hold():
                    continue
                if stream is None:
                    self.server.sendall(data)
                    continue
                for message, commits in stream.feed(data):
                    if commits and self.proxy.take_commit_cut():
                        self.cutting = True
                        self.server.sendall(message)
                        self.replied.wait(REPLY_WAIT_S)
                        self.proxy.note_cut()
                        return
                    self.server.sendall(message)
        except OSError:
            pass
        finally:
            self.kill()

    def server_to_client(self):
        try:
            while not self.dead:
                data = self.server.recv(CHUNK)
                if not data:
                    break
                if self.cutting:
                    self.replied.set()
                    continue
                if self.proxy.mode == "blackhole":
                    self.damaged = True
                    continue
                self.client.sendall(data)
        except OSError:
            pass
        finally:
            self.replied.set()
            self.kill()


class Proxy:
    def __init__(self, name, listen_port, target_port, postgres=False, host="127.0.0.1"):
        self.name = name
        self.listen_port = listen_port
        self.target = (host, target_port)
        self.host = host
        self.postgres = postgres
        self.mode = "pass"
        self.delay_s = 0.0
        self.links = set()
        self.lock = threading.Lock()
        self.cuts_armed = 0
        self.cuts_done = 0
        self.listener = None
        self.stopped = False

    def start(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((self.host, self.listen_port))
        self.listener.listen(256)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                _kill(client)  # the target is down: the client sees it as Postgres/Redis down
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = Link(self, client, server)
            with self.lock:
                self.links.add(link)
            link.start()

    def forget(self, link):
        with self.lock:
            self.links.discard(link)

    def set_mode(self, mode, delay_s=0.0):
        assert mode in ("pass", "delay", "blackhole"), mode
        self.delay_s = delay_s
        self.mode = mode
        if mode != "blackhole":
            with self.lock:
                damaged = [link for link in self.links if link.damaged]
            for link in damaged:
                link.kill()

    def reset_all(self):
        with self.lock:
            links = list(self.links)
        for link in links:
            link.kill()
        return len(links)

    def arm_commit_cut(self, count):
        with self.lock:
            self.cuts_armed = count

    def take_commit_cut(self):
        with self.lock:
            if self.cuts_armed <= 0:
                return False
            self.cuts_armed -= 1
            return True

    def note_cut(self):
        with self.lock:
            self.cuts_done += 1

    def stop(self):
        self.stopped = True
        if self.listener:
            _kill(self.listener)
        self.reset_all()
