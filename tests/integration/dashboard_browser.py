"""Loads every page of the web dashboard in headless Debian chromium (driven
by chromedriver through python3-selenium) from a running `xcensus serve`.

usage: dashboard_browser.py BASE_URL MODE SHOT_DIR
  BASE_URL  e.g. http://127.0.0.1:PORT/ (must be loopback)
  MODE      data:  the known dataset (tests/integration/api_fixture.sh):
                   every panel settles "ok", every chart is drawn with data
                   points and non-blank pixels, a table is beside it; keyboard
                   navigation and the forms work; an API error is shown
            empty: a migrated, empty database: panels say "no data" visibly,
                   none is blank, none is an error
  SHOT_DIR  where the screenshots (PAGE.png) go

Always: no console error, no failed request, and no request leaves the
server's own origin (everything is served locally: the charting library is
vendored; chromium is also given a dead proxy and a resolver that resolves
nothing, so that nothing could leave even if a page tried).
Exit 0 all passed, 1 a check failed, 77 chromium/selenium missing.
"""
import json
import os
import sys
import time
import urllib.parse

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    print("SKIP: python3-selenium not installed")
    sys.exit(77)

BASE, MODE, SHOTS = sys.argv[1], sys.argv[2], sys.argv[3]
ORIGIN = BASE.rstrip("/")
host = urllib.parse.urlsplit(BASE).hostname
assert host == "127.0.0.1", f"{BASE} is not loopback"
WIDTH = 1366
NARROW = 390  # a phone
# bound for one page to settle (a bound on a hung page, not a measurement)
SETTLE_S = 90

failures = []


def fail(msg):
    failures.append(msg)
    print(f"FAIL: {msg}", file=sys.stderr)


def make_driver(logdir):
    os.makedirs(logdir, exist_ok=True)
    chromium = "/usr/bin/chromium"
    driver_bin = "/usr/bin/chromedriver"
    for p in (chromium, driver_bin):
        if not os.access(p, os.X_OK):
            print(f"SKIP: {p} not installed (Debian chromium, chromium-driver)")
            sys.exit(77)
    o = webdriver.ChromeOptions()
    o.binary_location = chromium
    for a in [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        f"--window-size={WIDTH},900", "--hide-scrollbars", "--force-device-scale-factor=1",
        f"--user-data-dir={logdir}/chromium-profile",
        # nothing may leave loopback: no name resolves, any proxied request dies
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--no-first-run",
        "--disable-domain-reliability", "--disable-client-side-phishing-detection",
        "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
        "--lang=en-US",
    ]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = Service(driver_bin, log_output=os.path.join(logdir, "chromedriver.log")) \
        if "log_output" in Service.__init__.__code__.co_varnames \
        else Service(driver_bin, log_path=os.path.join(logdir, "chromedriver.log"))
    return webdriver.Chrome(service=service, options=o)


def drain_logs(d, what, allowed_status=()):
    """Checks console messages and network events since the last call."""
    for e in d.get_log("browser"):
        msg = e.get("message", "")
        if e.get("level") == "SEVERE":
            if any(f"status of {s}" in msg for s in allowed_status):
                continue
            fail(f"{what}: console error: {msg}")
    requests = {}
    for e in d.get_log("performance"):
        m = json.loads(e["message"])["message"]
        meth, p = m.get("method"), m.get("params", {})
        if meth == "Network.requestWillBeSent":
            url = p["request"]["url"]
            requests[p["requestId"]] = url
            scheme = url.split(":", 1)[0]
            # data: and the browser's own chrome:// pages never touch a network
            if not (url.startswith(ORIGIN + "/") or scheme in ("data", "blob", "chrome", "about")):
                fail(f"{what}: request leaves the server: {url}")
        elif meth == "Network.responseReceived":
            st = p["response"]["status"]
            if st >= 400 and st not in allowed_status:
                fail(f"{what}: HTTP {st} for {p['response']['url']}")
        elif meth == "Network.loadingFailed":
            if p.get("canceled"):
                continue
            fail(f"{what}: request failed ({p.get('errorText')}): {requests.get(p['requestId'], '?')}")
    return requests


def settle(d, what):
    try:
        WebDriverWait(d, SETTLE_S).until(
            lambda d: d.execute_script("return document.body.dataset.ready") == "true")
        return True
    except TimeoutException:
        fail(f"{what}: the page did not settle within {SETTLE_S} s")
        return False


# Per panel: state, status text, charts (points, rendered, canvas size and
# non-transparent pixels) and table rows.
STATE_JS = """
return [...document.querySelectorAll('[data-panel]')].map((p) => {
  const st = p.querySelector('.status') || p.previousElementSibling;
  const figs = [...p.querySelectorAll('figure[data-chart]')].map((f) => {
    const c = f.querySelector('canvas');
    let ink = 0;
    if (c && c.width && c.height) {
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) ink++;
    }
    return {points: Number(f.dataset.points || 0), rendered: f.dataset.rendered === 'true',
            canvas: !!c, w: c ? c.clientWidth : 0, h: c ? c.clientHeight : 0, ink,
            label: c ? c.getAttribute('aria-label') || '' : ''};
  });
  const h = p.querySelector('h2');
  return {id: p.id, title: h ? h.textContent : p.getAttribute('aria-label') || p.id,
          state: p.dataset.state, status: st && st.classList.contains('status') ? st.textContent : '',
          statusVisible: !!(st && st.offsetParent !== null && st.textContent.trim()),
          figs, rows: p.querySelectorAll('tbody tr').length,
          cards: p.querySelectorAll('dd').length};
});
"""


