#!/usr/bin/env python3
"""The console in a real browser: a link worker signs in at the development identity provider,
opens the caseload and a referral, accepts it, in French and in English, on a tablet-sized
window; every page is checked with axe-core (no serious or critical violation).

It starts intake, matching, notification and evaluation from their built executables (each on a schema and
topic prefix of its own, on the PostgreSQL and broker of deploy/local/stack.sh env), the
development identity provider, and the console; the services verify the provider's RS256 tokens
against its published keys, roles read from `realm_access.roles` as Keycloak puts them.

    run.py --bin "$(swift build --show-bin-path)" [--artefacts test-artefacts/console-browser] [--readme-screenshot docs/console-caseload.png]

Needs Debian's chromium and chromium-driver, Selenium and axe-selenium-python
(deploy/local/install.sh). Exits 1 on the first failed check; screenshots and logs stay under
--artefacts.
"""

import argparse
import http.client
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET = "console-browser-tests-secret-0123456789-abcdef"
SERVICES = ["intake", "matching", "notification", "evaluation"]
LINK_WORKER = "amelie.roy"  # Amélie Roy, ottawa-west-chc, French first
SITE = "ottawa-west-chc"
REFERRER = "dr.tremblay"  # Dre Isabelle Tremblay, a referrer at the same site
COORDINATOR = "claire.dubois"  # Claire Dubois, the site's coordinator
# The urgent referral's screening answers, codes as the referrer's form names them.
SCREENING = {"isolement-1": "Souvent", "vit-seul·e": "Oui, depuis le décès de son mari", "langue": "français; un peu d'anglais"}
HOLD_REASON = "Hospitalised at the Civic until next week"
CLIENT_NAME, CLIENT_PHONE = "Amina Hassan", "613-555-0163"  # the urgent referral's client (the first demo referral's)
PAGE_SIZE = 25  # the caseload's page, ConsoleRoutes.caseloadPageSize
PAGING_EXTRA = 26  # routine referrals at her site, so that her new ones take two pages
# SWEMWBS's wording is licensed and not shipped: the console is given made-up placeholder items,
# clearly test text, as a network gives it the licensed ones (PASSERELLE_CONSOLE_SWEMWBS_ITEMS_FILE).
SWEMWBS_TEST_ITEMS = {
    "licence": "Texte de test — pas les énoncés sous licence (test text, not the licensed items)",
    "items": [{"fr": f"[TEST] Énoncé fictif n° {n}, texte de test", "en": f"[TEST] Placeholder statement {n}, test text"} for n in range(1, 8)],
}
FAILURES = []
INTAKE_SCHEMA = None  # the run's intake schema, where the day's walk moves a follow-up's clock


def check(condition, what):
    print(f"[browser] {'ok  ' if condition else 'FAIL'} {what}", file=sys.stderr, flush=True)
    if not condition:
        FAILURES.append(what)
    return condition


def free_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def database_credentials():
    url = urllib.parse.urlparse(os.environ.get("PASSERELLE_TEST_DB_URL", "postgresql://postgres:postgres@127.0.0.1:55432/passerelle"))
    return url.username or "postgres", url.password or "postgres"


def base_environment(port, schema, run_id, idp_url):
    user, password = database_credentials()
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LD_LIBRARY_PATH", "TZ")}
    env.update({
        "PASSERELLE_HTTP_HOST": "127.0.0.1",
        "PASSERELLE_HTTP_PORT": str(port),
        "PASSERELLE_DB_HOST": os.environ.get("PASSERELLE_DB_HOST", "127.0.0.1"),
        "PASSERELLE_DB_PORT": os.environ.get("PASSERELLE_DB_PORT", "55432"),
        "PASSERELLE_DB_NAME": os.environ.get("PASSERELLE_DB_NAME", "passerelle"),
        "PASSERELLE_DB_USER": user,
        "PASSERELLE_DB_PASSWORD": password,
        "PASSERELLE_DB_SSLMODE": "disable",
        "PASSERELLE_DB_SCHEMA": schema,
        "PASSERELLE_TOPIC_PREFIX": f"browser-{run_id}.",
        "PASSERELLE_MIGRATE_ON_START": "true",
        "PASSERELLE_KAFKA_BOOTSTRAP": os.environ.get("PASSERELLE_KAFKA_BOOTSTRAP", "127.0.0.1:59092"),
        # Local run: the provider is reached over plain http on 127.0.0.1.
        "PASSERELLE_ALLOW_DEV_SECRET": "true",
        "PASSERELLE_JWT_HS256_SECRET": SECRET,
        "PASSERELLE_OIDC_DISCOVERY_URL": idp_url,
        "PASSERELLE_OIDC_AUDIENCE": "passerelle",
        "PASSERELLE_OIDC_ROLES_CLAIM": "realm_access.roles",
        "PASSERELLE_OIDC_SITE_CLAIM": "site",
        "PASSERELLE_LOG_LEVEL": "warning",
        "PASSERELLE_MATCHING_POSTAL_AREAS": str(ROOT / "deploy" / "matching" / "postal-areas.csv"),
    })
    return env


