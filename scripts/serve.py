"""Preview the built book over HTTP on this machine only (loopback).

    python scripts/serve.py [--port 8000] [--dir _build/html]

Serves the static site at http://127.0.0.1:PORT/ until interrupted; the site check can run
against it: ``python scripts/check_site.py _build/html --url http://127.0.0.1:PORT``.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (default 8000; 0 = any free)")
    parser.add_argument("--dir", type=Path, default=ROOT / "_build" / "html", help="the built site")
    args = parser.parse_args(argv)
    if not (args.dir / "index.html").is_file():
        print(f"serve: no built site in {args.dir} (run `make book` first)", file=sys.stderr)
        return 2
    if not 0 <= args.port < 65536:
        print(f"serve: --port must be in 0..65535, got {args.port}", file=sys.stderr)
        return 2
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(args.dir))
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        print(f"serve: http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
