"""The live dashboard at ``/`` of ``wirestream serve``, in headless Chromium, as a person
would see it: a real broker, a real worker, ``wirestream serve``; articles posted after
the page has loaded appear live with their entities highlighted, a dead-lettered input
appears with its reason, the chart has data. A screenshot is saved in the test's temp dir.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them); never skipped.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from streams.broker import LocalBroker
from streams.settings import Settings
from streams.topics import ARTICLES
from tests.helpers import ROOT, create_topics, free_port, new_broker, start_worker, worker_env

ARTICLES_POSTED = [
    {
        "headline": "Angela Merkel meets Emmanuel Macron in Paris",
        "body": "Angela Merkel met Emmanuel Macron in Paris on Tuesday to discuss trade.",
        "source": "desk-test",
    },
    {
        "headline": "Floods in Bangladesh displace thousands",
        "body": "Heavy floods in Bangladesh displaced thousands of people, officials said.",
        "source": "desk-test",
    },
]


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    local = new_broker(tmp_path_factory.mktemp("ops-dash-broker"), port=free_port())
    local.start()
    try:
        yield local
    finally:
        local.stop()


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def test_dashboard_shows_articles_dead_letters_and_chart_live(
    own_broker: LocalBroker, tmp_path: Path
) -> None:
    env = worker_env(own_broker.url, tmp_path / "data", WIRESTREAM_APP_ID="ops-dash")
    settings = Settings(broker=env["WIRESTREAM_BROKER"])
    create_topics(settings)
    worker = start_worker(env, tmp_path / "worker.log")
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    driver = None
    try:
        deadline = time.monotonic() + 60
        while b"listening on" not in log.read_bytes():
            assert serve.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        driver = browser()
        driver.get(base + "/")
        wait = WebDriverWait(driver, 90, poll_frequency=0.2)
        wait.until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "yes"
        )
        assert "Wirestream" in driver.title

        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
            base + "/v1/articles",
            data=orjson.dumps(ARTICLES_POSTED),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            assert response.status == 202

        async def bad() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
            await producer.start()
            try:
                await producer.send_and_wait(ARTICLES, b"{broken", key=b"desk-bad")
            finally:
                await producer.stop()

        asyncio.run(bad())

        def headlines(d: webdriver.Chrome) -> list[str]:
            return [e.text for e in d.find_elements(By.CSS_SELECTOR, "#feed .headline")]

        wait.until(lambda d: len(headlines(d)) >= 2)
        assert sorted(headlines(driver)) == sorted(a["headline"] for a in ARTICLES_POSTED)
        marked = {
            (e.text, e.get_attribute("data-label"))
            for e in driver.find_elements(By.CSS_SELECTOR, "#feed .headline .ent")
        }
        assert ("Angela Merkel", "PERSON") in marked
        assert ("Paris", "GPE") in marked
        assert ("Bangladesh", "GPE") in marked

        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dead .dead"))
        (dead,) = driver.find_elements(By.CSS_SELECTOR, "#dead .dead")
        assert dead.find_element(By.TAG_NAME, "code").text == "invalid_json"
        assert "not valid JSON" in dead.text

        bars = driver.find_elements(By.CSS_SELECTOR, "#chart rect")
        counts = {b.get_attribute("data-topic"): int(b.get_attribute("data-count")) for b in bars}
        assert counts and all(n >= 1 for n in counts.values())
        assert sum(counts.values()) >= 2  # both articles reach at least one routed topic
        driver.save_screenshot(str(tmp_path / "dashboard.png"))
        assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    finally:
        if driver is not None:
            driver.quit()
        serve.terminate()
        try:
            serve.wait(timeout=15)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
        worker.stop()
