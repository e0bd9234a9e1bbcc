"""Real document text for the text-direction classifier: renders the pages of a PDF manual shipped in a Debian
package (libtasn1-doc: libtasn1.pdf) to PNG, at 150 dpi, into <work>/pages/. Idempotent.

    python3 scripts/evidence/render_pages.py [--work build/evidence] [--deb path/to/libtasn1-doc_*.deb]

Needs pypdfium2 (PyPI; evidence only, not a CI requirement) and apt-get download (or --deb).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import glob
import hashlib
import json
import os
import struct
import subprocess
import tempfile
import zlib

PACKAGE = "libtasn1-doc"
PDF = "usr/share/doc/libtasn1-doc/libtasn1.pdf"
DPI = 150


def write_png(path: str, rgb) -> None:
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    with open(path + ".tmp", "wb") as f:
        f.write(png)
    os.replace(path + ".tmp", path)


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=os.path.join(root, "build/evidence"))
    p.add_argument("--deb", default=None)
    args = p.parse_args()
    out = os.path.join(args.work, "pages")
    if os.path.exists(os.path.join(out, "SOURCE.json")):
        print(f"pages already rendered in {out}")
        return
    import pypdfium2  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="ev-pages-") as tmp:
        deb = args.deb
        if deb is None:
            subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True, capture_output=True)
            deb = glob.glob(os.path.join(tmp, f"{PACKAGE}_*.deb"))[0]
        subprocess.run(["dpkg-deb", "-x", deb, os.path.join(tmp, "root")], check=True)
        pdf = os.path.join(tmp, "root", PDF)
        sha256 = hashlib.sha256(open(pdf, "rb").read()).hexdigest()
        os.makedirs(out + ".partial", exist_ok=True)
        doc = pypdfium2.PdfDocument(pdf)
        for i in range(len(doc)):
            bitmap = doc[i].render(scale=DPI / 72, rev_byteorder=True)
            rgb = bitmap.to_numpy()[:, :, :3]
            write_png(os.path.join(out + ".partial", f"page-{i + 1:03d}.png"), rgb)
        source = {"package": os.path.basename(deb), "pdf": PDF, "sha256": sha256, "pages": len(doc), "dpi": DPI,
                  "renderer": "pypdfium2 " + importlib.metadata.version("pypdfium2")}
        with open(os.path.join(out + ".partial", "SOURCE.json"), "w") as f:
            json.dump(source, f, indent=1)
        os.replace(out + ".partial", out)
        print(f"rendered {len(doc)} pages of {PDF} ({os.path.basename(deb)}) into {out}")


if __name__ == "__main__":
    main()