def wait_ready(url, process, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def referrer_token(subject, site):
    """An HS256 token from deploy/local/dev-token.py, as the demo's seeding uses; a referrer
    refers in their own name only."""
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    signer = __import__("dev-token")
    return signer.token(subject, ["referrer"], site, minutes=60,
                        environ={"PASSERELLE_JWT_HS256_SECRET": SECRET})


def seed_resources(matching_port):
    """Two resources for the urgent referral's needs, as a network coordinator enters them; the
    food bank has a single seat, so a second proposal of it finds it full."""
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    signer = __import__("dev-token")
    token = signer.token("browser-catalogue", ["network-coordinator"], None, minutes=60, environ={"PASSERELLE_JWT_HS256_SECRET": SECRET})
    for name, category, seats in (("Banque alimentaire de l'Ouest", "food-security", 1), ("Logement d'abord — accompagnement", "housing", None)):
        body = {"organisation": "Centre communautaire de l'Ouest", "name": name, "kind": "external-partner", "categories": [category],
                "description": name, "languages": ["fr", "en"], "interpretationAvailable": False, "delivery": ["in-person"], "weekdays": [2],
                "address": "1099, rue Maitland, Ottawa", "coordinates": {"latitude": 45.3671, "longitude": -75.7541},
                "eligibility": {"areas": []}, "accessibility": [], "capacity": {"seats": seats, "waitlistAllowed": False}, "tags": [], "active": True}
        post_resource(matching_port, token, body)
    # For the directory: a café open every day a few streets from K1Y with a single seat, a
    # reading club twenty kilometres east on Wednesdays, and a closed one that never shows.
    # The café is open now whenever the test runs (from two hours ago to two hours from now, at
    # the sites' time, every day); the walk next door only three days from now.
    now, today = sites_now()
    opens, closes = f"{(now.hour + 22) % 24:02d}:{now.minute:02d}", f"{(now.hour + 2) % 24:02d}:{now.minute:02d}"
    CAFE_HOURS.append(f"{opens}–{closes}")
    around = [{"weekday": day, "opensAt": opens, "closesAt": closes} for day in range(1, 8)]
    later = (today + 2) % 7 + 1
    for name, languages, days, features, coordinates, seats, active, hours, categories in (
            ("Café-rencontre des aînés", ["fr"], [1, 2, 3, 4, 5, 6, 7], ["Step-free access", "hearing loop"], (45.3990, -75.7320), 1, True, around,
             ["loneliness", "social-isolation"]),
            ("Club de lecture de l'Est", ["fr", "en"], [3], ["large print"], (45.4700, -75.4800), None, True, [], ["loneliness", "social-isolation"]),
            ("Ancien cercle d'amitié", ["fr"], [1, 2, 3, 4, 5, 6, 7], ["step-free access"], (45.4000, -75.7300), None, False, around,
             ["loneliness", "social-isolation"]),
            ("Marche du quartier", ["fr"], [later], ["step-free access"], (45.3995, -75.7315), None, True,
             [{"weekday": later, "opensAt": "10:00", "closesAt": "11:00"}], ["physical-activity"])):
        body = {"organisation": "Réseau des aînés d'Ottawa", "name": name, "kind": "health-champion-group", "categories": categories,
                "description": f"{name} : un moment pour se retrouver.", "languages": languages, "interpretationAvailable": False, "delivery": ["in-person"],
                "weekdays": days, "openingHours": hours, "schedule": "10 h – 12 h", "address": "Ottawa",
                "coordinates": {"latitude": coordinates[0], "longitude": coordinates[1]},
                "eligibility": {"areas": []}, "accessibility": features, "capacity": {"seats": seats, "waitlistAllowed": False}, "tags": [],
                "contact": "613-555-0199", "active": active}
        post_resource(matching_port, token, body)


# The café's hours as set up, for the directory's check.
CAFE_HOURS = []


def sites_now():
    """Now at the sites (the console's PASSERELLE_CONSOLE_TIME_ZONE, America/Toronto by default),
    and its day of the week, 1 = Monday … 7 = Sunday."""
    from zoneinfo import ZoneInfo
    import datetime
    now = datetime.datetime.now(ZoneInfo("America/Toronto"))
    return now, now.isoweekday()


def post_resource(matching_port, token, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{matching_port}/v1/resources", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as error:
        raise SystemExit(f"[browser] matching refused a resource: {error.code} {error.read().decode()}")


def set_follow_up_policy(intake_port):
    """The site's coordinator sets the clocks: a follow-up six weeks after the work starts, told
    to the coordinator two working days after a step falls due."""
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    signer = __import__("dev-token")
    token = signer.token("browser-coordinator", ["coordinator"], SITE, minutes=60, environ={"PASSERELLE_JWT_HS256_SECRET": SECRET})
    body = {"firstContactWorkingDays": 2, "followUpWeeks": [6], "maxHoldDays": 30, "escalateAfterWorkingDays": 2}
    request = urllib.request.Request(
        f"http://127.0.0.1:{intake_port}/v1/sites/{SITE}/follow-up-policy", data=json.dumps(body).encode(), method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as error:
        raise SystemExit(f"[browser] intake refused the follow-up policy: {error.code} {error.read().decode()}")


def psql(statement):
    """One statement on the run's own schemas (the services' data as the test set it up)."""
    user, password = database_credentials()
    return subprocess.run(
        ["psql", "-h", os.environ.get("PASSERELLE_DB_HOST", "127.0.0.1"), "-p", os.environ.get("PASSERELLE_DB_PORT", "55432"),
         "-U", user, "-d", os.environ.get("PASSERELLE_DB_NAME", "passerelle"), "-qAtc", statement],
        env=dict(os.environ, PGPASSWORD=password), check=True, capture_output=True, text=True).stdout.strip()


def submit_referrals(intake_port, extra=0):
    """The demo's referrals, an urgent one at the link worker's site, and `extra` routine ones
    there (to time the caseload of a busy site)."""
    created = []
    bodies = [json.loads(path.read_text(encoding="utf-8")) for path in sorted((ROOT / "deploy" / "demo" / "referrals").glob("*.json"))]
    urgent = json.loads(json.dumps(bodies[0]))
    urgent["site"], urgent["priority"], urgent["needs"] = SITE, "urgent", ["food-security", "housing"]
    urgent["screeningAnswers"] = SCREENING
    bodies.append(urgent)
    for _ in range(extra):
        routine = json.loads(json.dumps(bodies[0]))
        routine["site"] = SITE
        bodies.append(routine)
    # Last, one the development provider's referrer of the site sends in her own name.
    own = json.loads(json.dumps(bodies[0]))
    own["site"], own["referrer"]["id"] = SITE, REFERRER
    bodies.append(own)
    for body in bodies:
        request = urllib.request.Request(
            f"http://127.0.0.1:{intake_port}/v1/referrals", data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Bearer {referrer_token(body['referrer']['id'], body['site'])}", "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                created.append((json.load(response)["id"], body["site"], body["priority"]))
        except urllib.error.HTTPError as error:
            raise SystemExit(f"[browser] intake refused a referral: {error.code} {error.read().decode()}")
    return created


def axe_check(driver, axe, name, artefacts):
    axe.inject()
    results = axe.run()
    serious = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    (artefacts / f"axe-{name}.json").write_text(json.dumps(results["violations"], indent=2), encoding="utf-8")
    check(not serious, f"{name}: no serious or critical axe violations ({', '.join(v['id'] for v in serious) or 'none'})")


def click_and_wait(driver, element):
    """Clicks what submits a form or follows a link, and waits for the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def gone(_):
        # Chromium may answer for the old page's node with an inspector error instead of a
        # stale-element one while the next page replaces it: either way the old page is gone.
        try:
            page.is_enabled()
            return False
        except (StaleElementReferenceException, WebDriverException):
            return True

    WebDriverWait(driver, 20).until(gone)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def shot(driver, artefacts, name):
    """The whole page at the window's width: the window grows to the page's height for it."""
    width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
    full = driver.execute_script("return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")
    driver.set_window_size(width, max(height, min(full + 140, 8000)))
    driver.save_screenshot(str(artefacts / f"{name}.png"))
    driver.set_window_size(width, height)


def raw_request(port, method, path, headers=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.getheaders(), response.read().decode("utf-8", "replace")


def submit_form(driver, form_id):
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]"))


def notice_text(driver):
    notices = driver.find_elements(By.CSS_SELECTOR, ".notice")
    return notices[0].text if notices else ""


def casework_walk(driver, axe, console, console_port, artefacts, referral_url):
    """The casework of an accepted referral, in French, as a link worker does it after a first
    call: a failed attempt, a refused form (nothing typed is lost), a contact that reached the
    client, the plan with two goals, a review, a private note, and a consent change."""
    set_value = "arguments[0].value = arguments[1]"
    driver.get(referral_url)
    identity = driver.find_element(By.CSS_SELECTOR, "dl.client").text
    phone = driver.find_elements(By.CSS_SELECTOR, "dl.client a[href^='tel:']")
    check(CLIENT_NAME in identity and bool(phone) and phone[0].get_attribute("href") == "tel:" + "".join(c for c in CLIENT_PHONE if c.isdigit() or c == "+"),
          f"the page shows who the client is and a number to call ({identity!r})")
    # A first call that reached no one.
    form = driver.find_element(By.ID, "contact-form")
    Select(form.find_element(By.NAME, "mode")).select_by_value("phone")
    form.find_element(By.NAME, "minutes").clear()
    form.find_element(By.NAME, "minutes").send_keys("2")
    form.find_element(By.CSS_SELECTOR, "input[name=reached][value=no]").click()
    form.find_element(By.NAME, "note").send_keys("Boîte vocale, message laissé")
    submit_form(driver, "contact-form")
    check(notice_text(driver) == "Contact noté.", f"a failed attempt is logged ({notice_text(driver)!r})")
    rows = driver.find_elements(By.CSS_SELECTOR, "#contacts tbody tr")
    check(len(rows) == 1 and "Non joint·e" in rows[0].text and "Boîte vocale" in rows[0].text, "the contact log shows the attempt, not reached")
    check("#contact" in driver.current_url or driver.current_url.endswith("done=contact"), "the page comes back at the contact log")

    # A contact dated tomorrow: intake refuses it (422); the form comes back as typed, with intake's words.
    form = driver.find_element(By.ID, "contact-form")
    driver.execute_script(set_value, form.find_element(By.NAME, "occurredAt"), "2030-01-15T10:30")
    Select(form.find_element(By.NAME, "mode")).select_by_value("video")
    form.find_element(By.NAME, "minutes").clear()
    form.find_element(By.NAME, "minutes").send_keys("25")
    form.find_element(By.CSS_SELECTOR, "input[name=reached][value=yes]").click()
    form.find_element(By.NAME, "note").send_keys("Rendez-vous vidéo")
    submit_form(driver, "contact-form")
    problem = driver.find_elements(By.CSS_SELECTOR, "#contact-problem")
    check(bool(problem) and "Le service a refusé" in problem[0].text and "Date et heure : ne peut pas être dans le futur" in problem[0].text
          and "must not" not in problem[0].text,
          f"a contact in the future is refused, intake's reason in French next to the form ({problem[0].text if problem else 'no problem shown'!r})")
    form = driver.find_element(By.ID, "contact-form")
    check(form.find_element(By.NAME, "note").get_attribute("value") == "Rendez-vous vidéo"
          and form.find_element(By.NAME, "minutes").get_attribute("value") == "25"
          and form.find_element(By.NAME, "occurredAt").get_attribute("value") == "2030-01-15T10:30"
          and Select(form.find_element(By.NAME, "mode")).first_selected_option.get_attribute("value") == "video"
          and form.find_element(By.CSS_SELECTOR, "input[name=reached][value=yes]").is_selected(),
          "nothing typed is lost: the refused form shows what was sent")
    check(form.find_element(By.NAME, "occurredAt").get_attribute("aria-invalid") == "true", "the refused field is marked invalid")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#contacts tbody tr")) == 1, "the refused contact was not logged")
    axe_check(driver, axe, "contact-refused-fr", artefacts)
    shot(driver, artefacts, "08-contact-refused-fr")

    # Corrected (no date: now), it reaches the client.
    form = driver.find_element(By.ID, "contact-form")
    driver.execute_script(set_value, form.find_element(By.NAME, "occurredAt"), "")
    submit_form(driver, "contact-form")
    rows = driver.find_elements(By.CSS_SELECTOR, "#contacts tbody tr")
    check(notice_text(driver) == "Contact noté." and len(rows) == 2 and "Joint·e" in rows[0].text and "Vidéo" in rows[0].text,
          "the corrected contact is logged, newest first")

    # The plan: what matters, two goals, a review.
    driver.find_element(By.ID, "plan-what").send_keys("Retrouver des gens avec qui marcher, et payer le loyer sans stress.")
    submit_form(driver, "plan-form")
    check(notice_text(driver) == "Plan enregistré." and "Retrouver des gens" in driver.find_element(By.ID, "plan-what").get_attribute("value"),
          "the plan is saved and shown")
    for domain, words in (("social-connection", "Se joindre au club de marche du mardi"), ("money", "Demander le crédit pour la solidarité")):
        Select(driver.find_element(By.ID, "goal-domain")).select_by_value(domain)
        driver.find_element(By.ID, "goal-description").send_keys(words)
        submit_form(driver, "goal-form")
        check(notice_text(driver) == "Objectif ajouté.", f"goal « {words} » added")
    goals = driver.find_elements(By.CSS_SELECTOR, "article.goal")
    check(len(goals) == 2 and "Liens sociaux" in goals[0].text and "Argent" in goals[1].text, "the plan shows both goals with their life domain")
    # A goal without its words: the browser asks for them; sent anyway (blank), intake refuses and the choice stays.
    Select(driver.find_element(By.ID, "goal-domain")).select_by_value("housing")
    driver.execute_script("arguments[0].removeAttribute('required'); arguments[0].value = '   '", driver.find_element(By.ID, "goal-description"))
    submit_form(driver, "goal-form")
    problem = driver.find_elements(By.CSS_SELECTOR, "#goal-problem")
    check(bool(problem) and Select(driver.find_element(By.ID, "goal-domain")).first_selected_option.get_attribute("value") == "housing",
          f"a blank goal is refused, the chosen domain kept ({problem[0].text if problem else 'no problem shown'!r})")
    check(len(driver.find_elements(By.CSS_SELECTOR, "article.goal")) == 2, "the blank goal was not set")
    review = driver.find_elements(By.CSS_SELECTOR, "article.goal form.review")[0]
    Select(review.find_element(By.NAME, "progress")).select_by_value("started")
    review.find_element(By.NAME, "note").send_keys("Est allée une fois, a aimé.")
    click_and_wait(driver, review.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    goals = driver.find_elements(By.CSS_SELECTOR, "article.goal")
    check(notice_text(driver) == "Progrès noté." and "Commencé" in goals[0].text and "Pas commencé" in goals[1].text, "the review moves the first goal to started")

    # A private note.
    driver.find_element(By.ID, "note-body").send_keys("Préfère être appelée le matin. Sa fille l'aide pour les formulaires.")
    submit_form(driver, "note-form")
    notes = driver.find_elements(By.CSS_SELECTOR, "#notes li")
    check(notice_text(driver) == "Note ajoutée." and len(notes) == 1 and "le matin" in notes[0].text, "the private note is written and shown")

    # A review posted for a goal of no such referral: intake says not found, and the page says so.
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    csrf = driver.find_element(By.CSS_SELECTOR, "#note-form input[name=csrf]").get_attribute("value")
    path = urllib.parse.urlparse(referral_url).path
    status, _, page = raw_request(console_port, "POST", f"{path}/goals/{uuid.uuid4()}/reviews",
                                  {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                                  urllib.parse.urlencode({"csrf": csrf, "progress": "achieved"}))
    check(status == 404 and 'class="problem" role="alert"' in page, f"a review of a goal that is not this referral's is refused, visibly ({status})")
    # The same note form sent twice (a double click, a resend after a timeout): one note.
    key = driver.find_element(By.CSS_SELECTOR, "#note-form input[name=key]").get_attribute("value")
    form = urllib.parse.urlencode({"csrf": csrf, "key": key, "body": "Envoyée deux fois."})
    for _ in range(2):
        status, _, _ = raw_request(console_port, "POST", f"{path}/notes", {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, form)
        check(status in (302, 303), f"the note form is accepted ({status})")
    driver.get(referral_url)
    check(driver.page_source.count("Envoyée deux fois.") == 1, "a note sent twice with its form's key is written once")
    # A form whose percent-encoding is broken is refused, and the console stays up.
    status, _, _ = raw_request(console_port, "POST", f"{path}/notes", {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                               f"csrf={csrf}&body=%ZZ%E9")
    check(status == 422, f"a note whose encoding is broken is refused ({status})")
    status, _, _ = raw_request(console_port, "GET", "/directory?need=%ZZ&postal=%", {"Cookie": cookie})
    check(status == 200 and raw_request(console_port, "GET", "/health/live")[0] == 200, f"so is a broken search, the console still up ({status})")
    # A form far larger than any the console sends is refused before it is read.
    status, _, _ = raw_request(console_port, "POST", f"{path}/notes", {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                               urllib.parse.urlencode({"csrf": csrf, "body": "x" * 100_000}))
    check(status == 413, f"a 100 kB form is refused as too large (413, got {status})")
    # A reason longer than intake takes (the browser's maxlength bypassed): refused, the text kept.
    long_reason = "Trop long. " * 100
    hold = driver.find_element(By.CSS_SELECTOR, "form[action*='/transitions'] textarea[name=reason]")
    driver.execute_script("arguments[0].removeAttribute('maxlength'); arguments[0].value = arguments[1]", hold, long_reason)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action*='/transitions'] button[value=hold]"))
    problem = driver.find_elements(By.ID, "transition-problem")
    kept = driver.find_element(By.CSS_SELECTOR, "form[action*='/transitions'] textarea[name=reason]").get_attribute("value")
    check(bool(problem) and "Acceptée" in driver.find_element(By.TAG_NAME, "dl").text and kept.strip() == long_reason.strip(),
          f"a hold with a reason intake refuses stays accepted, the reason kept ({problem[0].text if problem else 'nothing shown'!r})")
    driver.get(referral_url)

    # The support level after assessment: the current level is chosen; a change needs its reason.
    form = driver.find_element(By.ID, "support-form")
    current = Select(form.find_element(By.ID, "support-level")).first_selected_option.get_attribute("value")
    shown = driver.find_element(By.TAG_NAME, "dl").text
    labels = {"signposting": "Orientation", "light": "Léger", "medium": "Moyen", "holistic": "Global"}
    check(current in labels and labels[current] in shown, f"the support level form starts from the referral's level ({current!r})")
    chosen = "medium" if current == "holistic" else "holistic"
    driver.execute_script("document.querySelectorAll('#support-form [required]').forEach(e => e.removeAttribute('required'))")
    Select(driver.find_element(By.ID, "support-level")).select_by_value(chosen)
    submit_form(driver, "support-form")
    problem = driver.find_elements(By.ID, "support-problem")
    check(bool(problem) and Select(driver.find_element(By.ID, "support-level")).first_selected_option.get_attribute("value") == chosen,
          f"a support level without its reason is refused, the level chosen kept ({problem[0].text if problem else 'nothing shown'!r})")
    driver.find_element(By.ID, "support-reason").send_keys("Vit seule depuis le décès de son mari")
    submit_form(driver, "support-form")
    details = driver.find_element(By.TAG_NAME, "dl").text
    check(notice_text(driver).startswith("Niveau de soutien modifié") and labels[chosen] in details,
          f"the support level is changed after assessment ({notice_text(driver)!r})")
    axe_check(driver, axe, "support-changed-fr", artefacts)

    # Consent: the current answers are chosen (the referral's); every answer and a reason are needed,
    # and a form sent without its answers is refused, its reason kept.
    form = driver.find_element(By.ID, "consent-form")
    check(form.find_element(By.CSS_SELECTOR, "input[name=contact][value=yes]").is_selected()
          and form.find_element(By.CSS_SELECTOR, "input[name=shareWithPartners][value=no]").is_selected()
          and form.find_element(By.CSS_SELECTOR, "input[name=evaluationUse][value=yes]").is_selected(),
          "the consent form starts from the client's current consent")
    driver.execute_script("document.querySelectorAll('#consent-form [required]').forEach(e => e.removeAttribute('required'));"
                          "document.querySelectorAll('#consent-form input[type=radio]').forEach(e => e.checked = false)")
    driver.find_element(By.ID, "consent-reason").send_keys("Ne souhaite plus de messages texte")
    submit_form(driver, "consent-form")
    problem = driver.find_elements(By.CSS_SELECTOR, "#consent-problem")
    check(bool(problem) and "Accepte d'être contacté·e" not in (problem[0].text if problem else "x") and "Contact" in problem[0].text
          and driver.find_element(By.ID, "consent-reason").get_attribute("value") == "Ne souhaite plus de messages texte",
          "consent without its answers is refused and the reason is kept")
    axe_check(driver, axe, "consent-refused-fr", artefacts)
    form = driver.find_element(By.ID, "consent-form")
    for name, value in (("contact", "yes"), ("shareWithPartners", "yes"), ("evaluationUse", "no")):
        form.find_element(By.CSS_SELECTOR, f"input[name={name}][value={value}]").click()
    submit_form(driver, "consent-form")
    notes = driver.find_elements(By.CSS_SELECTOR, "#notes li")
    check(notice_text(driver).startswith("Consentement enregistré") and any("Consentement modifié" in n.text and "messages texte" in n.text for n in notes),
          f"the consent change is recorded, its reason in the notes ({notice_text(driver)!r})")
    identity = driver.find_element(By.CSS_SELECTOR, "dl.client").text
    check("partage avec les partenaires : Oui" in identity and "évaluation : Non" in identity, f"the client's details show the new consent ({identity!r})")

    check(not driver.find_elements(By.CSS_SELECTOR, "p.step"), "an attempt to reach the client meets the first contact")
    # The timeline tells all of it, newest first.
    timeline = driver.find_element(By.CSS_SELECTOR, "ol.timeline").text
    for expected in ("Demande reçue", "Non joint·e", "Objectif fixé : Liens sociaux", "Progrès noté : Commencé", "Note privée ajoutée", "Plan mis à jour"):
        check(expected in timeline, f"the timeline shows « {expected} »")
    items = driver.find_elements(By.CSS_SELECTOR, "ol.timeline li")
    check(bool(items) and "Demande reçue" in items[-1].text, "the timeline starts (at its end) with the referral received")
    check(bool(driver.find_elements(By.CSS_SELECTOR, "ol.timeline li.failed")), "the failed attempt is marked in the timeline")
    axe_check(driver, axe, "referral-casework-fr", artefacts)
    shot(driver, artefacts, "09-referral-casework-fr")

    # Forms from elsewhere: no CSRF token, no casework.
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    path = urllib.parse.urlparse(referral_url).path
    for target, body in (("/contacts", "mode=phone&minutes=1&reached=no"), ("/notes", "body=x"), ("/consent", "contact=no&shareWithPartners=no&evaluationUse=no&reason=x")):
        status, _, _ = raw_request(console_port, "POST", path + target, {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, body)
        check(status == 403, f"{target} without the form's CSRF token is refused (403, got {status})")
    # The suggested resources have their own page; matching ranks them once it has the referral.
    deadline = time.monotonic() + 30
    driver.get(referral_url + "/matches")
    while not driver.find_elements(By.CSS_SELECTOR, "ol.matches li") and time.monotonic() < deadline:
        time.sleep(1)
        driver.get(referral_url + "/matches")
    check(driver.find_element(By.TAG_NAME, "h1").text.startswith("Ressources proposées"), "the matches page opens")
    items = driver.find_elements(By.CSS_SELECTOR, "ol.matches li")
    names = " ".join(item.text for item in items)
    check(len(items) == 2 and "Banque alimentaire de l'Ouest" in names and "Logement d'abord" in names,
          f"both resources for her needs are ranked, with their names ({len(items)} shown)")
    check(all("Raisons" in item.text for item in items), "each match says why")
    axe_check(driver, axe, "matches-fr", artefacts)
    food = next(item for item in items if "Banque alimentaire" in item.text)
    food_id = food.get_attribute("id")
    click_and_wait(driver, food.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    check(notice_text(driver) == "Connexion proposée : Banque alimentaire de l'Ouest — Centre communautaire de l'Ouest"
          and "Proposée." in driver.find_element(By.ID, food_id).text and not driver.find_element(By.ID, food_id).find_elements(By.TAG_NAME, "form"),
          f"proposing the food bank records the connection ({notice_text(driver)!r})")
    shot(driver, artefacts, "11-matches-fr")
    # Proposed again, its only seat is taken: matching's refusal shows beside it.
    driver.get(referral_url + "/matches")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, f"#{food_id} form button[type=submit]"))
    problem = driver.find_elements(By.CSS_SELECTOR, f"#{food_id} .problem")
    check(bool(problem) and "Le service a refusé : cette ressource n'a plus de place." in problem[0].text,
          f"a second proposal finds the resource full, said next to it ({problem[0].text if problem else 'nothing shown'!r})")
    axe_check(driver, axe, "matches-refused-fr", artefacts)
    driver.get(referral_url)
    pathway_walk(driver, axe, console_port, artefacts, referral_url)
    directory_walk(driver, axe, console_port, artefacts, referral_url)


def directory_walk(driver, axe, console_port, artefacts, referral_url):
    """The directory, opened from the referral: the catalogue searched by need, language,
    accessibility, distance and what is open now, in French; a resource found proposed for the referral;
    and what a careless or hostile search sends."""
    driver.get(referral_url)
    click_and_wait(driver, driver.find_element(By.ID, "search-directory"))
    short = urllib.parse.urlparse(referral_url).path.rsplit("/", 1)[1][:8]
    check(driver.find_element(By.TAG_NAME, "h1").text.startswith("Répertoire des ressources") and short.upper() in driver.find_element(By.TAG_NAME, "h1").text.upper()
          and not driver.find_elements(By.CSS_SELECTOR, "ol.directory"), "the directory opens for the referral, the form alone until something is asked")
    axe_check(driver, axe, "directory-fr", artefacts)
    Select(driver.find_element(By.ID, "directory-need")).select_by_value("loneliness")
    submit_form(driver, "directory-search")
    names = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "ol.directory h3")]
    check(sorted(names) == ["Café-rencontre des aînés", "Club de lecture de l'Est"],
          f"searched by need, both active resources for loneliness are found, the closed one is not ({names})")
    check(driver.find_element(By.ID, "directory-count").text == "2 ressources trouvées.", "the count reads in French")
    club = driver.find_element(By.XPATH, "//ol[contains(@class,'directory')]/li[.//h3[text()=\"Club de lecture de l'Est\"]]").text
    check("mercredi" in club and "Gros caractères" in club and "Français, Anglais" in club and "Solitude" in club and "En personne" in club,
          f"a resource reads in French: its day, accessibility, languages, needs, how it is offered ({club!r})")
    # Near K1Y, within 5 km, step-free, any need: the café and the walk next door; open now
    # (matching's open_at, the day and time at the sites): the café only.
    driver.get(f"http://127.0.0.1:{console_port}/directory?postal=k1y+4e9&radius=5&accessibility=step-free+access")
    names = sorted(e.text for e in driver.find_elements(By.CSS_SELECTOR, "ol.directory h3"))
    check(names == ["Café-rencontre des aînés", "Marche du quartier"], f"near K1Y and step-free, whatever the hours: the café and the walk ({names})")
    check(not driver.find_element(By.ID, "directory-open").is_selected()
          and "Ouvert maintenant seulement" in driver.find_element(By.ID, "directory-search").text
          and "ne donne pas les heures" in driver.find_element(By.ID, "directory-open-hint").text,
          "the checkbox reads « Ouvert maintenant seulement », and says that resources without known hours are left out")
    driver.find_element(By.ID, "directory-open").click()
    submit_form(driver, "directory-search")
    names = sorted(e.text for e in driver.find_elements(By.CSS_SELECTOR, "ol.directory h3"))
    check(names == ["Café-rencontre des aînés"] and "open=1" in driver.current_url,
          f"open now narrows the list to the café, open at this hour; the walk opens in three days ({names})")
    hours = driver.find_elements(By.CSS_SELECTOR, "ol.directory li .hours-today")
    expected = CAFE_HOURS[0]
    check(bool(hours) and hours[0].text == expected and "Heures aujourd'hui" in driver.find_element(By.CSS_SELECTOR, "ol.directory li").text,
          f"the café shows today's hours ({hours[0].text if hours else 'none'!r}, expected {expected!r})")
    driver.get(referral_url)
    click_and_wait(driver, driver.find_element(By.ID, "search-directory"))
    Select(driver.find_element(By.ID, "directory-need")).select_by_value("loneliness")
    # Near K1Y, within 5 km, step-free, loneliness, open now: the café only, its distance shown.
    driver.find_element(By.ID, "directory-postal").send_keys("k1y 4e9")
    Select(driver.find_element(By.ID, "directory-radius")).select_by_value("5")
    Select(driver.find_element(By.ID, "directory-accessibility")).select_by_value("step-free access")
    driver.find_element(By.ID, "directory-open").click()
    submit_form(driver, "directory-search")
    items = driver.find_elements(By.CSS_SELECTOR, "ol.directory li")
    check(len(items) == 1 and "Café-rencontre des aînés" in items[0].text and "Ouvert maintenant" in items[0].text
          and "0,2 km" in items[0].text and "Accès sans marche, Boucle magnétique" in items[0].text,
          f"near K1Y within 5 km, step-free and open now: the café, 0,2 km away ({items[0].text if items else 'none'!r})")
    check(driver.find_element(By.ID, "directory-postal").get_attribute("value") == "k1y 4e9"
          and driver.find_element(By.ID, "directory-open").is_selected(), "the search keeps what was asked")
    Select(driver.find_element(By.ID, "directory-language")).select_by_value("en")
    submit_form(driver, "directory-search")
    check(not driver.find_elements(By.CSS_SELECTOR, "ol.directory li") and "Aucune ressource" in driver.page_source,
          "and in English: none (the café is in French only)")
    Select(driver.find_element(By.ID, "directory-language")).select_by_value("")
    submit_form(driver, "directory-search")
    axe_check(driver, axe, "directory-results-fr", artefacts)
    shot(driver, artefacts, "16-directory-fr")
    # Proposed for the referral: matching records the connection, the page comes back to the same search.
    search_url = driver.current_url
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "ol.directory li form button"))
    item = driver.find_element(By.CSS_SELECTOR, "ol.directory li")
    check(notice_text(driver).startswith("Connexion proposée : Café-rencontre des aînés") and "Proposée." in item.text
          and not item.find_elements(By.TAG_NAME, "form") and "postal=k1y" in driver.current_url.lower(),
          f"the café is proposed for the referral, back at the same search ({notice_text(driver)!r})")
    # Proposed again from a page opened before: its only seat is taken, matching's 409 in French beside it.
    driver.get(search_url)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "ol.directory li form button"))
    problem = driver.find_elements(By.CSS_SELECTOR, "ol.directory li .problem")
    check(bool(problem) and problem[0].text == "Le service a refusé : cette ressource n'a plus de place.",
          f"a second proposal finds the café full, said in French next to it ({problem[0].text if problem else 'nothing shown'!r})")
    axe_check(driver, axe, "directory-refused-fr", artefacts)
    driver.get(referral_url)
    connections = driver.find_element(By.ID, "connections-list").text
    check("Café-rencontre des aînés" in connections, "the referral's connections list the café proposed from the directory")
    # Searches a browser would not send, and one an attacker would.
    for query, field in (("postal=ZZZ", "code postal canadien"), ("postal=H0H%200H0", "pas connu de la console"), ("need=astrology", "Besoin : choisissez"),
                         ("radius=9999&postal=K1Y", "Distance au plus"), ("accessibility=teleportation", "Accessibilité : choisissez")):
        driver.get(f"http://127.0.0.1:{console_port}/directory?{query}")
        problem = driver.find_elements(By.ID, "directory-problem")
        check(bool(problem) and field in problem[0].text and not driver.find_elements(By.CSS_SELECTOR, "ol.directory"),
              f"?{query} is refused in French, nothing searched ({problem[0].text if problem else 'nothing shown'!r})")
    check(driver.find_element(By.ID, "directory-accessibility").get_attribute("aria-invalid") == "true", "the refused field is marked")
    axe_check(driver, axe, "directory-invalid-fr", artefacts)
    driver.get(f"http://127.0.0.1:{console_port}/directory?postal=%3Cscript%3Ealert(1)%3C/script%3E")
    check("<script>alert(1)" not in driver.page_source and driver.find_element(By.ID, "directory-postal").get_attribute("value") == "<script>alert(1)</script>",
          "a script typed in the search comes back as text")
    driver.get(f"http://127.0.0.1:{console_port}/directory?need=loneliness&referral=not-a-referral")
    check(len(driver.find_elements(By.CSS_SELECTOR, "ol.directory li")) == 2 and not driver.find_elements(By.CSS_SELECTOR, "ol.directory form"),
          "a made-up referral offers nothing to propose")
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    csrf = driver.find_element(By.CSS_SELECTOR, "header input[name=csrf]").get_attribute("value")
    path = urllib.parse.urlparse(referral_url).path
    # A proposal whose way back is another site: it comes back to the matches, never elsewhere.
    resource = psql(f"SELECT id FROM browser_matching_{INTAKE_SCHEMA.rsplit('_', 1)[1]}.community_resource WHERE name = 'Club de lecture de l''Est'")
    status, headers, _ = raw_request(console_port, "POST", path + "/connections", {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                                     urllib.parse.urlencode({"csrf": csrf, "resourceId": resource, "return": "//evil.example/directory"}))
    location = dict(headers).get("Location", "")
    check(status in (302, 303) and location.startswith(path + "/matches"), f"a proposal sent with a foreign way back returns to the matches ({status} {location})")


def check_screening_answers(driver, heading):
    """The urgent referral's screening answers, each code as sent beside its answer."""
    shown = driver.find_elements(By.ID, "screening")
    terms = [(dt.text, dd.text) for dt, dd in zip(driver.find_elements(By.CSS_SELECTOR, "#screening-answers dt"),
                                                   driver.find_elements(By.CSS_SELECTOR, "#screening-answers dd"))]
    check(bool(shown) and shown[0].text == heading and sorted(terms) == sorted(SCREENING.items()),
          f"the screening answers are shown under « {heading} », codes as sent ({terms!r})")


def status_steps(driver):
    """The timeline's status steps (what, then who and why), newest first."""
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, "ol.timeline li") if item.find_element(By.CSS_SELECTOR, ".kind").text in ("Status", "Statut")]


def day_walk(driver, axe, console, artefacts, referral_url):
    """The rest of the link worker's day with the referral, in English: the work starts, the
    six-week follow-up falls due, goes overdue, the link worker is nudged (the message log), and
    the referral is completed; the timeline shows each status reached with who and why."""
    referral_id = urllib.parse.urlparse(referral_url).path.rsplit("/", 1)[1]
    driver.get(console + "/directory?need=loneliness")
    text = driver.find_element(By.CSS_SELECTOR, "ol.directory").text if driver.find_elements(By.CSS_SELECTOR, "ol.directory") else ""
    check(driver.find_element(By.TAG_NAME, "h1").text == "Resource directory" and "Step-free access, Hearing loop" in text and "Monday" in text
          and "Loneliness" in text and "2 resources found." in driver.page_source, "the directory reads in English")
    axe_check(driver, axe, "directory-en", artefacts)
    driver.get(referral_url)
    steps = status_steps(driver)
    check(len(steps) == 1 and "Received → Accepted" in steps[0] and f"by {LINK_WORKER} (link worker)" in steps[0],
          f"the timeline says the referral was accepted, and by whom ({steps!r})")
    check("Support level changed" not in driver.find_element(By.CSS_SELECTOR, "ol.timeline").text,
          "who changed the support level is the audit trail's, not in a link worker's timeline")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action*='/transitions'] button[value=start]"))
    step = driver.find_elements(By.CSS_SELECTOR, "p.step")
    check("In progress" in driver.find_element(By.TAG_NAME, "dl").text and bool(step) and "6-week follow-up" in step[0].text and "Overdue" not in step[0].text,
          f"the work starts: the six-week follow-up is the step due, not yet overdue ({step[0].text if step else 'none'!r})")
    driver.get(console + "/")
    row = next((r.text for r in driver.find_elements(By.CSS_SELECTOR, "#table-mine tbody tr") if "In progress" in r.text), "")
    check("6-week follow-up" in row and "Overdue" not in row and not driver.find_elements(By.CSS_SELECTOR, "tr.overdue"),
          f"the caseload shows the follow-up due, no overdue flag ({row!r})")
    # Six weeks pass: the step's clock is moved back in the run's own intake schema (the policy's
    # shortest follow-up is a week); the escalation to the coordinator stays two working days away.
    moved = psql(f"UPDATE {INTAKE_SCHEMA}.follow_up_step SET opened_at = opened_at - interval '6 weeks 1 minute', "
                 f"due_at = due_at - interval '6 weeks 1 minute', escalate_at = escalate_at - interval '6 weeks 1 minute' "
                 f"WHERE referral_id = '{referral_id}'::uuid AND step = 'follow-up-6w' AND met_at IS NULL RETURNING step")
    check(moved == "follow-up-6w", f"the six-week follow-up's clock is moved six weeks back ({moved!r})")
    driver.get(console + "/")
    row = next((r for r in driver.find_elements(By.CSS_SELECTOR, "#table-mine tbody tr") if "In progress" in r.text), None)
    check(row is not None and "overdue" in (row.get_attribute("class") or "") and "Overdue" in row.text
          and "At least one of your referrals has an overdue step." in driver.page_source,
          f"the caseload flags it overdue ({row.text if row else 'none'!r})")
    axe_check(driver, axe, "caseload-overdue-en", artefacts)
    shot(driver, artefacts, "17-caseload-overdue-en")
    # The clock raises referral.overdue; notification nudges the link worker who owns it.
    deadline = time.monotonic() + 60
    nudge = []
    while time.monotonic() < deadline:
        driver.get(referral_url)
        nudge = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "ol.timeline li") if "link-worker-follow-up-overdue" in item.text]
        if nudge:
            break
        time.sleep(1)
    check(len(nudge) == 1 and "link worker" in nudge[0], f"the link worker is nudged once, in the message log ({nudge!r})")
    step = driver.find_elements(By.CSS_SELECTOR, "p.step")
    check(bool(step) and "6-week follow-up" in step[0].text and "Overdue" in step[0].text, "the referral page flags the step overdue")
    shot(driver, artefacts, "18-referral-overdue-en")
    # Completed: the outcome is required, and it closes the loop.
    driver.find_element(By.ID, "outcome-complete").send_keys("Connected to the seniors' café; goes twice a week.")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action*='/transitions'] button[value=complete]"))
    timeline = driver.find_element(By.CSS_SELECTOR, "ol.timeline").text
    check("Completed" in driver.find_element(By.TAG_NAME, "dl").text and "This referral is closed." in driver.page_source
          and not driver.find_elements(By.CSS_SELECTOR, "p.step"), "the referral is completed, closed, nothing due")
    # Every step from intake's status history, newest first, each with who took it and why.
    steps = status_steps(driver)
    check(len(steps) == 3 and "In progress → Completed" in steps[0] and "Connected to the seniors' café; goes twice a week." in steps[0]
          and "Accepted → In progress" in steps[1] and "Received → Accepted" in steps[2] and all(f"by {LINK_WORKER}" in s for s in steps)
          and "Current status" not in timeline, f"the timeline shows each status step with who and the outcome ({steps!r})")
    axe_check(driver, axe, "referral-completed-en", artefacts)
    shot(driver, artefacts, "19-referral-completed-en")
    driver.get(console + "/")
    check(not driver.find_elements(By.CSS_SELECTOR, "tr.overdue") and "At least one of your referrals has an overdue step." not in driver.page_source,
          "once completed, nothing on the caseload is overdue")
    counts = driver.find_element(By.CSS_SELECTOR, "ul.counts").text
    check("Completed : 1" in counts, f"the counts show one completed ({counts!r})")


