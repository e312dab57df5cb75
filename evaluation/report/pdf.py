"""``report.pdf``: the HTML report printed by headless Chromium, with its print stylesheet.

The print stylesheet of ``templates/report.html.j2`` gives A4 pages, a page break before each
part, and a running header with the extract date and the key fingerprint (CSS page-margin
boxes, which Chromium's print engine renders). Name resolution is disabled while printing, so a
report that needed the network could not be printed complete.

Chromium is driven over its DevTools pipe (``--remote-debugging-pipe``: two file descriptors, no
port, no network), so that it can be started before the report exists: :func:`start_chromium`
launches it while the release's figures are drawn (its start-up, about a second of a browser's
profile, WebUI and extensions, then overlaps them), and :meth:`Chromium.print_pdf` loads the
report and prints it with the settings of Chromium's own ``--print-to-pdf`` (background graphics,
the CSS page size, no header or footer): the same PDF, byte for byte apart from its creation date.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import tempfile
import time
from pathlib import Path

#: Flags of every headless Chromium run: no network, no profile left behind, no default header.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND")

#: What Chromium's ``--print-to-pdf --no-pdf-header-footer`` asks its print engine for.
PRINT_SETTINGS = {"printBackground": True, "preferCSSPageSize": True, "displayHeaderFooter": False}


class PdfUnavailable(RuntimeError):
    """No Chromium to print with, or it did not write a PDF."""


#: Executables tried in turn. Debian's ``chromium-headless-shell`` (the same Chromium's print engine
#: without the browser around it) prints the same pages and text; on the small test county's report
#: it took ~2.7 s of CPU and 0.6 s to start against ~4.1 s and ~2 s for ``chromium`` (whose
#: headless mode starts the whole browser: its profile, WebUI pages, extensions, update checks).
CHROMIUM_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The Chromium executable (``FSP_CHROMIUM`` if set, else the first of :data:`CHROMIUM_NAMES`
    on the ``PATH``), or None."""
    named = os.environ.get("FSP_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    return next((found for found in map(shutil.which, CHROMIUM_NAMES) if found), None)


class Chromium:
    """A headless Chromium started now, answering DevTools commands on a pipe; prints one report.

    Use as a context manager (or call :meth:`close`): the process is always waited for (killed
    if it does not end) and its temporary profile removed.
    """

    def __init__(self, chromium: str | None = None, timeout: float = 180):
        chromium = chromium or find_chromium()
        if chromium is None:
            raise PdfUnavailable("Chromium was not found (install Debian's chromium-headless-shell or chromium, "
                                 "or set FSP_CHROMIUM)")
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="fsp-chromium-")
        self._stderr = tempfile.TemporaryFile(prefix="fsp-chromium-stderr-")
        self._buffer, self._next_id, self.pid = b"", 0, None
        # Chromium reads commands on its fd 3 and answers on fd 4. posix_spawn puts the pipes
        # there without running Python code in the child (safe beside the caller's threads); the
        # ends are first moved above 4 so that placing one cannot close the other.
        to_chromium, from_us = os.pipe()
        to_us, from_chromium = os.pipe()
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chromium, from_chromium)]
        for fd in (to_chromium, from_chromium):
            os.close(fd)
        try:
            with open(os.devnull, "rb") as null:
                self.pid = os.posix_spawn(chromium, [
                    chromium, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-pipe",
                    "about:blank"], os.environ, file_actions=[
                    (os.POSIX_SPAWN_DUP2, null.fileno(), 0), (os.POSIX_SPAWN_DUP2, null.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, self._stderr.fileno(), 2),
                    (os.POSIX_SPAWN_DUP2, high[0], 3), (os.POSIX_SPAWN_DUP2, high[1], 4)])
        except OSError as error:
            os.close(from_us)
            os.close(to_us)
            self._cleanup()
            raise PdfUnavailable(f"Chromium could not be started: {error}") from error
        finally:
            for fd in high:
                os.close(fd)
        self._send_fd, self._receive_fd = from_us, to_us

    # ------------------------------------------------------------------ the DevTools pipe

    def _fail(self, why: str) -> PdfUnavailable:
        self._stderr.seek(0)
        tail = self._stderr.read()[-1000:].decode("utf-8", "replace")
        return PdfUnavailable(f"Chromium wrote no PDF ({why}): {tail}")

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._receive_fd], [], [], left)[0]:
                raise self._fail(f"no answer within {self.timeout:.0f} s")
            chunk = os.read(self._receive_fd, 1 << 20)
            if not chunk:
                raise self._fail("it ended")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def _call(self, method: str, params: dict | None = None, session: str | None = None,
              deadline: float | None = None, events: list | None = None) -> dict:
        """Send one command and return its result; events read meanwhile go to ``events``."""
        deadline = deadline or time.monotonic() + self.timeout
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._send_fd, data):]
        except OSError as error:
            raise self._fail(f"{method}: {error}") from error
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise self._fail(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            if events is not None:
                events.append(answer)

    # ------------------------------------------------------------------ printing

    def print_pdf(self, html_path: str | Path, pdf_path: str | Path) -> Path:
        """Load ``html_path`` in the page Chromium opened, print it to ``pdf_path`` (written whole,
        then moved into place) and ask Chromium to close; raises :class:`PdfUnavailable`."""
        html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path)
        pdf_path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.timeout
        pages = [t for t in self._call("Target.getTargets", deadline=deadline)["targetInfos"] if t["type"] == "page"]
        if pages:
            target = pages[0]["targetId"]
        else:
            target = self._call("Target.createTarget", {"url": "about:blank"}, deadline=deadline)["targetId"]
        session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True},
                             deadline=deadline)["sessionId"]
        self._call("Page.enable", session=session, deadline=deadline)
        events: list[dict] = []
        navigation = self._call("Page.navigate", {"url": html_path.as_uri()}, session=session, deadline=deadline,
                                events=events)
        if navigation.get("errorText"):
            raise self._fail(f"{html_path.name} did not load: {navigation['errorText']}")
        while not any(e.get("method") == "Page.loadEventFired" and e.get("sessionId") == session for e in events):
            events.append(self._receive(deadline))
        stream = self._call("Page.printToPDF", {**PRINT_SETTINGS, "transferMode": "ReturnAsStream"},
                            session=session, deadline=deadline)["stream"]
        partial = pdf_path.with_suffix(".pdf.partial")
        try:
            with open(partial, "wb") as out:
                while True:
                    chunk = self._call("IO.read", {"handle": stream, "size": 1 << 22}, session=session,
                                       deadline=deadline)
                    data = chunk.get("data", "")
                    out.write(base64.b64decode(data) if chunk.get("base64Encoded") else data.encode("latin-1"))
                    if chunk.get("eof"):
                        break
            if not partial.read_bytes()[:4] == b"%PDF":
                raise self._fail("what it printed is not a PDF")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, pdf_path)
        try:
            self._call("Browser.close", deadline=deadline)
        except PdfUnavailable:
            pass                                     # it may end before answering
        return pdf_path

    def close(self) -> None:
        """Wait for Chromium to end (killed after a few seconds, or at once if it was not asked
        to close) and remove its profile."""
        if self.pid is not None:
            for fd in (self._send_fd, self._receive_fd):
                os.close(fd)                         # Chromium ends when its pipe closes
            deadline = time.monotonic() + 10
            while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(self.pid, 9)
                    os.waitpid(self.pid, 0)
                    break
                time.sleep(0.02)
            self.pid = None
        self._cleanup()

    def _cleanup(self) -> None:
        self._stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_chromium(chromium: str | None = None, timeout: float = 180) -> Chromium:
    """A headless Chromium started now (raises :class:`PdfUnavailable` when there is none), to
    print a report that is still being written: see :meth:`Chromium.print_pdf`."""
    return Chromium(chromium, timeout)


def render_pdf(html_path: str | Path, pdf_path: str | Path, chromium: str | None = None,
               timeout: float = 180) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium; raises :class:`PdfUnavailable`."""
    with Chromium(chromium, timeout) as browser:
        return browser.print_pdf(html_path, pdf_path)
