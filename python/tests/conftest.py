"""Fixtures: the shared models (read in place), the rz CLI, and models the
tests write themselves with `rz synth`."""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python"))


def shared(rel):
    base = os.environ.get("RZ_SHARED_DIR") or os.path.join(REPO, "..", "shared")
    path = os.path.join(base, rel)
    if not os.path.exists(path):
        pytest.skip(f"shared file {rel} not found (set RZ_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def rz_cli():
    path = os.environ.get("RZ_CLI") or os.path.join(REPO, "build", "rz")
    if not os.path.exists(path):
        pytest.skip("rz CLI not found (set RZ_CLI)")
    return path


@pytest.fixture(scope="session")
def stories():
    return shared("models/stories260K.gguf")


@pytest.fixture(scope="session")
def bert():
    return shared("testdata/arch/bert.gguf")


@pytest.fixture(scope="session")
def synth_model(rz_cli, tmp_path_factory):
    """A llama-shaped Q8_0 model big enough that a token takes a few ms."""
    path = str(tmp_path_factory.mktemp("synth") / "small-q8_0.gguf")
    subprocess.run(
        [rz_cli, "synth", path, "--preset", "tiny", "--n-embd", "512", "--n-layer", "4", "--n-ff", "1408",
         "--n-head", "8", "--n-head-kv", "8", "--type", "q8_0"],
        check=True, capture_output=True,
    )
    return path


class Server:
    """`rz serve` on a free loopback port."""

    def __init__(self, rz_cli, model, *args):
        self.proc = subprocess.Popen(
            [rz_cli, "serve", "-m", model, "--host", "127.0.0.1", "--port", "0", "-t", "1", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        log = ""
        for line in self.proc.stderr:
            log += line
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if m:
                self.url = m.group(1)
                return
        raise RuntimeError(f"rz serve did not start:\n{log}")

    def post(self, route, body):
        import json
        import urllib.request

        request = urllib.request.Request(
            self.url + route, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.proc.stderr.close()


@pytest.fixture
def serve(rz_cli):
    servers = []

    def start(model, *args):
        servers.append(Server(rz_cli, model, *args))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()