def connection_change(driver, status):
    """The button of the food bank's connection that moves it to `status`."""
    return driver.find_element(By.XPATH, f"//section[@id='connections-list']//input[@name='status'][@value='{status}']/ancestor::form//button")


def choose_answers(driver, form_id, timepoint, answers):
    form = driver.find_element(By.ID, form_id)
    Select(form.find_element(By.NAME, "timepoint")).select_by_value(timepoint)
    for number, answer in enumerate(answers, start=1):
        form.find_element(By.CSS_SELECTOR, f"input[name=item{number}][value='{answer}']").click()


def pathway_walk(driver, axe, console_port, artefacts, referral_url):
    """The proposed food bank followed on the referral page (accepted, then enrolled), and the
    client's loneliness measured at baseline and at six weeks, in French; what a careless or
    hostile form sends is refused next to its form with what was typed kept."""
    connections = driver.find_elements(By.CSS_SELECTOR, "#connections-list li")
    check(len(connections) == 1 and "Banque alimentaire de l'Ouest" in connections[0].text and "Proposée" in connections[0].text,
          f"the referral page lists the proposed connection ({connections[0].text if connections else 'none'!r})")
    offered = sorted(i.get_attribute("value") for i in driver.find_elements(By.CSS_SELECTOR, "#connections-list input[name=status]"))
    check(offered == ["accepted", "declined", "dropped"], f"a proposed connection may be accepted, declined or dropped ({offered})")
    check(all(t.get_attribute("required") is not None for t in driver.find_elements(By.CSS_SELECTOR, "#connections-list textarea[name=reason]"))
          and len(driver.find_elements(By.CSS_SELECTOR, "#connections-list textarea[name=reason]")) == 2, "ending a connection asks why")
    axe_check(driver, axe, "referral-connections-fr", artefacts)
    click_and_wait(driver, connection_change(driver, "accepted"))
    check(notice_text(driver) == "Connexion mise à jour : Acceptée par la personne", f"the client accepts the food bank ({notice_text(driver)!r})")
    click_and_wait(driver, connection_change(driver, "enrolled"))
    status = driver.find_element(By.CSS_SELECTOR, "#connections-list .connection-status").text
    check(notice_text(driver) == "Connexion mise à jour : Inscrite" and status == "Inscrite", f"then is enrolled ({status!r})")
    offered = sorted(i.get_attribute("value") for i in driver.find_elements(By.CSS_SELECTOR, "#connections-list input[name=status]"))
    check(offered == ["attended", "dropped"], f"an enrolled connection may be attended or dropped, nothing else ({offered})")
    timeline = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "ol.timeline li")]
    check(any("Ressource proposée" in item and "Banque alimentaire" in item for item in timeline)
          and any("Connexion mise à jour : Inscrite" in item for item in timeline), "the timeline shows the proposal and where the connection stands")
    shot(driver, artefacts, "13-connections-fr")

    # A form sent from a page that is out of date: matching refuses the step it no longer allows.
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
    csrf = driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
    action = urllib.parse.urlparse(driver.find_element(By.CSS_SELECTOR, "#connections-list form").get_attribute("action")).path
    form_headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    code, _, body = raw_request(console_port, "POST", action, form_headers, f"csrf={csrf}&status=accepted")
    check(code == 409 and "connection-problem-" in body and "une connexion « Inscrite » ne peut pas devenir « Acceptée par la personne »" in body,
          f"an enrolled connection cannot go back to accepted: matching's 409 shows beside it, in French ({code})")
    code, _, body = raw_request(console_port, "POST", action, form_headers, f"csrf={csrf}&status=dropped&reason=%20")
    check(code == 422 and "dites pourquoi" in body, f"dropping it without a reason is refused before matching ({code})")
    code, _, _ = raw_request(console_port, "POST", action, form_headers, f"csrf={csrf}&status=proposed")
    check(code == 422, f"nothing becomes proposed again ({code})")
    code, _, body = raw_request(console_port, "POST", action.rsplit("/", 1)[0] + f"/{uuid.uuid4()}", form_headers, f"csrf={csrf}&status=accepted")
    check(code == 404 and "problem" in body, f"a connection that is not this referral's is not found, and says so ({code})")
    code, _, _ = raw_request(console_port, "POST", action, {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, "status=attended")
    check(code == 403, f"a change without the form's CSRF token is refused ({code})")

    # The outcome questionnaires, with their published items and scales.
    ucla = driver.find_element(By.ID, "outcome-ucla3")
    legends = [legend.text for legend in ucla.find_elements(By.TAG_NAME, "legend")]
    check(legends == ["1. À quelle fréquence sentez-vous que vous manquez de compagnie ?", "2. À quelle fréquence vous sentez-vous laissé·e de côté ?",
                      "3. À quelle fréquence vous sentez-vous isolé·e des autres ?"], f"UCLA-3's three items, in French ({legends})")
    scale = [label.text for label in ucla.find_elements(By.CSS_SELECTOR, "fieldset")[0].find_elements(By.TAG_NAME, "label")]
    check(scale == ["Presque jamais", "Parfois", "Souvent"], f"each answered hardly ever, some of the time or often ({scale})")
    ons = driver.find_element(By.ID, "outcome-ons4")
    check(len(ons.find_elements(By.TAG_NAME, "fieldset")) == 4 and len(ons.find_elements(By.CSS_SELECTOR, "input[name=item4]")) == 11
          and "0 — pas du tout" in ons.text and "10 — complètement" in ons.text, "ONS4's four items, each 0 (not at all) to 10 (completely)")
    choose_answers(driver, "outcome-ucla3", "baseline", [3, 2, 3])
    submit_form(driver, "outcome-ucla3")
    check(notice_text(driver) == "Réponses enregistrées : Échelle de solitude UCLA en 3 questions, Début de l'accompagnement (référence) — total 8.",
          f"the baseline UCLA-3 is recorded and scored by evaluation ({notice_text(driver)!r})")
    # The same timepoint again: evaluation says it is recorded; the form keeps what was chosen.
    choose_answers(driver, "outcome-ucla3", "baseline", [1, 1, 2])
    submit_form(driver, "outcome-ucla3")
    problem = driver.find_elements(By.ID, "outcome-ucla3-problem")
    form = driver.find_element(By.ID, "outcome-ucla3")
    kept = [form.find_element(By.CSS_SELECTOR, f"input[name=item{n}][value='{v}']").is_selected() for n, v in ((1, 1), (2, 1), (3, 2))]
    check(bool(problem) and "déjà enregistré" in problem[0].text and all(kept)
          and Select(form.find_element(By.NAME, "timepoint")).first_selected_option.get_attribute("value") == "baseline",
          f"a second baseline is refused (409) next to the form, the answers kept ({problem[0].text if problem else 'nothing shown'!r})")
    axe_check(driver, axe, "referral-outcome-refused-fr", artefacts)
    choose_answers(driver, "outcome-ucla3", "follow-up-6w", [2, 1, 2])
    submit_form(driver, "outcome-ucla3")
    check(notice_text(driver) == "Réponses enregistrées : Échelle de solitude UCLA en 3 questions, Suivi à 6 semaines — total 5 "
          "(écart avec la référence : total -3).", f"the six-week UCLA-3 comes back with its change from baseline ({notice_text(driver)!r})")
    shot(driver, artefacts, "14-outcomes-fr")
    # Answers a browser would not send: an unanswered item is the console's 422, one out of range evaluation's.
    path = urllib.parse.urlparse(referral_url).path + "/outcomes"
    code, _, body = raw_request(console_port, "POST", path, form_headers, f"csrf={csrf}&instrument=ons4&timepoint=baseline&item1=5&item2=5&item3=5")
    check(code == 422 and "outcome-ons4-problem" in body and 'value="5" required checked' in body, f"ONS4 with an item unanswered is refused, answers kept ({code})")
    code, _, body = raw_request(console_port, "POST", path, form_headers, f"csrf={csrf}&instrument=ons4&timepoint=baseline&item1=11&item2=5&item3=5&item4=0")
    check(code == 422 and "Question 1 : la réponse doit être entre 0 et 10 (reçu : 11)" in body and 'class="item" aria-invalid="true"' in body,
          f"ONS4 with an answer of 11 is refused by evaluation, in French, the item marked ({code})")
    code, _, body = raw_request(console_port, "POST", path, form_headers, f"csrf={csrf}&instrument=k10&timepoint=baseline&item1=1")
    check(code == 422 and "Questionnaire inconnu" in body, f"a questionnaire the console does not offer is refused ({code})")
    code, _, _ = raw_request(console_port, "POST", path, {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                             "instrument=ucla3&timepoint=closure&item1=1&item2=1&item3=1")
    check(code == 403, f"an outcome without the form's CSRF token is refused ({code})")
    driver.get(referral_url)
    outcomes_and_service_use(driver, axe, console_port, artefacts, referral_url, form_headers, csrf)
    swemwbs_walk(driver, axe, console_port, artefacts, referral_url, form_headers, csrf)


def swemwbs_walk(driver, axe, console_port, artefacts, referral_url, form_headers, csrf):
    """SWEMWBS, offered because the console was given an item set (test wording here): seven
    items each answered 1 to 5, recorded at baseline and scored by evaluation."""
    driver.get(referral_url)
    form = driver.find_element(By.ID, "outcome-swemwbs")
    legends = [legend.text for legend in form.find_elements(By.TAG_NAME, "legend")]
    check(legends == [f"{n}. [TEST] Énoncé fictif n° {n}, texte de test" for n in range(1, 8)],
          f"SWEMWBS's seven items as loaded, in French ({legends})")
    groups = form.find_elements(By.CSS_SELECTOR, "fieldset.item")
    radios = [(r.get_attribute("name"), r.get_attribute("value")) for g in groups for r in g.find_elements(By.CSS_SELECTOR, "input[type=radio]")]
    check(len(groups) == 7 and radios == [(f"item{n}", str(v)) for n in range(1, 8) for v in range(1, 6)],
          f"seven groups of five radios, item1..item7 valued 1 to 5 ({len(groups)} groups, {len(radios)} radios)")
    scale = [label.text for label in groups[0].find_elements(By.TAG_NAME, "label")]
    check(scale == ["Jamais", "Rarement", "Parfois", "Souvent", "Tout le temps"], f"each answered none of the time to all of the time ({scale})")
    licence = driver.find_elements(By.ID, "outcome-swemwbs-licence")
    check(bool(licence) and licence[0].text == SWEMWBS_TEST_ITEMS["licence"], "the licence line given with the items is shown under the form")
    axe_check(driver, axe, "referral-swemwbs-form-fr", artefacts)
    shot(driver, artefacts, "15b-swemwbs-form-fr")
    # An item left unanswered (the browser's required bypassed): the console's 422, the answers kept.
    path = urllib.parse.urlparse(referral_url).path + "/outcomes"
    code, _, body = raw_request(console_port, "POST", path, form_headers,
                                f"csrf={csrf}&instrument=swemwbs&timepoint=baseline&item1=4&item2=3&item3=4&item4=2&item5=5&item6=3")
    check(code == 422 and "outcome-swemwbs-problem" in body and 'name="item5" value="5" required checked' in body,
          f"SWEMWBS with its seventh item unanswered is refused, answers kept ({code})")
    code, _, body = raw_request(console_port, "POST", path, form_headers,
                                f"csrf={csrf}&instrument=swemwbs&timepoint=baseline&item1=6&item2=3&item3=4&item4=2&item5=5&item6=3&item7=4")
    check(code == 422 and "Question 1 : la réponse doit être entre 1 et 5 (reçu : 6)" in body,
          f"an answer of 6 is refused by evaluation, in French ({code})")
    # Raw 4+3+4+2+5+3+4 = 25, metric 22.35 by the published conversion table.
    choose_answers(driver, "outcome-swemwbs", "baseline", [4, 3, 4, 2, 5, 3, 4])
    submit_form(driver, "outcome-swemwbs")
    check(notice_text(driver) == "Réponses enregistrées : Bien-être mental de Warwick-Edinburgh, version courte, Début de l'accompagnement (référence) "
          "— score métrique 22,35, score brut 25.", f"the baseline SWEMWBS is recorded and scored by evaluation ({notice_text(driver)!r})")
    rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#recorded-outcomes tbody tr[data-instrument=swemwbs]")]
    check(len(rows) == 1 and "Début de l'accompagnement" in rows[0] and "score métrique 22,35, score brut 25" in rows[0],
          f"the SWEMWBS baseline is listed back with evaluation's scores ({rows})")
    axe_check(driver, axe, "referral-swemwbs-recorded-fr", artefacts)
    shot(driver, artefacts, "15c-swemwbs-recorded-fr")


def outcomes_and_service_use(driver, axe, console_port, artefacts, referral_url, form_headers, csrf):
    """What evaluation recorded, listed back on the referral page; the client's use of care in
    the six months before and after, with what a careless or hostile form sends."""
    rows = driver.find_elements(By.CSS_SELECTOR, "#recorded-outcomes tbody tr")
    texts = [row.text for row in rows]
    check(len(rows) == 2 and "Début de l'accompagnement" in texts[0] and "total 8" in texts[0] and "—" in texts[0]
          and "Suivi à 6 semaines" in texts[1] and "total 5" in texts[1] and "total -3" in texts[1],
          f"the recorded UCLA-3 measures are listed back, baseline then six weeks with its change ({texts})")
    # Service use: the six months before, then after; an empty box is unknown, not zero.
    driver.find_element(By.ID, "use-before-primary").send_keys("6")
    driver.find_element(By.ID, "use-before-emergency").send_keys("2")
    submit_form(driver, "service-use-form")
    table = driver.find_element(By.ID, "service-use-table").text if driver.find_elements(By.ID, "service-use-table") else ""
    check(notice_text(driver) == "Recours aux soins enregistré." and "Soins primaires 6 inconnu —" in table and "Urgences 2 inconnu —" in table,
          f"the six months before are recorded, after unknown ({table!r})")
    check(driver.find_element(By.ID, "use-before-primary").get_attribute("value") == "6", "the form starts from what is recorded")
    driver.find_element(By.ID, "use-after-primary").send_keys("3")
    submit_form(driver, "service-use-form")
    table = driver.find_element(By.ID, "service-use-table").text
    check("Soins primaires 6 3 -3" in table and "Urgences 2 inconnu —" in table,
          f"the six months after: a change where both are known, none where one is unknown ({table!r})")
    # 500 visits (the browser's max bypassed): evaluation refuses, in French, the field marked, what was typed kept.
    driver.execute_script("arguments[0].removeAttribute('max'); arguments[0].value = '500'", driver.find_element(By.ID, "use-after-emergency"))
    submit_form(driver, "service-use-form")
    problem = driver.find_elements(By.ID, "service-use-problem")
    field = driver.find_element(By.ID, "use-after-emergency")
    check(bool(problem) and "Visites aux urgences (après) : un nombre de visites en six mois, de 0 à 183" in problem[0].text
          and field.get_attribute("aria-invalid") == "true" and field.get_attribute("value") == "500"
          and driver.find_element(By.ID, "use-after-primary").get_attribute("value") == "3",
          f"500 emergency visits are refused by evaluation, said in French at the field, the form as typed ({problem[0].text if problem else 'nothing shown'!r})")
    axe_check(driver, axe, "service-use-refused-fr", artefacts)
    path = urllib.parse.urlparse(referral_url).path + "/service-use"
    code, _, body = raw_request(console_port, "POST", path, form_headers, f"csrf={csrf}&beforePrimary=&afterPrimary=")
    check(code == 422 and "indiquez au moins un nombre de visites" in body, f"a form with no count is refused before evaluation ({code})")
    code, _, body = raw_request(console_port, "POST", path, form_headers, f"csrf={csrf}&beforePrimary=six")
    check(code == 422 and "un nombre entier de visites" in body, f"a count that is not a number is refused ({code})")
    code, _, _ = raw_request(console_port, "POST", path, {"Cookie": form_headers["Cookie"], "Content-Type": "application/x-www-form-urlencoded"},
                             "beforePrimary=1")
    check(code == 403, f"service use without the form's CSRF token is refused ({code})")
    code, _, body = raw_request(console_port, "POST", f"/referrals/{uuid.uuid4()}/service-use", form_headers, f"csrf={csrf}&beforePrimary=1")
    check(code == 404 and "existe pas ou n&#39;est pas de votre site" in body, f"service use of a referral evaluation does not know is a French 404 ({code})")
    driver.get(referral_url)
    table = driver.find_element(By.ID, "service-use-table").text
    check("Soins primaires 6 3 -3" in table, "nothing refused changed what was recorded")
    shot(driver, artefacts, "15-outcomes-service-use-fr")


def browser_session(console_port, artefacts, readme_screenshot, referrals):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1024,1366", "--lang=fr-CA"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    # axe-core over a busy caseload takes a while on a loaded machine.
    driver.set_script_timeout(180)
    axe = Axe(driver)
    console = f"http://127.0.0.1:{console_port}"
    try:
        # Signed out, the console sends the browser to the identity provider.
        driver.get(console + "/")
        check("/authorize" in driver.current_url, "signed out, / leads to the identity provider's sign-in")
        shot(driver, artefacts, "01-identity-provider")
        driver.find_element(By.ID, "username").send_keys(LINK_WORKER)
        driver.find_element(By.ID, "password").send_keys("wrong")
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        check("wrong password" in driver.page_source.lower(), "a wrong password is refused")
        driver.find_element(By.ID, "username").clear()
        driver.find_element(By.ID, "username").send_keys(LINK_WORKER)
        driver.find_element(By.ID, "password").send_keys("demo")
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))

        # French (the link worker's language, from her token and the browser's Accept-Language).
        check(driver.current_url.rstrip("/") == console, f"signed in, back at the console ({driver.current_url})")
        html = driver.find_element(By.TAG_NAME, "html")
        check(html.get_attribute("lang") == "fr", "the caseload is in French (lang=fr)")
        check(driver.find_element(By.TAG_NAME, "h1").text == "Ma file de cas", "the caseload's heading is French")
        cookies = {c["name"]: c for c in driver.get_cookies()}
        session = cookies.get("passerelle-session")
        check(session is not None and session.get("httpOnly") and session.get("sameSite") == "Lax",
              "the session cookie is HttpOnly and SameSite=Lax")
        mine = [r for r in referrals if r[1] == SITE]
        others = [r for r in referrals if r[1] != SITE]
        check("Aucune" in driver.find_element(By.ID, "mine").find_element(By.XPATH, "..").text, "nothing is hers yet: « Mes demandes » is empty")
        links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#table-new a")]
        check(len(links) == min(len(mine), PAGE_SIZE), f"« Nouvelles à mon site » shows one page of her site's {len(mine)} new referrals ({len(links)} shown)")
        first_row = driver.find_element(By.CSS_SELECTOR, "#table-new tbody tr")
        check("urgent" in (first_row.find_elements(By.TAG_NAME, "td")[1].get_attribute("class") or ""), "the urgent referral comes first")
        check("Premier contact" not in first_row.text, "a new referral has no step due yet")
        # The next page, through intake's cursor: every new referral of her site once, no other site's.
        seen = list(links)
        pages = 1
        while driver.find_elements(By.CSS_SELECTOR, "#new ~ a[rel=next]") and pages < 100:
            click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "#new ~ a[rel=next]"))
            pages += 1
            seen += [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#table-new a")]
        check(pages > 1 and sorted(seen) == sorted({link for link in seen}) and {link.rsplit("/", 1)[1] for link in seen} == {r[0] for r in mine},
              f"paging through « Nouvelles » shows each of the {len(mine)} referrals once over {pages} pages")
        check(not any(other[0] in " ".join(seen) for other in others), "no referral of another site is listed")
        check(bool(driver.find_elements(By.CSS_SELECTOR, "#new ~ a.pager:not([rel])")), "a later page links back to the first")
        axe_check(driver, axe, "caseload-page-2-fr", artefacts)
        driver.get(console + "/")
        axe_check(driver, axe, "caseload-fr", artefacts)
        shot(driver, artefacts, "02-caseload-fr")

        # A referral, accepted.
        driver.get(links[0])
        check(driver.find_element(By.TAG_NAME, "h1").text.startswith("Demande"), "the referral page is in French")
        check_screening_answers(driver, "Réponses au dépistage")
        axe_check(driver, axe, "referral-fr", artefacts)
        shot(driver, artefacts, "03-referral-fr")
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action*='/transitions'] button[value=accept]"))
        notice = driver.find_elements(By.CSS_SELECTOR, ".notice")
        check(bool(notice) and "Accepter" in notice[0].text, "accepting says it is done")
        check("Acceptée" in driver.find_element(By.TAG_NAME, "dl").text, "the referral is now accepted")
        check(bool(driver.find_elements(By.CSS_SELECTOR, "button[value=start]")), "from accepted, the next step offered is start")
        check(not driver.find_elements(By.CSS_SELECTOR, "button[value=accept]"), "accept is no longer offered")
        step = driver.find_elements(By.CSS_SELECTOR, "p.step")
        check(bool(step) and "Premier contact" in step[0].text, "once accepted, the first contact is the step due")
        axe_check(driver, axe, "referral-accepted-fr", artefacts)
        shot(driver, artefacts, "04-referral-accepted-fr")
        # Putting on hold needs a reason: the form says so (required) and intake enforces it.
        hold = driver.find_element(By.CSS_SELECTOR, "textarea[name=reason]")
        check(hold.get_attribute("required") is not None, "putting on hold asks for a reason")
        casework_walk(driver, axe, console, console_port, artefacts, links[0])

        # English, chosen with the language form, kept across pages.
        Select(driver.find_element(By.ID, "language-choice")).select_by_value("en")
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "header form[action='/language'] button"))
        check(driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en", "after choosing English the page is lang=en")
        driver.get(console + "/")
        check(driver.find_element(By.TAG_NAME, "h1").text == "My caseload", "the caseload's heading is English")
        counts = driver.find_element(By.CSS_SELECTOR, "ul.counts").text
        check("Accepted : 1" in counts and "Total : 1" in counts, f"the counts by status show her one accepted referral ({counts!r})")
        own = driver.find_elements(By.CSS_SELECTOR, "#table-mine tbody tr")
        check(len(own) == 1 and "Accepted" in own[0].text and "First contact" not in own[0].text and "by" not in own[0].text,
              f"« My referrals » shows it, its first contact met by the contact log ({own[0].text if own else 'none'!r})")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#table-new tbody tr")) == min(len(mine) - 1, PAGE_SIZE), "it is no longer among the new ones")
        Select(driver.find_element(By.ID, "status-filter")).select_by_value("completed")
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.filter button"))
        check(not driver.find_elements(By.CSS_SELECTOR, "#table-mine tbody tr") and "status=completed" in driver.current_url,
              "filtered on completed, « My referrals » is empty")
        check(driver.find_element(By.CSS_SELECTOR, "#status-filter option[selected]").get_attribute("value") == "completed", "the filter keeps its choice")
        driver.get(console + "/?status=accepted&mine=not*a*cursor")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#table-mine tbody tr")) == 1, "a made-up cursor starts at the first page")
        driver.get(console + "/")
        axe_check(driver, axe, "caseload-en", artefacts)
        shot(driver, artefacts, "05-caseload-en")
        if readme_screenshot:
            readme_screenshot.parent.mkdir(parents=True, exist_ok=True)
            driver.set_window_size(1024, 768)
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(str(readme_screenshot))
            driver.set_window_size(1024, 1366)
        driver.get(links[0])
        check("Timeline" in driver.page_source and "Contact log, newest first" in driver.page_source and "Social connection" in driver.page_source,
              "the casework reads in English")
        ucla = driver.find_element(By.ID, "outcome-ucla3").text
        check("Enrolled" in driver.find_element(By.ID, "connections-list").text
              and all(words in ucla for words in ("How often do you feel that you lack companionship?", "How often do you feel left out?",
                                                  "How often do you feel isolated from others?", "Hardly ever", "Some of the time", "Often"))
              and "Overall, how anxious did you feel yesterday?" in driver.find_element(By.ID, "outcome-ons4").text,
              "the connections and the questionnaires read in English, with UCLA-3's published wording")
        swemwbs = driver.find_element(By.ID, "outcome-swemwbs").text
        check(all(f"{n}. [TEST] Placeholder statement {n}, test text" in swemwbs for n in range(1, 8))
              and "[TEST] Énoncé" not in swemwbs and "None of the time" in swemwbs and "All of the time" in swemwbs,
              "SWEMWBS's loaded items and its scale read in English")
        choose_answers(driver, "outcome-ucla3", "follow-up-6w", [1, 1, 1])
        submit_form(driver, "outcome-ucla3")
        problem = driver.find_elements(By.ID, "outcome-ucla3-problem")
        check(bool(problem) and "already recorded at this timepoint" in problem[0].text, "the refusal reads in English")
        axe_check(driver, axe, "referral-outcome-refused-en", artefacts)
        driver.get(links[0])
        axe_check(driver, axe, "referral-casework-en", artefacts)
        shot(driver, artefacts, "10-referral-casework-en")
        driver.get(console + "/")
        new_links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#table-new a")]
        check(bool(new_links), "a new referral is still waiting")
        driver.get(new_links[0])
        check(driver.find_element(By.TAG_NAME, "h1").text.startswith("Referral"), "the referral page is in English")
        axe_check(driver, axe, "referral-en", artefacts)
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action*='/transitions'] button[value=accept]"))
        check("Accepted" in driver.find_element(By.TAG_NAME, "dl").text, "accepted in English")
        shot(driver, artefacts, "06-referral-accepted-en")
        driver.get(console + "/")
        own = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#table-mine tbody tr")]
        check(len(own) == 2 and any("First contact" in row and "by" in row for row in own),
              f"the newly accepted one shows its next step due, the first contact ({own!r})")

        # On hold, with the reason: the timeline says so, who and why.
        driver.get(new_links[0])
        driver.find_element(By.ID, "reason-hold").send_keys(HOLD_REASON)
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action*='/transitions'] button[value=hold]"))
        steps = status_steps(driver)
        check("On hold" in driver.find_element(By.TAG_NAME, "dl").text and len(steps) == 2 and "Accepted → On hold" in steps[0]
              and f"by {LINK_WORKER} (link worker) — {HOLD_REASON}" in steps[0] and "Received → Accepted" in steps[1],
              f"the link worker sees the hold in the timeline, with who and why ({steps!r})")
        check("No screening answers were sent with this referral." in driver.page_source, "a referral sent without screening answers says so")
        axe_check(driver, axe, "referral-on-hold-en", artefacts)
        shot(driver, artefacts, "20-referral-on-hold-en")

        # A referral of another site is not hers: the service says not found, and so does the page.
        driver.get(f"{console}/referrals/{others[0][0]}")
        check("does not exist or is not at your site" in driver.page_source, "another site's referral is not shown")

        # A phone-sized window still shows the caseload (the tables become stacked rows).
        driver.set_window_size(390, 844)
        driver.get(console + "/")
        axe_check(driver, axe, "caseload-phone-en", artefacts)
        shot(driver, artefacts, "07-caseload-phone-en")
        driver.get(links[0])
        axe_check(driver, axe, "referral-casework-phone-en", artefacts)
        shot(driver, artefacts, "12-referral-casework-phone-en")
        driver.set_window_size(1024, 1366)

        # The session as a careless or hostile page would use it.
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
        target = urllib.parse.urlparse(new_links[-1]).path
        status, _, _ = raw_request(console_port, "POST", target + "/transitions",
                                   {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, "action=reject&reason=x")
        check(status == 403, f"a transition without the form's CSRF token is refused (403, got {status})")
        status, _, _ = raw_request(console_port, "POST", target + "/transitions",
                                   {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, "action=reject&reason=x&csrf=forged")
        check(status == 403, f"a transition with a forged CSRF token is refused (403, got {status})")
        status, headers, _ = raw_request(console_port, "GET", "/language?lang=en&return=//evil.example/")
        check(dict(headers).get("Location") == "/", "the language switch does not redirect off the console")
        status, headers, _ = raw_request(console_port, "GET", "/", {"Cookie": "passerelle-session=made-up"})
        check(status in (302, 303) and dict(headers).get("Location", "").startswith("/sign-in"), "a made-up session is sent to sign in")
        status, _, _ = raw_request(console_port, "GET", "/auth/callback?code=stolen&state=guessed", {"Cookie": cookie})
        check(status == 400, f"a callback whose state this browser did not start is refused (400, got {status})")

        # How long the caseload takes to render (every referral of the site, through intake).
        timings = []
        for _ in range(20):
            started = time.monotonic()
            status, _, _ = raw_request(console_port, "GET", "/", {"Cookie": cookie})
            timings.append((time.monotonic() - started) * 1000)
        timings.sort()
        print(f"[browser] caseload of {len(mine)} referrals: p50 {timings[9]:.0f} ms, p95 {timings[18]:.0f} ms over 20 requests", file=sys.stderr)
        timings = []
        for _ in range(20):
            started = time.monotonic()
            status, _, _ = raw_request(console_port, "GET", urllib.parse.urlparse(links[0]).path, {"Cookie": cookie})
            timings.append((time.monotonic() - started) * 1000)
        timings.sort()
        print(f"[browser] referral page with its casework: p50 {timings[9]:.0f} ms, p95 {timings[18]:.0f} ms over 20 requests", file=sys.stderr)

        day_walk(driver, axe, console, artefacts, links[0])

        # Sign out: the session is gone, the cookie with it.
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/sign-out'] button"))
        check(driver.find_element(By.TAG_NAME, "h1").text == "You are signed out.", "signed out")
        status, headers, _ = raw_request(console_port, "GET", "/", {"Cookie": cookie})
        check(status in (302, 303), "the old session cookie no longer opens the caseload")
        driver.get(console + "/")
        check("/authorize" in driver.current_url, "after signing out, / leads to the identity provider again")

        # A referrer of the site follows her referral: its status and steps, none of the casework.
        driver.find_element(By.ID, "username").send_keys(REFERRER)
        driver.find_element(By.ID, "password").send_keys("demo")
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        own = f"{console}/referrals/{referrals[-1][0]}"
        driver.get(own)
        check(bool(driver.find_elements(By.CSS_SELECTOR, "dl")), f"the referrer opens the referral she sent ({driver.current_url})")
        check(not driver.find_elements(By.CSS_SELECTOR, "form.casework") and bool(driver.find_elements(By.ID, "timeline")),
              "a referrer sees the timeline and no casework form")
        check(not driver.find_elements(By.CSS_SELECTOR, "dl.client"), "a referrer is not shown the client's file")
        check(not driver.find_elements(By.CSS_SELECTOR, "header a[href='/directory']"), "a referrer is not offered the directory")
        driver.get(console + "/directory?need=loneliness")
        check("your role does not allow this" in driver.page_source and not driver.find_elements(By.CSS_SELECTOR, "ol.directory"),
              "the directory opened by a referrer anyway says matching refused it")
        driver.get(own)
        axe_check(driver, axe, "referral-referrer-en", artefacts)
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
        csrf = driver.find_element(By.CSS_SELECTOR, "header input[name=csrf]").get_attribute("value")
        status, _, page = raw_request(console_port, "POST", urllib.parse.urlparse(own).path + "/notes",
                                      {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                                      urllib.parse.urlencode({"csrf": csrf, "body": "Une note de la référente."}))
        check(status == 403 and "The service refused" in page, f"a note posted by a referrer anyway is intake's 403, said as such ({status})")
        check(not status_steps(driver) and "No screening answers were sent with this referral." in driver.page_source,
              "the referrer's new referral has no status step yet, and no screening answers")

        # The site's coordinator reads the same history (and the screening answers) as the link worker.
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/sign-out'] button"))
        driver.get(console + "/")
        driver.find_element(By.ID, "username").send_keys(COORDINATOR)
        driver.find_element(By.ID, "password").send_keys("demo")
        click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        driver.get(links[0])
        steps = status_steps(driver)
        check(len(steps) == 3 and "In progress → Completed" in steps[0] and "Connected to the seniors' café" in steps[0]
              and all(f"by {LINK_WORKER} (link worker)" in s for s in steps), f"the coordinator sees every status step, who and why ({steps!r})")
        check_screening_answers(driver, "Screening answers")
        audited = [item.text for item in driver.find_elements(By.CSS_SELECTOR, "ol.timeline li") if "Support level changed" in item.text]
        check(len(audited) == 1 and f"by {LINK_WORKER}" in audited[0], f"the audit trail adds who changed the support level, for the coordinator ({audited!r})")
        driver.get(new_links[0])
        steps = status_steps(driver)
        check(len(steps) == 2 and f"{HOLD_REASON}" in steps[0] and "Accepted → On hold" in steps[0], f"and the hold with its reason ({steps!r})")
        axe_check(driver, axe, "referral-coordinator-en", artefacts)
        shot(driver, artefacts, "21-referral-coordinator-en")
    finally:
        driver.quit()


def identity_provider_checks(idp_url, console_port, intake_port):
    """The provider as a careless or hostile client would use it: PKCE is required and checked,
    and the token it signs is one the services accept (roles and site from its claims)."""
    import base64
    import hashlib
    import secrets
    redirect = f"http://127.0.0.1:{console_port}/auth/callback"
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"response_type": "code", "client_id": "passerelle-console", "redirect_uri": redirect, "scope": "openid passerelle",
             "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
    port = int(urllib.parse.urlparse(idp_url).port)
    without = {k: v for k, v in query.items() if not k.startswith("code_challenge")}
    status, _, _ = raw_request(port, "GET", "/authorize?" + urllib.parse.urlencode(without))
    check(status == 400, f"the provider refuses an authorization request without PKCE (400, got {status})")
    elsewhere = dict(query, redirect_uri="http://evil.example/cb")
    status, headers, _ = raw_request(port, "GET", "/authorize?" + urllib.parse.urlencode(elsewhere))
    check(status == 400 and "Location" not in dict(headers), f"the provider never redirects to an unregistered URI (got {status})")

    def code():
        status, headers, _ = raw_request(port, "POST", "/authorize", {"Content-Type": "application/x-www-form-urlencoded"},
                                         urllib.parse.urlencode(dict(query, username="chantal.lalonde", password="demo")))
        location = dict(headers).get("Location", "")
        return urllib.parse.parse_qs(urllib.parse.urlparse(location).query).get("code", [""])[0]

    def exchange(code, code_verifier):
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": "passerelle-console",
                "code_verifier": code_verifier}
        status, _, body = raw_request(port, "POST", "/token", {"Content-Type": "application/x-www-form-urlencoded"}, urllib.parse.urlencode(form))
        return status, body

    status, _ = exchange(code(), secrets.token_urlsafe(48))
    check(status == 400, f"a code with the wrong PKCE verifier is refused (400, got {status})")
    first = code()
    status, body = exchange(first, verifier)
    check(status == 200, f"the right verifier gets a token ({status})")
    token = json.loads(body)["access_token"] if status == 200 else ""
    status, _ = exchange(first, verifier)
    check(status == 400, f"a code is good once (400, got {status})")
    status, _, body = raw_request(intake_port, "GET", "/v1/referrals", {"Authorization": f"Bearer {token}"})
    sites = {item["site"] for item in json.loads(body).get("items", [])} if status == 200 else set()
    check(status == 200 and sites == {"rural-east"}, f"intake accepts the provider's token and scopes it to its site ({status}, {sorted(sites)})")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["site"] = "ottawa-west-chc"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    status, _, _ = raw_request(intake_port, "GET", "/v1/referrals", {"Authorization": f"Bearer {header}.{forged}.{signature}"})
    check(status == 401, f"a token whose site was changed is refused (401, got {status})")


def drop_schemas(run_id):
    user, password = database_credentials()
    statements = "; ".join(f"DROP SCHEMA IF EXISTS browser_{name}_{run_id} CASCADE" for name in SERVICES + ["console"])
    subprocess.run(
        ["psql", "-h", os.environ.get("PASSERELLE_DB_HOST", "127.0.0.1"), "-p", os.environ.get("PASSERELLE_DB_PORT", "55432"),
         "-U", user, "-d", os.environ.get("PASSERELLE_DB_NAME", "passerelle"), "-qc", statements],
        env=dict(os.environ, PGPASSWORD=password), check=False, capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="where passerelle-* were built (swift build --show-bin-path)")
    parser.add_argument("--artefacts", default=str(ROOT / "test-artefacts" / "console-browser"))
    parser.add_argument("--extra-referrals", type=int, default=0, help="routine referrals added at the link worker's site (timing)")
    parser.add_argument("--readme-screenshot", default=None, help="also save the English caseload here (e.g. docs/console-caseload.png)")
    args = parser.parse_args()
    artefacts = pathlib.Path(args.artefacts)
    artefacts.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:8]
    global INTAKE_SCHEMA
    INTAKE_SCHEMA = f"browser_intake_{run_id}"
    processes = []
    try:
        console_port, idp_port = free_port(), free_port()
        idp_url = f"http://127.0.0.1:{idp_port}"
        idp_log = open(artefacts / "identity-provider.log", "w")
        idp = subprocess.Popen(
            [sys.executable, str(ROOT / "deploy" / "local" / "dev-identity-provider.py"), "--port", str(idp_port),
             "--redirect-uri", f"http://127.0.0.1:{console_port}/auth/callback"],
            env=dict(os.environ, PASSERELLE_ALLOW_DEV_SECRET="true"), stdout=idp_log, stderr=subprocess.STDOUT)
        processes.append(idp)
        ports = {}
        for service in SERVICES:
            port = free_port()
            ports[service] = port
            env = base_environment(port, f"browser_{service}_{run_id}", run_id, idp_url)
            env["PASSERELLE_EVALUATION_PSEUDONYM_KEY"] = "browser-pseudonym-key-0123456789-abcdefgh"
            # The follow-up clock looks every second, so an overdue step is raised while the browser waits.
            env["PASSERELLE_FOLLOW_UP_INTERVAL_SECONDS"] = "1"
            binary = os.path.join(args.bin, f"passerelle-{service}")
            log = open(artefacts / f"{service}.log", "w")
            if service == SERVICES[0]:
                subprocess.run([binary, "create-topics"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
            processes.append(subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT))
        env = base_environment(console_port, f"browser_console_{run_id}", run_id, idp_url)
        swemwbs_items = artefacts / "swemwbs-test-items.json"
        swemwbs_items.write_text(json.dumps(SWEMWBS_TEST_ITEMS, ensure_ascii=False), encoding="utf-8")
        env.update({
            "PASSERELLE_CONSOLE_PUBLIC_URL": f"http://127.0.0.1:{console_port}",
            "PASSERELLE_INTAKE_URL": f"http://127.0.0.1:{ports['intake']}",
            "PASSERELLE_MATCHING_URL": f"http://127.0.0.1:{ports['matching']}",
            "PASSERELLE_NOTIFICATION_URL": f"http://127.0.0.1:{ports['notification']}",
            "PASSERELLE_EVALUATION_URL": f"http://127.0.0.1:{ports['evaluation']}",
            "PASSERELLE_CONSOLE_POSTAL_AREAS": str(ROOT / "deploy" / "matching" / "postal-areas.csv"),
            "PASSERELLE_CONSOLE_SWEMWBS_ITEMS_FILE": str(swemwbs_items),
        })
        console_log = open(artefacts / "console.log", "w")
        console = subprocess.Popen([os.path.join(args.bin, "passerelle-console"), "serve"], env=env, stdout=console_log, stderr=subprocess.STDOUT)
        processes.append(console)
        if not wait_ready(f"{idp_url}/.well-known/openid-configuration", idp):
            print(f"[browser] the identity provider did not start; see {artefacts}/identity-provider.log", file=sys.stderr)
            return 1
        for service, port in ports.items():
            if not wait_ready(f"http://127.0.0.1:{port}/health/ready", processes[1 + SERVICES.index(service)]):
                print(f"[browser] {service} did not start; see {artefacts}/{service}.log", file=sys.stderr)
                return 1
        if not wait_ready(f"http://127.0.0.1:{console_port}/health/ready", console):
            print(f"[browser] the console did not start; see {artefacts}/console.log", file=sys.stderr)
            return 1
        seed_resources(ports["matching"])
        set_follow_up_policy(ports["intake"])
        referrals = submit_referrals(ports["intake"], PAGING_EXTRA + args.extra_referrals)
        started = time.monotonic()
        identity_provider_checks(idp_url, console_port, ports["intake"])
        browser_session(console_port, artefacts, pathlib.Path(args.readme_screenshot) if args.readme_screenshot else None, referrals)
        print(f"[browser] {len(FAILURES)} failed checks, {time.monotonic() - started:.1f} s in the browser; artefacts in {artefacts}", file=sys.stderr)
        return 1 if FAILURES else 0
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_schemas(run_id)


if __name__ == "__main__":
    sys.exit(main())
