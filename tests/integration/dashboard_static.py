"""Static checks of the web dashboard (dashboards/web), no browser needed.

usage: dashboard_static.py WEB_DIR

- every page: lang, title, viewport, one h1, a skip link to #main, the same
  navigation as every other page with itself marked aria-current="page";
- every src/href of a page is a file of WEB_DIR (or data:, #..., api/v1/...):
  nothing is loaded from another host;
- every JS module import resolves to a file of WEB_DIR, and no page script or
  stylesheet names an http(s) URL (the vendored library is checked by
  dashboards/update-vendor.sh --check instead).
Exit 0 when all pass, 1 else.
"""
import html.parser
import os
import re
import sys

web = sys.argv[1]
failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.nav, self.current, self.h1 = [], [], [], 0
        self.lang = self.title = self.viewport = self.skip = False
        self.in_nav = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = bool(a.get("lang"))
        if tag == "title":
            self.title = True
        if tag == "meta" and a.get("name") == "viewport":
            self.viewport = True
        if tag == "h1":
            self.h1 += 1
        if tag == "nav":
            self.in_nav = True
        if tag == "a" and "skip" in (a.get("class") or "") and a.get("href") == "#main":
            self.skip = True
        if tag == "a" and self.in_nav:
            self.nav.append(a.get("href"))
            if a.get("aria-current") == "page":
                self.current.append(a.get("href"))
        for k in ("src", "href"):
            if k in a:
                self.refs.append(a[k])

    def handle_endtag(self, tag):
        if tag == "nav":
            self.in_nav = False


def local_ok(ref, base_dir):
    if ref.startswith(("data:", "#", "api/v1/")):
        return True
    if re.match(r"^[a-z][a-z0-9+.-]*:", ref, re.I) or ref.startswith("//"):
        return False
    path = ref.split("#")[0].split("?")[0]
    return os.path.isfile(os.path.normpath(os.path.join(base_dir, path)))


pages = sorted(f for f in os.listdir(web) if f.endswith(".html"))
if "index.html" not in pages:
    fail("no index.html")
navs = {}
for f in pages:
    p = Page()
    with open(os.path.join(web, f), encoding="utf-8") as fh:
        p.feed(fh.read())
    for ok, what in [(p.lang, "html lang"), (p.title, "a title"), (p.viewport, "a viewport"),
                     (p.h1 == 1, "exactly one h1"), (p.skip, "a skip link to #main")]:
        if not ok:
            fail(f"{f}: lacks {what}")
    if p.current != [f]:
        fail(f"{f}: navigation marks {p.current} as the current page")
    navs[f] = p.nav
    for r in p.refs:
        if not local_ok(r, web):
            fail(f"{f}: {r} is not a file of the dashboard (nothing may come from elsewhere)")
ref_nav = navs.get("index.html", [])
for f, n in navs.items():
    if n != ref_nav:
        fail(f"{f}: navigation {n} differs from index.html's {ref_nav}")
    for target in n:
        if target not in pages:
            fail(f"{f}: navigation links to {target}, not a page")
if set(ref_nav) != set(pages):
    fail(f"pages {sorted(set(pages) - set(ref_nav))} are not in the navigation")

for root, _, files in os.walk(web):
    if os.path.relpath(root, web).startswith("vendor"):
        continue
    for f in files:
        path = os.path.join(root, f)
        if not f.endswith((".js", ".css")):
            continue
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        rel = os.path.relpath(path, web)
        if re.search(r"https?://", text):
            fail(f"{rel}: names an http(s) URL")
        if f.endswith(".js"):
            for spec in re.findall(r"^\s*import\s[^;]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'", text, re.M):
                s = spec[0] or spec[1]
                if not s.startswith("./") or not os.path.isfile(os.path.join(root, s)):
                    fail(f"{rel}: import {s!r} does not resolve to a dashboard file")
if failures:
    sys.exit(1)
print(f"dashboard_static: {len(pages)} pages ok")
