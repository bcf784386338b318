#!/usr/bin/env python3
"""The web console in a real browser: Debian's chromium and chromium-driver through
selenium, against a test server on loopback (tests/it/console.rs starts it and passes its
address, a key, the admin token, the screenshot folder and the coordinates of 81.2.69.165).

Checks: sign-in, the address page's marker position against the coordinates, a reverse
DNS task run to completion, a 1,000-term bulk file uploaded and followed to 100 %, the
operator creating and revoking a key, a cross-site POST refused, the page at phone width,
by keyboard and in dark mode, the address page with JavaScript off, no errors in the
browser's console, and what a first visit transfers. Screenshots of each page go to the
folder. Prints "all browser checks passed" when everything held.
"""

import http.server
import json
import os
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

# Selenium must never try to download a driver: the machine's own are named below.
os.environ["SE_OFFLINE"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

BASE, KEY, ADMIN, SHOTS, LAT, LON = sys.argv[1:7]
LAT, LON = float(LAT), float(LON)
HOST = BASE.split("://", 1)[1]
drivers = []


def new_driver(javascript=True, width=1280, height=1000):
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="ipintel-chromium-")
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    drivers.append(driver)
    return driver


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def wait(driver, condition, what, seconds=20):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: condition(d))
    except Exception as e:
        raise AssertionError(f"timed out waiting for {what} on {driver.current_url}: {e}")


