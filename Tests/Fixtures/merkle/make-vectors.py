#!/usr/bin/python3
"""Makes BitTorrent v2 (BEP 52) Merkle vectors with libtorrent, an implementation independent of Ferry.

Regenerate (Debian: apt-get install python3-libtorrent; the distribution's python3, not a pyenv one):

    /usr/bin/python3 Tests/Fixtures/merkle/make-vectors.py > Tests/Fixtures/merkle/vectors.json

For each case it writes a file of `size` bytes of deterministic content (byte i is
(i % 251) ^ ((i // 16384) % 256), so no two 16 KiB blocks are alike), makes a v2-only torrent of it
with an explicit piece length, and records the `pieces root` of the file tree and the file's entry in
`piece layers` (absent, so an empty list, for a file of one piece or less, as BEP 52 says).
"""
import json
import os
import sys
import tempfile

import libtorrent as lt

KIB = 1024
MIB = 1024 * KIB

# (size, piece length). Ferry's rule gives 256 KiB to every file up to 512 MiB; the larger piece
# lengths cover files of several pieces whose last piece is short, and a file of one piece or less
# whose tree is padded only to a power of two of its blocks, not to a whole piece.
CASES = [
    (1, 256 * KIB),
    (16383, 256 * KIB),
    (16384, 256 * KIB),
    (16385, 256 * KIB),
    (262143, 256 * KIB),
    (262144, 256 * KIB),
    (262145, 256 * KIB),
    (MIB + 1, 256 * KIB),
    (3460301, 256 * KIB),
    (3460301, 512 * KIB),
    (3460301, 2 * MIB),
    (MIB + 1, 4 * MIB),
    (5 * 256 * KIB, 256 * KIB),
]


def content(size):
    return bytes((i % 251) ^ ((i // 16384) % 256) for i in range(size))


def vector(folder, size, piece_length):
    path = os.path.join(folder, "data.bin")
    with open(path, "wb") as file:
        file.write(content(size))
    files = lt.file_storage()
    lt.add_files(files, path)
    torrent = lt.create_torrent(files, piece_length, flags=lt.create_torrent.v2_only)
    lt.set_piece_hashes(torrent, folder)
    generated = torrent.generate()
    info = generated[b"info"]
    assert info[b"piece length"] == piece_length
    entry = info[b"file tree"][b"data.bin"][b""]
    assert entry[b"length"] == size
    root = entry[b"pieces root"]
    layer = generated.get(b"piece layers", {}).get(root, b"")
    assert len(layer) % 32 == 0
    return {
        "size": size,
        "pieceLength": piece_length,
        "piecesRoot": root.hex(),
        "pieceLayer": [layer[i:i + 32].hex() for i in range(0, len(layer), 32)],
    }


def main():
    with tempfile.TemporaryDirectory() as folder:
        vectors = [vector(folder, size, piece) for size, piece in CASES]
    json.dump({
        "generator": "libtorrent " + lt.__version__ + " (Python bindings), create_torrent v2_only",
        "content": "byte i = (i % 251) ^ ((i // 16384) % 256)",
        "vectors": vectors,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
