#!/usr/bin/python3
"""tests/lib/web-browser.py: drives mdir-web's pages in a headless Chromium
(Selenium), for t/8010.  Each step prints one line "STEP value" for the
shell test to check; a screenshot of each page goes to SHOTS.

    web-browser.py BASE USER PASSWORD SHOTS DOWNLOADS NEW_ACCOUNT BLACKLIST_IP
        FOLDER ENTRY

Every wait is bounded (WAIT seconds).
"""
import os
import sys
import time
import traceback
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

# generous: a loaded CI machine running the sanitizer build is slow
WAIT = 45
BEGAN = time.time()
base, user, password, shots, downloads, new_account, black_ip, folder, entry = sys.argv[1:10]


def say(step, value=""):
    print(step, value, flush=True)


def shot(d, name):
    d.save_screenshot(os.path.join(shots, name + ".png"))


def until(d, what):
    return WebDriverWait(d, WAIT).until(what)


def submit(d, form):
    """Submits @form and waits for the page it leads to (not the old one)."""
    old = d.find_element(By.TAG_NAME, "html")
    form.find_element(By.TAG_NAME, "button").click()
    until(d, EC.staleness_of(old))


def flash(d):
    """The page's status line after a form: ("ok" or "error", text)."""
    el = until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "p.ok, p.error"))[0]
    return el.get_attribute("class"), el.text


options = Options()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1280,1000", "--user-data-dir=" + os.path.join(shots, ".profile"),
          "--no-first-run", "--disable-extensions", "--lang=en-US"):
    options.add_argument(a)
options.add_experimental_option("prefs", {
    "download.default_directory": downloads,
    "download.prompt_for_download": False,
})
service = Service("/usr/bin/chromedriver", log_path=os.path.join(shots, "chromedriver.log"))
d = webdriver.Chrome(service=service, options=options)
d.set_page_load_timeout(WAIT)
try:
    d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})

    # no page without a login: to the login page
    d.get(base + "/accounts")
    until(d, lambda d: d.find_elements(By.NAME, "password"))
    say("redirected", urllib.parse.urlparse(d.current_url).path)
    shot(d, "login")
    d.find_element(By.NAME, "user").send_keys(user)
    d.find_element(By.NAME, "password").send_keys(password)
    d.find_element(By.ID, "login").click()
    until(d, lambda d: d.find_elements(By.ID, "logout"))
    say("logged-in", urllib.parse.urlparse(d.current_url).path)

    # Today's figures
    for f in ("received", "sent", "deferred", "failed", "spam", "greylisted", "rejected"):
        say("figure", f + "=" + d.find_element(By.ID, f).text)
    charts = d.find_elements(By.CSS_SELECTOR, "svg.chart")
    titles = d.find_elements(By.CSS_SELECTOR, "svg.chart rect.hover title")
    say("charts", "%d %d" % (len(charts), len(titles)))
    shot(d, "today")

    # an account, added with the page's form
    d.find_element(By.LINK_TEXT, "Accounts").click()
    until(d, lambda d: d.find_elements(By.ID, "form-add"))
    form = d.find_element(By.ID, "form-add")
    form.find_element(By.NAME, "address").send_keys(new_account)
    submit(d, form)
    say("account-add", "%s %s" % flash(d))
    # bad input: said, and nothing made
    form = d.find_element(By.ID, "form-add")
    form.find_element(By.NAME, "address").send_keys("someone@not-ours.test")
    submit(d, form)
    say("account-bad", "%s %s" % flash(d))
    rows = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#accounts td:first-child")]
    say("accounts", " ".join(rows))
    shot(d, "accounts")

    # an IP blacklisted
    d.find_element(By.LINK_TEXT, "Policy").click()
    form = until(d, lambda d: d.find_element(By.ID, "form-blacklist"))
    form.find_element(By.NAME, "a").send_keys(black_ip)
    submit(d, form)
    say("blacklist", "%s %s" % flash(d))
    shot(d, "policy")

    # the queue
    d.find_element(By.LINK_TEXT, "Queue").click()
    until(d, lambda d: d.find_elements(By.ID, "status"))
    say("queue", d.find_element(By.ID, "status").tag_name)
    shot(d, "queue")

    # a folder, an entry's record, its download
    d.find_element(By.LINK_TEXT, "Folders").click()
    until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "ul.folders"))
    d.get(base + "/folders?path=" + urllib.parse.quote(folder, safe=""))
    until(d, lambda d: d.find_elements(By.ID, "entries"))
    shot(d, "folder")
    d.find_element(By.LINK_TEXT, entry).click()
    until(d, lambda d: d.find_elements(By.ID, "record"))
    shot(d, "entry")
    d.find_element(By.ID, "download").click()
    end = time.time() + WAIT
    got = []
    while time.time() < end:
        got = [n for n in os.listdir(downloads) if not n.endswith(".crdownload")]
        if got:
            break
        time.sleep(0.1)
    say("downloaded", got[0] if got else "")

    # out, and no way back in without logging in again
    d.find_element(By.ID, "logout").click()
    until(d, lambda d: d.find_elements(By.NAME, "password"))
    d.get(base + "/")
    until(d, lambda d: d.find_elements(By.NAME, "password"))
    say("logged-out", urllib.parse.urlparse(d.current_url).path)
except Exception as e:
    # where the browser stopped and what it showed, a few lines for the test
    where = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == __file__][-1]
    print("stopped at line %d after %.1f s: %s" % (where.lineno, time.time() - BEGAN, where.line),
          file=sys.stderr)
    print("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""), file=sys.stderr)
    try:
        text = " ".join(d.find_element(By.TAG_NAME, "body").text.split())
        print("page %s: %s" % (d.current_url, text[:200]), file=sys.stderr)
        shot(d, "failed")
    except Exception as e2:
        print("and the page could not be read: %s" % type(e2).__name__, file=sys.stderr)
    sys.exit(1)
finally:
    d.quit()
