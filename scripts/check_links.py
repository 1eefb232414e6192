"""Check every internal link of the built book; list the external ones without fetching them.

    python scripts/check_links.py _build/html [--external-list FILE]

An internal link is any relative ``href``/``src`` of an ``<a>``, ``<img>``, ``<link>``,
``<script>`` or ``<iframe>`` in a page: it must name a file of the site (a folder means its
``index.html``), and a ``#fragment`` on an HTML target must name an element id (or anchor
name) on that page. A broken one fails (exit status 1), listed per page. External links
(``http(s)://``, ``mailto:``) are written, with the pages that use them, to FILE (default:
``HTML_DIR/../external-links.txt``); nothing is fetched, the build stays offline.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

SKIP_DIRS = {"_static", "_sources", "_images", "_screenshots", ".doctrees", "_downloads"}
LINK_ATTRS = {"a": "href", "link": "href", "img": "src", "script": "src", "iframe": "src"}


class _Page(HTMLParser):
    """The links and the element ids of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        target = attrs.get(LINK_ATTRS.get(tag, ""))
        if target:
            self.links.append(target)


def _parse(path: Path, cache: dict) -> _Page:
    if path not in cache:
        page = _Page()
        page.feed(path.read_text(errors="replace"))
        cache[path] = page
    return cache[path]


def check_links(root: Path) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """``(broken, external)``: broken internal links per page, and the pages using each
    external link, for the site under ``root``."""
    root = root.resolve()
    pages = [p for p in sorted(root.rglob("*.html")) if not SKIP_DIRS & set(p.relative_to(root).parts)]
    cache: dict[Path, _Page] = {}
    broken: dict[str, list[str]] = defaultdict(list)
    external: dict[str, set[str]] = defaultdict(set)
    for page in pages:
        name = page.relative_to(root).as_posix()
        for link in _parse(page, cache).links:
            parts = urlsplit(link)
            if parts.scheme in ("http", "https", "mailto", "ftp") or link.startswith("//"):
                external[link].add(name)
                continue
            if parts.scheme in ("data", "javascript", "blob", "about"):
                continue
            target = page if not parts.path else (
                root / unquote(parts.path).lstrip("/") if parts.path.startswith("/")
                else page.parent / unquote(parts.path))
            target = target.resolve()
            if target.is_dir():
                target = target / "index.html"
            if root not in target.parents and target != root:
                broken[name].append(f"{link} (outside the site)")
            elif not target.is_file():
                broken[name].append(f"{link} (no such file)")
            elif (parts.fragment and target.suffix == ".html"
                  and unquote(parts.fragment) not in _parse(target, cache).ids):
                broken[name].append(f"{link} (no element with id {parts.fragment!r})")
    return dict(broken), dict(external)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", type=Path, help="the built site, e.g. _build/html")
    parser.add_argument("--external-list", type=Path, default=None,
                        help="where to list external links (default: HTML_DIR/../external-links.txt)")
    args = parser.parse_args(argv)
    if not args.html_dir.is_dir():
        print(f"check_links: {args.html_dir} is not a directory", file=sys.stderr)
        return 2
    broken, external = check_links(args.html_dir)
    out = args.external_list or args.html_dir.resolve().parent / "external-links.txt"
    out.write_text("".join(f"{link}\t{', '.join(sorted(pages))}\n" for link, pages in sorted(external.items())))
    print(f"check_links: {len(external)} external link(s) listed (not fetched) in {out}")
    if broken:
        n = sum(len(v) for v in broken.values())
        print(f"check_links: FAILED, {n} broken internal link(s) on {len(broken)} page(s):")
        for page, links in sorted(broken.items()):
            print(f"  {page}")
            for link in links:
                print(f"    - {link}")
        return 1
    print("check_links: OK (every internal link and anchor resolves)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
