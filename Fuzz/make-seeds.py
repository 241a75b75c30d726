#!/usr/bin/env python3
"""Writes the seed corpora under Fuzz/Corpus/<target>/ from the cases the unit tests use
(Tests/FerryWireTests/TrackerRequestTests.swift, FileRequestTests, TrackerReplyLineTests,
LookupResultTests, Tests/FerryTrackerTests/TrackerConversationTests.swift). The UDP seeds come from
the fuzzer itself: FERRY_FUZZ_SEEDS=Fuzz/Corpus/FuzzUDPServer .build/debug/FuzzUDPServer.

Each text seed is one control byte (how the stream is split into reads) and the stream."""
import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))
HEX = hashlib.sha256(b"a").hexdigest()
HEX_B = hashlib.sha256(b"b").hexdigest()


def write(target, name, control, text):
    folder = os.path.join(HERE, "Corpus", target)
    os.makedirs(folder, exist_ok=True)
    data = bytes([control]) + (text.encode() if isinstance(text, str) else text)
    with open(os.path.join(folder, name), "wb") as file:
        file.write(data)


requests = {
    "hello": "HELLO 5555 5555\n",
    "hello-tcp-only": "hello 5555\r\n",
    "update": f"HELLO 5555 0\nUPDATE 2\nFILE 12 {HEX} a.txt\nFILE 0 {HEX_B} \"a, b.txt\"\n",
    "update-bad-file": f"HELLO 1 2\nUPDATE 3\nFILE 1 {HEX} bad/name\nFILE 1 nothex x\nFILE 9223372036854775808 {HEX} a\n",
    "update-aborted": f"HELLO 1 2\nUPDATE 3\nFILE 1 {HEX} a\nPING\nFILE 1 {HEX} b\nFILE 1 {HEX} c\n",
    "add-remove": f"HELLO 1 2\nADD 12 {HEX} \"say \\\"hi\\\", ok\"\nADD 1 {HEX} 日本語 🚀\nREMOVE \"say \\\"hi\\\", ok\"\nREMOVE nothing\n",
    "send": "SEND a.txt, \"a, b.txt\", bad/name, .., missing\n",
    "list": "LIST\nLIST *.txt\nLIST a?\nLIST \"%_\\\\\"\n",
    "misc": "PING\nHELP\nBOGUS x\n\nQUIT\nPING\n",
    "bad-lines": b"PING\x00\nSEND \xff\xfe\n" + b"LIST " + b"x" * 5000 + b"\nPING\n",
    "quoting": "SEND \"a\\\\b\", \"unterminated\nFILE 1 " + HEX + " \"a\u0001\"\n",
    "partial": f"HELLO 1 2\nADD 12 {HEX} \"a\" {HEX_B} PARTIAL\nSEND a\nADD 12 {HEX} \"a\" {HEX_B}\n"
               f"ADD 12 {HEX} \"a\" {HEX_B} partial x\nADD 12 {HEX} \"b\" PARTIAL\nREMOVE a\n",
    "report": f"HELLO 5555 5555\nADD 3 {HEX} a\nREPORT 127.0.0.1 5555 OK 3 10\nreport ::1 1 failed\n"
              f"REPORT 127.0.0.1 5555 FAILED x\nREPORT a/b 0 OK\nREPORT 127.0.0.1 5555 OK 18446744073709551615 1\nSEND a\n",
}
for control, (name, text) in enumerate(requests.items()):
    write("FuzzTrackerRequest", name, control * 7 % 128, text)
    write("FuzzTrackerRequest", name + "-small-limit", 0x80 | control, text)
    write("FuzzTrackerConversation", name, control * 7, text)
# Two connections from one address (0x01 switches): HELLO on both, one shares, the other looks up.
write("FuzzTrackerConversation", "two-connections", 0,
      f"HELLO 5555 5555\nADD 3 {HEX} a\n\x01HELLO 5555 5555\nSEND a\nLIST\n\x01SEND a\nREMOVE a\n\x01QUIT\n")
write("FuzzTrackerConversation", "two-peers", 3,
      f"HELLO 5555 5555\nUPDATE 1\nFILE 3 {HEX} a\n\x01HELLO 6666 0\nADD 4 {HEX_B} a\nSEND a, b\nLIST a\n")

files = {
    "whole": "GET 0 * \"a.txt\"\n",
    "resume": "GET 1048576 * a.txt\r\n",
    "range": "GET 10 20 \"a, b.txt\"\n",
    "bad": "GET 20 10 a\nGET -1 * a\nGET 0 * ../etc/passwd\nPUT x\nGET 0 * \"a\n",
    "replies": f"200 12 {HEX} 0 12\n404 not found: \"a\"\n503 busy\n200 5 {HEX} 6 0\nxyz\n",
    "long": "GET 0 * " + "x" * 1100 + "\n",
    "have": f"HAVE {HEX} \"a.txt\"\nhave {HEX} a b\nHAVE x a\nHAVE {HEX}\n"
            f"200 3145728 {HEX} 262144 2\n200 3145728 {HEX} 262144 3\n416 range from 0 to 262144 is not all verified here yet; ask HAVE\n",
}
for control, (name, text) in enumerate(files.items()):
    write("FuzzFileRequest", name, control * 11, text)

replies = {
    "send": f"210-FILE \"a.txt\" 12 {HEX} 2\n211-PEER 127.0.0.2 5555 5555\n211-PEER ::1 5556 0\n"
            f"404-NOTFOUND \"b\"\n403-BADNAME \"..\" a name cannot be . or ..\n200 SEND 3\n",
    "send-groups": f"210-FILE \"a\" 1 {HEX} 1\n211-PEER 10.0.0.1 1 2\n210-FILE \"a\" 2 {HEX_B} 1\n"
                   f"211-PEER 10.0.0.2 3 4\n200 SEND 1\n",
    "list": f"212-\"a.txt\" 12 {HEX} 2\n212-\"b \\\"c\\\"\" 0 {HEX_B} 1\n200 LIST 2 more\n",
    "hello": "200 HELLO 127.0.0.1 9\n200 PONG\n",
    "errors": "400 line is not valid UTF-8\n421 too many connections\n500 internal error\n",
    "help": "214-HELLO <tcp-port> <udp-port>\n214-PING\n200 HELP\n",
    "bad": f"211-PEER 127.0.0.2 5555 5555\n200 SEND 0\n210-FILE a 1 {HEX} 1\n200 x\n12 short\n",
    "send-partial": f"210-FILE \"a\" 1 {HEX} 2 {HEX_B}\n211-PEER 10.0.0.1 1 2\n211-PEER 10.0.0.2 1 2 PARTIAL\n"
                    f"211-PEER 10.0.0.3 1 2 LATER\n200 SEND 1\n",
}
for control, (name, text) in enumerate(replies.items()):
    write("FuzzTrackerReply", name, control * 13, text)
