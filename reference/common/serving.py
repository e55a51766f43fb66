"""How the HTTP services are served (uvicorn flags every deployment shares).

Keep-alive: a server must not close an idle connection before its clients do, or a request
sent on a connection the server is closing at that moment fails with "server disconnected"
(seen under the capacity scenario: uvicorn's default 5 s equals httpx's own 5 s). Behind the
seed's ALB (idle timeout 60 s by default) AWS asks targets to keep connections longer than the
balancer; 75 s does, and outlasts the harness's and the app's HTTP clients too.
"""

from __future__ import annotations

KEEP_ALIVE_SECONDS = 75
UVICORN_FLAGS = (f"--timeout-keep-alive={KEEP_ALIVE_SECONDS}",)
