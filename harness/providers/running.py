"""Servers that are already running: the URL comes from the environment, nothing is started."""

from __future__ import annotations

from harness.providers.base import Kind, Provider, ProviderError, redact
from harness.providers.kinds import spec_for


class RunningProvider(Provider):
    """A server someone else runs, found at ``WASTECOACH_*_URL`` (default: standard port).

    ``start()`` only checks that it answers; ``stop()`` leaves it alone.
    """

    mode = "running"

    def __init__(self, kind: Kind, *, url: str | None = None, timeout: float = 3.0) -> None:
        super().__init__(spec_for(kind))
        self._target = url or self.spec.configured_url()
        self.timeout = timeout

    @property
    def target(self) -> str:
        """Where the server is expected (known before ``start()``)."""
        return self._target

    def check_available(self) -> None:
        try:
            self.spec.probe(self._target, self.timeout)()
        except Exception as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ProviderError(
                f"{self.spec.title} at {redact(self._target)} does not answer ({reason}); "
                f"start it, point {self.spec.env_var} at one that does, "
                "or use mode 'ephemeral' or 'container'"
            ) from exc

    def _start(self) -> str:
        self.check_available()
        return self._target

    def _stop(self) -> None:
        """Nothing to do: the server is not ours."""
