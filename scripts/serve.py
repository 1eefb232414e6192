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
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Static files of the site; a missing /favicon.ico (browsers ask for it by themselves, the
    book has none) answers 204 rather than a 404 that a browser logs as a console error."""

    quiet = False

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        if not self.quiet:
            super().log_message(format, *args)

    def do_GET(self):
        if self.path.split("?")[0] == "/favicon.ico" and not Path(self.directory, "favicon.ico").exists():
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()


class _QuietSiteHandler(SiteHandler):
    quiet = True


def start_server(root: Path, port: int = 0, *, quiet: bool = False,
                 background: bool = False) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A server of ``root`` on 127.0.0.1:``port`` (0: any free port) and its base URL; with
    ``background`` it already serves from a daemon thread."""
    handler = functools.partial(_QuietSiteHandler if quiet else SiteHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    if background:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


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
    server, url = start_server(args.dir, args.port)
    with server:
        print(f"serve: {url}/ (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
