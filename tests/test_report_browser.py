"""The HTML report in a real headless browser (Debian's chromium, driven over DevTools).

The browser loads the report as a person would open it (``file://``), and the test reads
back through the Chrome DevTools Protocol, over a pipe (no network, no extra package):
every console message and uncaught exception, every network request, and each image's
decoded size. The report must load without a console error, request nothing, run no
script, and show every plot with a non-zero size. Chromium is found on the PATH; if it
is missing and the test runs as root where apt-get exists, it is installed from Debian's
packages; only if that is impossible is the test skipped.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from gradfit import GDRegressor
from gradfit.report import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_browser()
    if path is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=300, check=False)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "chromium"],
                env=env,
                timeout=600,
                check=False,
                stdout=subprocess.DEVNULL,
            )
        path = find_browser()
    if path is None:
        pytest.skip("no chromium, and it cannot be installed here (needs root and apt-get)")
    return path


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fds 3 and 4)."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()

        def child_fds() -> None:  # runs in the child between fork and exec
            a = fcntl.fcntl(to_child, fcntl.F_DUPFD_CLOEXEC, 10)
            b = fcntl.fcntl(from_child, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,
            close_fds=False,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> Any:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        reply = self.wait(lambda m: m.get("id") == self._id, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait(self, done: Any, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if done(message):
                    return message
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._read], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("the browser did not answer in time")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise EOFError("the browser exited")
            self._buffer += chunk

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=10)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        os.close(self._write)
        os.close(self._read)


@contextlib.contextmanager
def open_page(binary: str, page: Path, tmp: Path) -> Iterator[DevTools]:
    tools = DevTools(binary, tmp / "profile")
    try:
        target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        tools.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.send(f"{domain}.enable")
        tools.send("Page.navigate", {"url": page.resolve().as_uri()})
        tools.wait(lambda m: m.get("method") == "Page.loadEventFired")
        yield tools
    finally:
        tools.close()


IMAGES = """JSON.stringify(Array.from(document.images).map(i => ({
    complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
    shown: i.getBoundingClientRect().width * i.getBoundingClientRect().height})))"""


def inspect(tools: DevTools, page: Path, tmp: Path) -> dict[str, Any]:
    """Everything the test needs to know about the loaded page."""

    def evaluate(expression: str) -> Any:
        reply = tools.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return reply["result"]["value"]

    images = json.loads(evaluate(IMAGES))
    shot = tools.send("Page.captureScreenshot", {"format": "png"})["data"]
    (tmp / f"{page.stem}.png").write_bytes(base64.b64decode(shot))
    errors = []
    requests = []
    for event in tools.events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(str(params.get("args")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text", ""))
        elif method == "Page.javascriptDialogOpening":
            errors.append(f"dialog: {params.get('message')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith("data:") and url != page.resolve().as_uri():
                requests.append(url)
    return {
        "images": images,
        "errors": errors,
        "requests": requests,
        "scripts": evaluate("document.scripts.length"),
        "text": evaluate("document.body.innerText"),
        "screenshot": len(shot),
    }


def check(result: dict[str, Any], html: str) -> None:
    assert result["errors"] == []
    assert result["requests"] == []
    assert result["scripts"] == 0
    assert len(result["images"]) == html.count("<img") > 0
    for image in result["images"]:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
        assert image["shown"] > 0, image
    assert result["screenshot"] > 1000


def test_demo_report_in_a_browser(browser, tmp_path) -> None:
    """`gradfit demo` (what `make run` runs) writes the report; the browser shows all of it."""
    out = subprocess.run(
        [sys.executable, "-m", "gradfit.cli", "demo", "--report", "demo.html"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Report: wrote demo.html" in out.stdout
    page = tmp_path / "demo.html"
    html = page.read_text(encoding="utf-8")
    with open_page(browser, page, tmp_path) as tools:
        result = inspect(tools, page, tmp_path)
    check(result, html)
    # diabetes: loss, coefficient plot, residuals, sweep; linnerud: loss, loss per target,
    # 3 residuals, sweep
    assert len(result["images"]) == 10
    text = result["text"]
    for heading in (
        "Data",
        "Fit",
        "Loss curve",
        "Coefficients",
        "Inference",
        "Residuals",
        "In short",
    ):
        assert heading in text
    assert "gradfit diagnosis (N=442, D=10, K=1)" in text
    assert "linnerud" in text and "Weight" in text and "Pulse" in text


def test_hostile_names_are_shown_not_run(browser, tmp_path) -> None:
    diabetes = load_diabetes(as_frame=True)
    frame = diabetes.data.iloc[:, :3].copy()
    evil = ["<img src=x onerror=alert(1)>", "</table><script>alert(2)</script>", "a&b 'c' \"d\""]
    frame.columns = evil
    model = GDRegressor().fit(frame.to_numpy(), diabetes.target.to_numpy())
    page = write_report(
        tmp_path / "hostile.html",
        model,
        frame.to_numpy(),
        pd.Series(diabetes.target.to_numpy()),
        feature_names=evil,
        target_names=["<b>y</b>"],
        name="<i>data</i>.csv",
        explanation=False,
    )
    html = page.read_text(encoding="utf-8")
    assert "<script>" not in html and "<img src=x" not in html
    with open_page(browser, page, tmp_path) as tools:
        result = inspect(tools, page, tmp_path)
    check(result, html)
    assert len(result["images"]) == 2  # loss curve and residuals: nothing injected
    for name in [*evil, "<b>y</b>", "<i>data</i>.csv"]:
        assert name in result["text"]
    assert np.isfinite(model.coef_).all()
