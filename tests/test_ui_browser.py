"""The Dagster UI as a researcher sees it (`make ui`): the asset graph and its checks, in Chromium.

Starts ``dagster-webserver -w workspace.yaml`` on a free loopback port with a throwaway
DAGSTER_HOME (the project's assets/instance/dagster.yaml, as ``make ui`` uses), asks the GraphQL
API for the assets and their checks, then opens the pseudonymised group's lineage page in headless
Debian Chromium and checks the rendered page shows every table and its asset checks. The
screenshot is kept in tests/artifacts/ui_asset_graph.png. The server is always stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
SCREENSHOT = ARTIFACTS / "ui_asset_graph.png"
GROUP = "pseudonymised"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]

ASSETS_QUERY = """
{ assetNodes { assetKey { path } groupName
    assetChecksOrError { __typename ... on AssetChecks { checks { name } } } }
  workspaceOrError { ... on Workspace { locationEntries { name } } } }
"""


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True,
                       timeout=600)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("Debian chromium is not installed and could not be (make system-deps)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert "errors" not in body, body["errors"]
    return body["data"]


@pytest.fixture(scope="module")
def webserver():
    """``dagster-webserver`` on a free loopback port; its whole process group is killed at the end."""
    home = Path(tempfile.mkdtemp(prefix="fsp-ui-home-"))
    shutil.copy(REPO / "assets" / "instance" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DAGSTER_DISABLE_TELEMETRY": "1",
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    env.pop("FSP_PSEUDONYMISATION_KEY", None)  # the UI must load without the key
    log = open(home / "webserver.log", "w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"dagster-webserver exited: {(home / 'webserver.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("dagster-webserver did not answer within 60 s")
                time.sleep(0.5)
        # The community sign-up dialog would cover the graph on a first visit from localhost.
        assert _graphql(base, "mutation { setNuxSeen }")["setNuxSeen"] is True
        yield base
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def graph(webserver) -> dict:
    data = _graphql(webserver, ASSETS_QUERY)
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    (location,) = [e["name"] for e in data["workspaceOrError"]["locationEntries"]]
    return {"nodes": nodes, "location": location}


def test_graphql_lists_the_door_tables_and_their_checks(graph):
    from assets.ingest import DOOR_TABLES

    nodes = graph["nodes"]
    door = {f"{GROUP}/{name}" for name in DOOR_TABLES}
    assert door <= set(nodes)
    assert {nodes[key]["groupName"] for key in door} == {GROUP}
    checks = {key: [c["name"] for c in n["assetChecksOrError"].get("checks", [])]
              for key, n in nodes.items()}
    assert sum(map(len, checks.values())) > 0, "no asset checks are defined"
    assert all(n["assetChecksOrError"]["__typename"] == "AssetChecks" for n in nodes.values())


def test_asset_graph_page_renders_in_chromium(webserver, graph, tmp_path):
    from PIL import Image

    from assets.ingest import DOOR_TABLES

    chromium = _chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    url = f"{webserver}/locations/{graph['location']}/asset-groups/{GROUP}"
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1400,10000", "--virtual-time-budget=20000",
         f"--screenshot={SCREENSHOT}", "--dump-dom", url],
        capture_output=True, text=True, timeout=80)
    dom = done.stdout
    print(f"screenshot: {SCREENSHOT}")
    assert SCREENSHOT.exists(), done.stderr[-2000:]

    # Every door table is drawn as a node of the graph, each with its asset-checks row.
    missing = [name for name in DOOR_TABLES if f">{name}<" not in dom]
    assert not missing, f"asset graph lacks nodes for {missing}"
    with_checks = [key for key in (f"{GROUP}/{n}" for n in DOOR_TABLES)
                   if graph["nodes"][key]["assetChecksOrError"].get("checks")]
    assert dom.count("Asset checks") >= len(with_checks)
    assert "Join the Dagster community" not in dom

    # The screenshot shows a drawn page, not a blank or single-colour one.
    image = Image.open(SCREENSHOT).convert("RGB")
    assert image.size == (1400, 10000)
    colours = image.getcolors(maxcolors=1 << 20)
    top_share = max(count for count, _ in colours) / (image.size[0] * image.size[1])
    assert len(colours) > 50 and top_share < 0.95