def errors(driver):
    """The browser console's errors since the last call."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def sign_in(driver, secret):
    driver.get(BASE + "/ui/login")
    field = driver.find_element(By.ID, "secret")
    field.send_keys(secret)
    field.send_keys(Keys.ENTER)
    wait(driver, lambda d: d.current_url.rstrip("/").endswith("/ui"), "the start page after sign-in")


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def marker_position(driver):
    return driver.execute_script(
        """const m = document.getElementById('marker').getBoundingClientRect();
           const s = document.querySelector('#map image').getBoundingClientRect();
           return [(m.x + m.width / 2 - s.x) / s.width * 360, (m.y + m.height / 2 - s.y) / s.height * 180];"""
    )


def address_page(driver):
    driver.get(BASE + "/ui/ip/81.2.69.165")
    wait(driver, lambda d: d.find_elements(By.ID, "marker"), "the map marker")
    x, y = marker_position(driver)
    check(abs(x - (LON + 180)) < 0.5 and abs(y - (90 - LAT)) < 0.5,
          f"marker at {x:.2f},{y:.2f}, expected {LON + 180:.2f},{90 - LAT:.2f}")
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    check(any("world.svg" in n for n in loaded), f"the world outline was not loaded: {loaded}")
    check(all(n.startswith(BASE) for n in loaded), f"something came from elsewhere: {loaded}")


def main():
    os.makedirs(SHOTS, exist_ok=True)
    driver = new_driver()

    # First visit: what a fresh browser transfers for sign-in and one address page.
    sign_in(driver, KEY)
    address_page(driver)
    transferred = driver.execute_script(
        """const nav = performance.getEntriesByType('navigation')[0];
           return nav.transferSize + performance.getEntriesByType('resource')
             .reduce((sum, e) => sum + e.transferSize, 0);""")
    print(f"first visit to an address page: {transferred} bytes transferred")
    check(transferred <= 300 * 1024, f"{transferred} bytes on a first visit")
    # The script ran: copy buttons are shown.
    check(driver.find_element(By.CSS_SELECTOR, "button[data-copy]").is_displayed(),
          "copy buttons stay hidden")
    shot(driver, "address")
    # By keyboard: the first Tab reaches the skip link.
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    active = driver.execute_script("return document.activeElement.className")
    check(active == "skip", f"the first Tab reaches {active!r}")
    # Dark mode follows the system's.
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    background = driver.execute_script(
        "return getComputedStyle(document.body).backgroundColor")
    check(background == "rgb(15, 23, 32)", f"dark mode background {background}")
    shot(driver, "address-dark")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    # Phone width: nothing scrolls sideways, and the marker still sits right.
    driver.set_window_size(390, 844)
    driver.get(BASE + "/ui/ip/81.2.69.165")
    wide = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    check(wide <= 0, f"the page scrolls sideways by {wide}px at phone width")
    address_page(driver)
    shot(driver, "address-phone")
    driver.set_window_size(1280, 1000)

    # Reverse DNS through the task API, its status shown until done.
    driver.get(BASE + "/ui/ip/81.2.69.165")
    driver.find_element(By.ID, "run-dns").click()
    wait(driver, lambda d: "/ui/task/" in d.current_url, "the task page")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#task-status[data-status=COMPLETED]"),
         "the task to complete")
    check("host.console.test" in driver.page_source, "the PTR name is not shown")
    shot(driver, "task")

    # A 1,000-term file through the file picker; progress followed to 100 %.
    terms = [f"81.2.{i // 250}.{i % 250}" for i in range(990)] + [f"bad term {i}" for i in range(10)]
    upload = os.path.join(tempfile.mkdtemp(), "terms.txt")
    with open(upload, "w") as f:
        f.write("\n".join(t.replace(" ", "_") for t in terms) + "\n")
    driver.get(BASE + "/ui/bulk")
    wait(driver, lambda d: d.find_element(By.ID, "drop").is_displayed(), "the file drop area")
    driver.find_element(By.ID, "file").send_keys(upload)
    wait(driver, lambda d: len(d.find_element(By.ID, "terms").get_property("value").split()) == 1000,
         "the file in the form")
    driver.find_element(By.ID, "bulk-submit").click()
    wait(driver, lambda d: d.find_elements(By.ID, "progress"), "the progress bar")
    seen = set()

    def finished(d):
        bar = d.find_element(By.ID, "progress")
        seen.add(d.find_element(By.ID, "percent").text)
        return (d.find_element(By.ID, "state").text == "ready"
                and bar.get_attribute("value") == bar.get_attribute("max"))

    wait(driver, finished, "the bulk request to finish", seconds=60)
    check(driver.find_element(By.ID, "percent").text == "100 %", f"progress shown: {seen}")
    check(driver.find_element(By.ID, "invalid").text == "10", "invalid count")
    check(driver.find_element(By.ID, "downloads").is_displayed(), "downloads stay hidden")
    shot(driver, "bulk")

    driver.get(BASE + "/ui/account")
    bars = driver.find_elements(By.CSS_SELECTOR, "#usage-chart rect.bar")
    check(len(bars) == 30, f"{len(bars)} bars")
    shot(driver, "account")
    driver.get(BASE + "/ui/as/AS64496")
    check("81.2.69.160/27" in driver.find_element(By.ID, "routes-v4").text, "the AS's routes")
    shot(driver, "as")
    driver.get(BASE + "/ui/set/AS-CONSOLE")
    check(driver.find_elements(By.CSS_SELECTOR, "#tree li.cycle"), "the cycle is not shown")
    shot(driver, "set")
    found = errors(driver)
    check(not found, f"browser console errors: {found}")

    # A form posted from another site (another origin on loopback) is refused.
    csrf_page = BASE + "/ui/ip/81.2.69.165"
    driver.get(csrf_page)
    token = driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    evil = f"""<!doctype html><html><body onload="document.forms[0].submit()">
      <form method="post" action="{BASE}/ui/task"><input name="kind" value="whois">
      <input name="target" value="81.2.69.165"><input name="csrf" value="{token}"></form></body></html>"""

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = evil.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    other = http.server.HTTPServer(("127.0.0.2", 0), Evil)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    driver.get(f"http://127.0.0.2:{other.server_address[1]}/")
    wait(driver, lambda d: d.current_url.startswith(BASE), "the cross-site post")
    check("posted from another site" in driver.page_source,
          f"a cross-site POST was not refused: {driver.page_source[:500]}")
    other.shutdown()
    driver.get(BASE + "/ui/account")
    whois_jobs = [r for r in driver.find_elements(By.CSS_SELECTOR, "#jobs tr") if "whois" in r.text]
    check(not whois_jobs, "the cross-site form made a job")
    errors(driver)  # the refusal's 403 is logged by the browser; that one is expected

    # The operator: create a key, see it work, revoke it, see it refused.
    driver.find_element(By.CSS_SELECTOR, "form[action='/ui/logout'] button").click()
    wait(driver, lambda d: d.current_url.endswith("/ui/login"), "the sign-in page")
    sign_in(driver, ADMIN)
    driver.get(BASE + "/ui/admin")
    form = driver.find_element(By.ID, "create-account")
    Select(form.find_element(By.NAME, "plan")).select_by_visible_text("lite")
    form.find_element(By.NAME, "credits").send_keys("10")
    form.find_element(By.NAME, "label").send_keys("made in the browser")
    driver.find_element(By.ID, "create").click()
    wait(driver, lambda d: d.find_elements(By.ID, "new-key"), "the new key")
    key = driver.find_element(By.ID, "new-key").text.strip()
    check(key.startswith("ipk_"), f"new key {key!r}")

    def lookup(k):
        request = urllib.request.Request(BASE + "/v1/ip/81.2.69.165", headers={"X-API-Key": k})
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    check(lookup(key) == 200, "the new key does not answer")
    shot(driver, "operator")
    driver.find_element(By.CSS_SELECTOR, f"button[data-key='{key[:12]}']").click()
    wait(driver, lambda d: "revoked" in d.find_element(By.ID, "notice").text, "the revocation")
    deadline = time.time() + 2
    while lookup(key) != 401 and time.time() < deadline:
        time.sleep(0.05)
    check(lookup(key) == 401, "a revoked key still answers")
    found = errors(driver)
    check(not found, f"browser console errors: {found}")

    # JavaScript off: the address page still says everything and draws the marker.
    plain = new_driver(javascript=False)
    sign_in(plain, KEY)
    plain.get(BASE + "/ui/ip/81.2.69.165")
    check(plain.find_elements(By.ID, "marker"), "no marker without JavaScript")
    check("Console Test Networks" in plain.page_source, "registry rows without JavaScript")
    check(not plain.find_element(By.CSS_SELECTOR, "button[data-copy]").is_displayed(),
          "copy buttons shown without the script that works them")
    shot(plain, "address-nojs")
    found = errors(plain)
    check(not found, f"browser console errors without JavaScript: {found}")
    print("all browser checks passed")


if __name__ == "__main__":
    try:
        main()
    finally:
        for d in drivers:
            try:
                d.quit()
            except Exception:
                pass
