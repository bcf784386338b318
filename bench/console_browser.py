#!/usr/bin/env python3
"""The console's address page as a browser sees it (bench/console.sh runs this against a
release server on loopback): a fresh headless chromium signs in with KEY, opens the
address page of each address in IPLIST (the first N), and reports from the browser's
performance timings what the first visit transferred (the page, stylesheet, script, icon
and world outline) and, over all visits, the time from request to first byte and to the
load event. Needs Debian's chromium and chromium-driver, and selenium from PyPI.

Usage: console_browser.py BASE KEY IPLIST N
"""

import os
import sys
import tempfile

os.environ["SE_OFFLINE"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

BASE, KEY, IPLIST, N = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ips = [line.strip() for line in open(IPLIST) if line.strip()][:N]

options = Options()
options.binary_location = "/usr/bin/chromium"
for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-dev-shm-usage", f"--user-data-dir={tempfile.mkdtemp(prefix='ipintel-bench-')}"]:
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    driver.set_page_load_timeout(30)
    driver.get(BASE + "/ui/login")
    field = driver.find_element(By.ID, "secret")
    field.send_keys(KEY)
    field.send_keys(Keys.ENTER)
    first_byte, loaded, transferred = [], [], None
    for i, ip in enumerate(ips):
        driver.get(f"{BASE}/ui/ip/{ip}")
        nav = driver.execute_script(
            """const n = performance.getEntriesByType('navigation')[0];
               const r = performance.getEntriesByType('resource');
               return [n.responseStart - n.requestStart, n.loadEventEnd - n.startTime,
                       n.transferSize + r.reduce((s, e) => s + e.transferSize, 0),
                       n.encodedBodySize, r.length];""")
        if i == 0:
            transferred = nav[2]
            print(f"first visit: {nav[2]} bytes transferred ({nav[3]} bytes of HTML, "
                  f"{nav[4]} resources)")
        first_byte.append(nav[0])
        loaded.append(nav[1])
    def pct(values, p):
        values = sorted(values)
        return values[min(len(values) - 1, int(len(values) * p))]
    print(f"{len(ips)} address pages: request to first byte p50 {pct(first_byte, 0.5):.2f} ms, "
          f"p99 {pct(first_byte, 0.99):.2f} ms; to the load event p50 {pct(loaded, 0.5):.1f} ms, "
          f"p99 {pct(loaded, 0.99):.1f} ms")
finally:
    driver.quit()