def screenshot(d, name):
    h = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(WIDTH, min(max(900, h + 40), 12000))
    d.execute_script("window.scrollTo(0, 0)")
    path = os.path.join(SHOTS, f"{name}.png")
    if not d.save_screenshot(path):
        fail(f"{name}: screenshot not saved")
    d.set_window_size(WIDTH, 900)
    print(f"screenshot: {path}")


def check_data_page(d, name, path, min_charts):
    d.get(ORIGIN + "/" + path)
    if not settle(d, name):
        drain_logs(d, name)
        return
    panels = d.execute_script(STATE_JS)
    charts = 0
    for p in panels:
        where = f"{name}: panel {p['title']!r}"
        if p["state"] != "ok":
            fail(f"{where}: state {p['state']} ({p['status']})")
            continue
        if not p["figs"] and not p["rows"] and not p["cards"]:
            fail(f"{where}: shows neither a chart, a table nor figures")
        for f in p["figs"]:
            charts += 1
            if not (f["canvas"] and f["rendered"] and f["points"] > 0 and f["w"] > 0 and f["h"] > 0 and f["ink"] > 0):
                fail(f"{where}: chart not drawn with data: {f}")
            if not f["label"]:
                fail(f"{where}: chart canvas has no accessible name")
            if p["rows"] == 0:
                fail(f"{where}: a chart without a table beside it")
        print(f"ok: {where}: {len(p['figs'])} chart(s) "
              f"{[f['points'] for f in p['figs']]} points, {p['rows']} table rows")
    if charts < min_charts:
        fail(f"{name}: {charts} charts drawn, expected at least {min_charts}")
    if not d.find_elements(By.CSS_SELECTOR, 'nav a[aria-current="page"]'):
        fail(f"{name}: no navigation link marks the current page")
    drain_logs(d, name)
    screenshot(d, name)
    check_narrow(d, name)


