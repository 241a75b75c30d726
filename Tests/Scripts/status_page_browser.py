#!/usr/bin/env python3
"""Drives headless chromium through the Chrome DevTools Protocol for BrowserStatusPageTests.

Usage: status_page_browser.py CHROMIUM URL

1. starts CHROMIUM --headless --remote-debugging-port=0 in a temporary profile and reads the
   DevTools WebSocket address from its stderr ("DevTools listening on ws://...");
2. opens URL in a new tab, marks the window (window.__ferryLoaded) and waits until the page has
   drawn a healthy status from /status.json; prints "READY" and flushes;
3. reads one line from stdin: a JSON list of texts; polls the page (Runtime.evaluate, at most 20 s)
   until every text is on it, then checks the page was not reloaded (the mark is still there), that
   no <img> exists and that no injected script ran (window.__pwned); prints "OK" or "FAIL <why>".

Standard library only. The whole run is bounded (SIGALRM at 90 s); chromium is stopped at the end.
"""
import base64
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse


def fail(message):
    print("FAIL " + message, flush=True)
    sys.exit(1)


class WebSocket:
    """A minimal RFC 6455 client: text frames out (masked), frames in, no extensions."""

    def __init__(self, url, timeout=30):
        parsed = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {parsed.path} HTTP/1.1\r\nHost: {parsed.hostname}:{parsed.port}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("DevTools closed during the handshake")
            head += chunk
        head, self.buffer = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise OSError("DevTools refused the WebSocket: " + head.decode(errors="replace"))

    def send(self, text):
        payload = text.encode()
        header = bytes([0x81])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("DevTools closed the WebSocket")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def receive(self):
        message = b""
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            if second & 0x80:
                mask = self._read(4)
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(length)))
            else:
                data = self._read(length)
            if opcode == 0x8:
                raise OSError("DevTools closed the WebSocket")
            if opcode in (0x9, 0xA):
                continue
            message += data
            if first & 0x80:
                return message.decode()


class DevTools:
    def __init__(self, url):
        self.ws = WebSocket(url)
        self.next_id = 0

    def call(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.receive())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise OSError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, session, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        if "exceptionDetails" in result:
            raise OSError("page script failed: " + json.dumps(result["exceptionDetails"])[:300])
        return result["result"].get("value")


def poll(check, seconds):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def main():
    if len(sys.argv) != 3:
        fail("usage: status_page_browser.py CHROMIUM URL")
    chromium, url = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGALRM, lambda *_: fail("timed out after 90 s"))
    signal.alarm(90)
    profile = tempfile.mkdtemp(prefix="ferry-chromium-")
    browser = subprocess.Popen(
        [chromium, "--headless", "--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-sandbox",
         "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        address, seen = None, b""
        deadline = time.monotonic() + 60
        while address is None and time.monotonic() < deadline:
            ready, _, _ = select.select([browser.stderr], [], [], 1)
            if ready:
                chunk = os.read(browser.stderr.fileno(), 65536)
                if not chunk:
                    break
                seen += chunk
                found = re.search(rb"DevTools listening on (ws://\S+)", seen)
                address = found.group(1).decode() if found else None
        if address is None:
            fail("chromium did not say where DevTools listens: " + seen.decode(errors="replace")[-500:])
        # Keep draining chromium's stderr so that it never blocks on a full pipe.
        subprocess.Popen(["cat"], stdin=browser.stderr, stdout=subprocess.DEVNULL)

        tools = DevTools(address)
        target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        tools.call("Page.enable", {}, session)
        tools.call("Page.navigate", {"url": url}, session)
        drawn = poll(lambda: tools.evaluate(session, "document.readyState === 'complete' && "
                                                     "document.getElementById('health') !== null && "
                                                     "document.getElementById('health').className === 'ok'"), 30)
        if not drawn:
            fail("the page never showed a healthy status: " + str(tools.evaluate(session, "document.body && document.body.innerText")))
        tools.evaluate(session, "window.__ferryLoaded = 'yes'")
        print("READY", flush=True)

        line = sys.stdin.readline()
        if not line:
            fail("no texts to look for on stdin")
        texts = json.loads(line)
        expression = "(() => { const t = document.body.innerText; return %s.every(x => t.includes(x)); })()" % json.dumps(texts)
        if not poll(lambda: tools.evaluate(session, expression), 20):
            fail("not on the page within 20 s: " + json.dumps(texts) + "; the page says: "
                 + str(tools.evaluate(session, "document.body.innerText"))[:2000])
        if tools.evaluate(session, "window.__ferryLoaded") != "yes":
            fail("the page was reloaded")
        if tools.evaluate(session, "document.images.length") != 0:
            fail("an <img> element was made from data")
        if tools.evaluate(session, "window.__pwned") is not None:
            fail("a script injected through a name ran")
        print("OK", flush=True)
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except OSError as error:
        fail(str(error))
