#!/usr/bin/env python3
"""Chaos test: a tracker and several peers on loopback, downloads going over both transports while
peers are killed (SIGKILL) and restarted, the tracker is restarted, and garbage goes to every port.

At the end it checks that
  - every download ended `ok` with the right bytes, or with a reason (a non-empty message);
  - no file under its final name has wrong bytes;
  - no `.part` lock is left held (`flock -n` on every `.part`);
  - every live peer still serves (a TCP GET of a file it shares, checked byte for byte);
  - the tracker's index matches the live peers (LIST and SEND against what each peer shares);
and prints the figures. Exit status 0 when every check passed.

Every loop is bounded in count and time; everything started is stopped by PID at the end, also on
failure or Ctrl-C. Usage: bench/chaos.sh --help.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import fcntl

PEER_PORT = 5555


def log(message):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_tcp_port(host="127.0.0.1"):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while True:
            block = file.read(1 << 20)
            if not block:
                return digest.hexdigest()
            digest.update(block)


class Processes:
    """Every process this script started, by PID; stops them all at the end."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running = set()

    def start(self, arguments, log_path, **kwargs):
        log_file = open(log_path, "ab")
        process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL, stdout=kwargs.pop("stdout", log_file),
                                   stderr=log_file, **kwargs)
        log_file.close()
        with self.lock:
            self.running.add(process)
        return process

    def forget(self, process):
        with self.lock:
            self.running.discard(process)

    def stop_all(self):
        with self.lock:
            processes = list(self.running)
            self.running.clear()
        for process in processes:
            if process.poll() is None:
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 8
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


class Tracker:
    def __init__(self, chaos):
        self.chaos = chaos
        self.port = free_tcp_port()
        self.process = None
        self.exit_codes = []

    def start(self):
        self.process = self.chaos.processes.start(
            [self.chaos.ferry, "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--db", os.path.join(self.chaos.work, "tracker.sqlite"), "--log-level", "notice"],
            os.path.join(self.chaos.work, "tracker.log"))
        wait_for(lambda: can_connect("127.0.0.1", self.port), 20, "the tracker to listen")

    def stop(self, sig):
        process = self.process
        if process is None:
            return
        os.kill(process.pid, sig)
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.chaos.findings.append(f"tracker did not exit within 15 s of signal {sig}; killed")
            os.kill(process.pid, signal.SIGKILL)
            code = process.wait(timeout=5)
        self.chaos.processes.forget(process)
        self.exit_codes.append(code)
        if sig == signal.SIGTERM and code != 0:
            self.chaos.findings.append(f"tracker exited with {code} after SIGTERM (expected 0)")
        self.process = None


class Peer:
    def __init__(self, chaos, index, host):
        self.chaos = chaos
        self.index = index
        self.host = host
        self.share = os.path.join(chaos.work, f"share-{index}")
        self.downloads = os.path.join(chaos.work, f"peer-downloads-{index}")
        self.files = {}  # name -> (size, sha256)
        self.process = None
        os.makedirs(self.share, exist_ok=True)
        os.makedirs(self.downloads, exist_ok=True)

    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None

    def start(self):
        self.process = self.chaos.processes.start(
            [self.chaos.ferry, "peer", "--server", f"127.0.0.1:{self.chaos.tracker.port}", "--host", self.host,
             "--port", str(PEER_PORT), "--share", self.share, "--downloads", self.downloads,
             "--cache", os.path.join(self.chaos.work, f"cache-{self.index}.sqlite"), "--log-level", "notice"],
            os.path.join(self.chaos.work, f"peer-{self.index}.log"))

    def kill(self):
        if self.process is None:
            return
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.chaos.processes.forget(self.process)
        self.process = None

    def stop(self):
        if self.process is None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout=15)
            if code != 0:
                self.chaos.findings.append(f"peer {self.host} exited with {code} after SIGTERM (expected 0)")
        except subprocess.TimeoutExpired:
            self.chaos.findings.append(f"peer {self.host} did not exit within 15 s of SIGTERM; killed")
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.chaos.processes.forget(self.process)
        self.process = None


def can_connect(host, port, source=None):
    try:
        with socket.create_connection((host, port), timeout=1, source_address=(source, 0) if source else None):
            return True
    except OSError:
        return False


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {seconds} s waiting for {what}")


def read_line(sock, limit=65536):
    data = bytearray()
    while len(data) < limit:
        byte = sock.recv(1)
        if not byte:
            raise EOFError("connection closed")
        if byte == b"\n":
            return data.decode("utf-8", "replace")
        data += byte
    raise ValueError("line too long")


