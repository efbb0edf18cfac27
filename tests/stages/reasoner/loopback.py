"""Handle on the loopback llama server (``tests/stages/reasoner/llama_http_server.py``) started by a fixture."""

from __future__ import annotations

import subprocess

import httpx


class LoopbackServer:
    """Handle on ``tests/stages/reasoner/llama_http_server.py`` running in a subprocess."""

    def __init__(self, proc: subprocess.Popen[str], port: int):
        self.proc = proc
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"

    def control(self, path: str, payload: dict | None = None) -> dict:
        if payload is None:
            response = httpx.get(self.base_url + path, timeout=10)
        else:
            response = httpx.post(self.base_url + path, json=payload, timeout=10)
        response.raise_for_status()
        return response.json()