def check_narrow(d, name):
    """On a phone-sized window the page reflows: nothing wider than it."""
    d.set_window_size(NARROW, 900)
    try:
        WebDriverWait(d, 15).until(lambda d: d.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"))
        print(f"ok: {name}: reflows to {NARROW} px")
    except TimeoutException:
        w = d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        fail(f"{name}: at {NARROW} px the page is {w[0]} px wide (window {w[1]})")
    d.set_window_size(WIDTH, 900)


def check_empty_page(d, name, path):
    d.get(ORIGIN + "/" + path)
    if not settle(d, name):
        drain_logs(d, name)
        return
    panels = d.execute_script(STATE_JS)
    empties = 0
    for p in panels:
        where = f"{name} (empty database): panel {p['title']!r}"
        if p["state"] == "empty":
            empties += 1
            if not p["statusVisible"] or "No data" not in p["status"]:
                fail(f"{where}: empty without a visible explanation ({p['status']!r})")
            if p["figs"]:
                fail(f"{where}: an empty panel still holds a chart")
        elif p["state"] == "ok":
            # a query that answers zeros on an empty database (e.g. overview)
            for f in p["figs"]:
                if f["points"] == 0 or f["ink"] == 0:
                    fail(f"{where}: a blank chart")
        else:
            fail(f"{where}: state {p['state']} ({p['status']})")
    if empties == 0:
        fail(f"{name} (empty database): no panel says that there is no data")
    print(f"ok: {name} (empty database): {empties} of {len(panels)} panels say so")
    drain_logs(d, name + " (empty)")
    screenshot(d, name + "-empty")


def check_keyboard(d):
    """Skip link first, then every page of the navigation, by Tab alone."""
    d.get(ORIGIN + "/index.html")
    settle(d, "keyboard")
    body = d.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    first = d.switch_to.active_element
    if "skip" not in (first.get_attribute("class") or ""):
        fail(f"keyboard: the first Tab stop is not the skip link ({first.tag_name})")
    seen = []
    for _ in range(12):
        d.switch_to.active_element.send_keys(Keys.TAB)
        href = d.switch_to.active_element.get_attribute("href") or ""
        seen.append(href.rsplit("/", 1)[-1])
    want = ["index.html", "software.html", "features.html", "xep0232.html", "crawl.html", "domain.html"]
    missing = [w for w in want if w not in seen]
    if missing:
        fail(f"keyboard: Tab never reached {missing} (reached {seen})")
    else:
        print("ok: keyboard: skip link, then every page of the navigation")
    # the skip link moves focus to the content
    d.get(ORIGIN + "/index.html")
    settle(d, "keyboard")
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    d.switch_to.active_element.send_keys(Keys.ENTER)
    if d.switch_to.active_element.get_attribute("id") != "main":
        fail("keyboard: the skip link does not move focus to the content")
    drain_logs(d, "keyboard")


def check_domain_flow(d):
    """The domain list links to a diagnosis; the lookup form works by keyboard."""
    d.get(ORIGIN + "/domain.html")
    if not settle(d, "domains"):
        return
    links = d.find_elements(By.CSS_SELECTOR, 'a[href^="domain.html?domain="]')
    if not links:
        fail("domain: the domain list links to no diagnosis")
        return
    target = links[0].text
    drain_logs(d, "domains")
    screenshot(d, "domains")
    links[0].send_keys(Keys.ENTER)
    WebDriverWait(d, SETTLE_S).until(lambda d: "domain=" in d.current_url)
    check_data_page(d, "domain", "domain.html?domain=" + urllib.parse.quote(target), 1)
    # the lookup form, typed and submitted with Enter
    d.get(ORIGIN + "/domain.html")
    settle(d, "domain form")
    box = d.find_element(By.ID, "domain")
    box.send_keys(target)
    box.send_keys(Keys.ENTER)
    try:
        WebDriverWait(d, SETTLE_S).until(
            lambda d: "domain=" + urllib.parse.quote(target) in d.current_url)
        settle(d, "domain form")
        states = [p["state"] for p in d.execute_script(STATE_JS)]
        if any(s != "ok" for s in states):
            fail(f"domain form: panels {states} after submitting {target}")
        else:
            print(f"ok: domain form: Enter in the lookup shows {target}")
    except TimeoutException:
        fail("domain form: Enter did not open the diagnosis")
    drain_logs(d, "domain form")


def check_features_form(d):
    """The namespace search, typed and submitted with Enter."""
    d.get(ORIGIN + "/features.html")
    settle(d, "features form")
    box = d.find_element(By.ID, "q")
    box.send_keys("urn:xmpp:mam")
    box.send_keys(Keys.ENTER)
    try:
        WebDriverWait(d, SETTLE_S).until(lambda d: "q=urn%3Axmpp%3Amam" in d.current_url)
        settle(d, "features form")
        panels = d.execute_script(STATE_JS)
        bad = [(p["title"], p["state"]) for p in panels if p["state"] != "ok"]
        if bad or not any("urn:xmpp:mam" in p["title"] for p in panels):
            fail(f"features form: after the search, panels {[(p['title'], p['state']) for p in panels]}")
        else:
            print("ok: features form: Enter in the search shows urn:xmpp:mam")
    except TimeoutException:
        fail("features form: Enter did not run the search")
    drain_logs(d, "features form")


def check_api_error(d):
    """A request the API refuses (400) is shown in its panel, not swallowed."""
    long = "x" * 1100  # longer than APICAT_ARG_MAX
    d.get(ORIGIN + "/domain.html?domain=" + long)
    if not settle(d, "api error"):
        return
    panels = d.execute_script(STATE_JS)
    for p in panels:
        if p["state"] not in ("ok", "empty", "error"):
            fail(f"api error: panel {p['title']!r} never settled (state {p['state']})")
    errs = [p for p in panels if p["state"] == "error"]
    if not errs:
        fail(f"api error: no panel shows the 400 ({[p['state'] for p in panels]})")
    for p in errs:
        if not p["statusVisible"] or "400" not in p["status"]:
            fail(f"api error: panel {p['title']!r} does not show the HTTP status ({p['status']!r})")
    if errs:
        print(f"ok: api error: {len(errs)} panel(s) show {errs[0]['status']!r}")
    drain_logs(d, "api error", allowed_status=(400,))
    screenshot(d, "api-error")


os.makedirs(SHOTS, exist_ok=True)
driver = make_driver(SHOTS.rstrip("/") + ".browser")
# what the browser did while starting (its own new-tab page) is not ours
driver.get("about:blank")
driver.get_log("performance")
driver.get_log("browser")
try:
    if MODE == "data":
        check_data_page(driver, "overview", "index.html", 3)
        check_data_page(driver, "software", "software.html", 4)
        check_data_page(driver, "features", "features.html", 3)
        check_data_page(driver, "features-mam",
                        "features.html?q=urn%3Axmpp%3Amam&old=urn%3Axmpp%3Amam%3A1&new=urn%3Axmpp%3Amam%3A2", 4)
        check_data_page(driver, "xep0232", "xep0232.html", 5)
        check_data_page(driver, "crawl", "crawl.html", 2)
        check_domain_flow(driver)
        check_keyboard(driver)
        check_features_form(driver)
        check_api_error(driver)
    elif MODE == "empty":
        for name, path in [("overview", "index.html"), ("software", "software.html"),
                           ("features", "features.html"), ("xep0232", "xep0232.html"),
                           ("crawl", "crawl.html"), ("domain", "domain.html?domain=nowhere.example")]:
            check_empty_page(driver, name, path)
    else:
        print(f"unknown mode {MODE}", file=sys.stderr)
        sys.exit(2)
finally:
    driver.quit()

if failures:
    print(f"dashboard_browser ({MODE}): {len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print(f"dashboard_browser ({MODE}): all pages passed")