def tracker_request(port, line, timeout=10):
    """Sends one request line to the tracker and returns its reply lines (the final one last)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(line.encode() + b"\n")
        lines = []
        while len(lines) < 100_000:
            reply = read_line(sock)
            lines.append(reply)
            if len(reply) >= 4 and reply[3] == " ":
                return lines
    raise ValueError("reply too long")


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Chaos:
    def __init__(self, options):
        self.options = options
        self.ferry = os.path.abspath(options.ferry)
        self.random = random.Random(options.seed)
        self.work = options.work or tempfile.mkdtemp(prefix="ferry-chaos-")
        os.makedirs(self.work, exist_ok=True)
        self.processes = Processes()
        self.findings = []
        self.lock = threading.Lock()
        self.figures = dict(downloads_started=0, downloads_ok=0, downloads_failed=0, downloads_hung=0,
                            downloads_udp=0, downloads_tcp=0, bytes_verified=0, peer_kills=0, peer_restarts=0,
                            tracker_restarts=0, garbage_tcp=0, garbage_udp=0, collisions=0)
        self.failure_reasons = {}
        self.catalog = {}  # name -> (size, sha256, path)
        self.jobs = 0
        # A /24 of loopback per run: peers at .1-.N, downloaders from .100 on.
        self.net = f"127.{self.random.randrange(1, 255)}.{self.random.randrange(1, 255)}"
        self.tracker = Tracker(self)
        self.peers = [Peer(self, index, f"{self.net}.{index + 1}") for index in range(options.peers)]
        self.stop_chaos = threading.Event()

    # Files ---------------------------------------------------------------------------------------

    def make_files(self):
        """A pool of files of random sizes from 0 B up to --max-size, each shared by 2 or 3 peers."""
        pool = os.path.join(self.work, "pool")
        os.makedirs(pool, exist_ok=True)
        maximum = self.options.max_size
        sizes = [0, 1, 4095, maximum]
        while len(sizes) < self.options.files:
            # Log-uniform between 1 KiB and the maximum: many small files, a few large ones.
            low, high = 10, max(11, maximum.bit_length())
            sizes.append(min(maximum, int(2 ** self.random.uniform(low, high))))
        for number, size in enumerate(sizes):
            name = f"chaos-{number:02d}-{size}.bin"
            path = os.path.join(pool, name)
            with open(path, "wb") as file:
                remaining = size
                while remaining > 0:
                    block = os.urandom(min(remaining, 4 << 20))
                    file.write(block)
                    remaining -= len(block)
            self.catalog[name] = (size, sha256_of(path), path)
            holders = self.random.sample(self.peers, min(len(self.peers), self.random.choice([2, 2, 3])))
            for peer in holders:
                os.link(path, os.path.join(peer.share, name))
                peer.files[name] = self.catalog[name][:2]
        total = sum(size for size, _, _ in self.catalog.values())
        log(f"{len(sizes)} files, {total / 2**20:.1f} MiB in all, largest {maximum / 2**20:.1f} MiB")

    # Downloads -----------------------------------------------------------------------------------

    def download_slot(self, slot, deadline):
        """Keeps one download going until the deadline: pick a file and a transport, run `ferry get`."""
        attempts = 0
        while not self.stop_chaos.is_set() and time.monotonic() < deadline and attempts < 100_000:
            attempts += 1
            with self.lock:
                self.jobs += 1
                job = self.jobs
            name = self.random.choice(sorted(self.catalog))
            transport = self.random.choice(["tcp", "udp"])
            folder = os.path.join(self.work, "downloads", f"job-{job}")
            os.makedirs(folder, exist_ok=True)
            # Now and then a second `get` of the same name into the same folder at once.
            twins = 2 if self.random.random() < 0.1 else 1
            if twins == 2:
                with self.lock:
                    self.figures["collisions"] += 1
            threads = [threading.Thread(target=self.run_get, args=(slot, job, twin, name, transport, folder))
                       for twin in range(twins)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            final = os.path.join(folder, name)
            if os.path.exists(final):
                self.check_final_file(final, name)
                os.unlink(final)

    def run_get(self, slot, job, twin, name, transport, folder):
        size = self.catalog[name][0]
        host = f"{self.net}.{100 + slot * 2 + twin}"
        # Generous: 60 s plus 2 s per MiB (the machine is shared and peers die under the download).
        timeout = 60 + 2 * size / 2**20
        with self.lock:
            self.figures["downloads_started"] += 1
        process = self.processes.start(
            [self.ferry, "get", "--server", f"127.0.0.1:{self.tracker.port}", "--host", host, "--downloads", folder,
             "--transport", transport, "--json", name],
            os.path.join(self.work, "downloads", f"job-{job}-{twin}.stderr"), stdout=subprocess.PIPE)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            output, _ = process.communicate(timeout=10)
            with self.lock:
                self.figures["downloads_hung"] += 1
                self.findings.append(f"ferry get {name} ({size} B, {transport}) ran past {timeout:.0f} s (job {job})")
        finally:
            self.processes.forget(process)
        lines = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
        results = []
        for line in lines:
            try:
                results.append(json.loads(line))
            except ValueError:
                self.findings.append(f"job {job}: ferry get printed a line that is not JSON: {line[:200]!r}")
        code = process.returncode
        if not results:
            # No JSON at all: allowed only with exit 1 and a reason on stderr (tracker unreachable).
            stderr = open(os.path.join(self.work, "downloads", f"job-{job}-{twin}.stderr"), errors="replace").read()
            reason = stderr.strip().splitlines()[-1] if stderr.strip() else ""
            with self.lock:
                self.figures["downloads_failed"] += 1
                key = reason[:70] or f"exit {code}, no output"
                self.failure_reasons[key] = self.failure_reasons.get(key, 0) + 1
                if code == 0 or not reason:
                    self.findings.append(f"job {job}: ferry get exited {code} without a result or a reason")
            return
        for result in results:
            status = result.get("status")
            with self.lock:
                if status in ("ok", "skipped"):
                    self.figures["downloads_ok"] += 1
                    self.figures[f"downloads_{result.get('transport') or transport}"] += 1
                    if result.get("sha256") != self.catalog[name][1]:
                        self.findings.append(f"job {job}: {name} ended {status} with sha256 {result.get('sha256')}")
                    if status == "ok":
                        self.figures["bytes_verified"] += result.get("bytes") or 0
                else:
                    self.figures["downloads_failed"] += 1
                    message = result.get("message") or ""
                    errors = sorted({attempt.get("error") or "" for attempt in result.get("attempts", [])} - {""})
                    key = f"{status}: {','.join(errors) or message[:50]}"
                    self.failure_reasons[key] = self.failure_reasons.get(key, 0) + 1
                    if not message:
                        self.findings.append(f"job {job}: {name} ended {status} without a message")
                if (status in ("ok", "skipped")) != (code == 0):
                    self.findings.append(f"job {job}: status {status} but exit code {code}")

    def check_final_file(self, path, name):
        expected = self.catalog[name][1]
        actual = sha256_of(path)
        if actual != expected:
            with self.lock:
                self.findings.append(f"{path} has wrong bytes under its final name (sha256 {actual})")

    # Chaos ---------------------------------------------------------------------------------------

    def chaos_loop(self, deadline):
        actions = 0
        while not self.stop_chaos.is_set() and time.monotonic() < deadline and actions < 100_000:
            actions += 1
            self.stop_chaos.wait(self.random.uniform(0.5, 2.0))
            self.notice_crashes()
            roll = self.random.random()
            try:
                if roll < 0.30:
                    alive = [peer for peer in self.peers if peer.alive]
                    if len(alive) > 1:
                        victim = self.random.choice(alive)
                        victim.kill()
                        self.figures["peer_kills"] += 1
                elif roll < 0.55:
                    dead = [peer for peer in self.peers if not peer.alive]
                    if dead:
                        self.random.choice(dead).start()
                        self.figures["peer_restarts"] += 1
                elif roll < 0.62:
                    self.tracker.stop(self.random.choice([signal.SIGTERM, signal.SIGTERM, signal.SIGKILL]))
                    self.stop_chaos.wait(self.random.uniform(0, 2))
                    self.tracker.start()
                    self.figures["tracker_restarts"] += 1
                else:
                    self.send_garbage()
            except Exception as error:  # keep the chaos going; note what broke
                self.findings.append(f"chaos action failed: {error!r}")

    def notice_crashes(self):
        """A process that exited without being told to is a finding; it is started again."""
        tracker = self.tracker.process
        if tracker is not None and tracker.poll() is not None:
            self.findings.append(f"tracker exited on its own with {tracker.returncode} (see tracker.log)")
            self.processes.forget(tracker)
            self.tracker.process = None
            self.tracker.start()
        for peer in self.peers:
            if peer.process is not None and peer.process.poll() is not None:
                self.findings.append(f"peer {peer.host} exited on its own with {peer.process.returncode} "
                                     f"(see peer-{peer.index}.log)")
                self.processes.forget(peer.process)
                peer.process = None

    def garbage(self):
        kind = self.random.randrange(6)
        if kind == 0:
            return os.urandom(self.random.randrange(1, 3000))
        if kind == 1:
            return b"A" * self.random.randrange(4000, 20000) + b"\n"
        if kind == 2:
            return b"HELLO 1 2\nUPDATE 5\nFILE 1 zz x\n\x00\xff\xfe\r\nSEND " + b",".join([b"x"] * 300) + b"\n"
        if kind == 3:
            return b"GET 0 * \"" + os.urandom(40).replace(b"\n", b"") + b"\"\n"
        if kind == 4:
            return b"\xf1\x01" + os.urandom(self.random.randrange(20, 1400))
        return b"PING\n" * self.random.randrange(1, 500)

    def send_garbage(self):
        targets = [("127.0.0.1", self.tracker.port)] + [(peer.host, PEER_PORT) for peer in self.peers if peer.alive]
        source = f"{self.net}.250"
        for host, port in targets:
            try:
                with socket.create_connection((host, port), timeout=2, source_address=(source, 0)) as sock:
                    sock.settimeout(1)
                    sock.sendall(self.garbage())
                    if self.random.random() < 0.5:
                        try:
                            sock.recv(4096)
                        except OSError:
                            pass
                self.figures["garbage_tcp"] += 1
            except OSError:
                pass
            if port == PEER_PORT:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.bind((source, 0))
                    for _ in range(self.random.randrange(1, 20)):
                        sock.sendto(self.garbage()[:1400], (host, port))
                        self.figures["garbage_udp"] += 1

    # Checks --------------------------------------------------------------------------------------

    def check_end(self):
        log("end checks: every peer up, index, serving, part files, final names")
        self.notice_crashes()
        for peer in self.peers:
            if not peer.alive:
                peer.start()
                self.figures["peer_restarts"] += 1
        # The index must settle to the live peers within a few heartbeats.
        try:
            wait_for(self.index_matches, 40, "the tracker's index to match the live peers")
        except RuntimeError as error:
            self.findings.append(f"{error}: {self.index_difference()}")
        for peer in self.peers:
            self.check_peer_serves(peer)
        held = 0
        parts = 0
        for root, _, files in os.walk(self.work):
            for file in files:
                path = os.path.join(root, file)
                if file.endswith(".part"):
                    parts += 1
                    with open(path, "rb") as handle:
                        try:
                            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                            fcntl.flock(handle, fcntl.LOCK_UN)
                        except OSError:
                            held += 1
                            self.findings.append(f"{path} is still locked after every download ended")
                elif root.startswith(os.path.join(self.work, "downloads")) and file in self.catalog:
                    self.check_final_file(path, file)
        self.figures["part_files_left"] = parts
        self.figures["part_locks_held"] = held

    def expected_index(self):
        expected = {}
        for peer in self.peers:
            if peer.alive:
                for name in peer.files:
                    expected.setdefault(name, set()).add(peer.host)
        return expected

    def actual_index(self):
        listed = {}
        for line in tracker_request(self.tracker.port, "LIST")[:-1]:
            # 212-"<name>" <size> <sha256> <holder-count>
            name_end = line.rindex('"')
            name = line[5:name_end]
            fields = line[name_end + 1:].split()
            listed[name] = int(fields[2])
        holders = {}
        names = sorted(self.catalog)
        reply = tracker_request(self.tracker.port, "SEND " + ", ".join(quote(name) for name in names))
        current = None
        for line in reply[:-1]:
            if line.startswith("210-FILE "):
                current = line[10:line.rindex('"')]
                holders.setdefault(current, set())
            elif line.startswith("211-PEER "):
                host, port = line.split()[1:3]
                if int(port) != PEER_PORT:
                    self.findings.append(f"tracker lists {host} with TCP port {port}")
                holders[current].add(host)
        return listed, holders

    def index_matches(self):
        try:
            listed, holders = self.actual_index()
        except (OSError, ValueError, EOFError):
            return False
        expected = self.expected_index()
        return holders == expected and listed == {name: len(hosts) for name, hosts in expected.items()}

    def index_difference(self):
        try:
            listed, holders = self.actual_index()
        except (OSError, ValueError, EOFError) as error:
            return f"tracker unreachable: {error!r}"
        expected = self.expected_index()
        return f"expected {dict((k, sorted(v)) for k, v in expected.items())}, SEND says " \
               f"{dict((k, sorted(v)) for k, v in holders.items())}, LIST counts {listed}"

    def check_peer_serves(self, peer):
        name = min(peer.files, key=lambda n: peer.files[n][0] if peer.files[n][0] > 0 else 1 << 62)
        size, digest = peer.files[name]
        try:
            with socket.create_connection((peer.host, PEER_PORT), timeout=10) as sock:
                sock.sendall(f"GET 0 * {quote(name)}\n".encode())
                header = read_line(sock, 512).split()
                if header[0] != "200" or header[2] != digest:
                    self.findings.append(f"peer {peer.host} answered {' '.join(header)} for {name}")
                    return
                length = int(header[4])
                received = hashlib.sha256()
                got = 0
                while got < length:
                    block = sock.recv(min(1 << 20, length - got))
                    if not block:
                        break
                    received.update(block)
                    got += len(block)
                if got != size or received.hexdigest() != digest:
                    self.findings.append(f"peer {peer.host} served {got} B of {name} with the wrong bytes")
        except (OSError, ValueError, EOFError, IndexError) as error:
            self.findings.append(f"peer {peer.host} does not serve {name}: {error!r}")

    # Run -----------------------------------------------------------------------------------------

    def run(self):
        started = time.monotonic()
        self.make_files()
        self.tracker.start()
        for peer in self.peers:
            peer.start()
        wait_for(self.index_matches, 60, "every peer to register")
        log(f"tracker 127.0.0.1:{self.tracker.port}, peers {', '.join(peer.host for peer in self.peers)}:{PEER_PORT}, "
            f"work {self.work}")
        deadline = time.monotonic() + self.options.seconds
        slots = [threading.Thread(target=self.download_slot, args=(slot, deadline), daemon=True)
                 for slot in range(self.options.downloads)]
        for thread in slots:
            thread.start()
        self.chaos_loop(deadline)
        log("chaos over; waiting for the running downloads")
        for thread in slots:
            thread.join(timeout=60 + 2 * self.options.max_size / 2**20 + 20)
            if thread.is_alive():
                self.findings.append("a download slot did not finish")
        self.check_end()
        for peer in self.peers:
            peer.stop()
        self.tracker.stop(signal.SIGTERM)
        self.figures["seconds"] = round(time.monotonic() - started)
        self.report()
        return not self.findings

    def report(self):
        figures = self.figures
        log("figures: " + ", ".join(f"{key}={value}" for key, value in figures.items()))
        log(f"bytes verified: {figures['bytes_verified'] / 2**20:.1f} MiB; tracker exit codes: {self.tracker.exit_codes}")
        for reason, count in sorted(self.failure_reasons.items(), key=lambda item: -item[1]):
            log(f"  failed downloads: {count} × {reason}")
        if self.findings:
            log(f"{len(self.findings)} FINDINGS:")
            for finding in self.findings[:100]:
                log(f"  - {finding}")
        else:
            log("every check passed")


def parse_size(text):
    units = {"": 1, "K": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GIB": 1 << 30}
    text = text.strip().upper()
    number = text.rstrip("KMGIB")
    return int(float(number) * units[text[len(number):]])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=600, help="how long the chaos lasts (default 600)")
    parser.add_argument("--ferry", default=".build/release/ferry", help="the ferry binary")
    parser.add_argument("--peers", type=int, default=4)
    parser.add_argument("--downloads", type=int, default=20, help="downloads kept going at once")
    parser.add_argument("--files", type=int, default=12, help="files in the pool")
    parser.add_argument("--max-size", type=parse_size, default="256MiB", help="largest file (default 256MiB)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--work", help="working folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    options = parser.parse_args()
    if options.seed is None:
        options.seed = random.randrange(1 << 30)
    log(f"seed {options.seed}")
    chaos = Chaos(options)

    def on_signal(number, _):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    passed = False
    try:
        passed = chaos.run()
    except KeyboardInterrupt:
        log("interrupted")
    except Exception as error:
        log(f"chaos run failed: {error!r}")
        chaos.report()
    finally:
        chaos.stop_chaos.set()
        chaos.processes.stop_all()
        if not options.keep and passed:
            shutil.rmtree(chaos.work, ignore_errors=True)
        elif not passed:
            log(f"logs kept in {chaos.work}")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
