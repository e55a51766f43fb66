"""What AWS S3 enforces on a browser-style pre-signed POST and moto's server does not: this WSGI
middleware in front of moto checks it, so the upload limits the README claims are checked here.

moto stores any POSTed form whatever its policy says (seen with moto 5.2: a 1000-byte file
under ``content-length-range`` 1-100 and another ``Content-Type`` than the policy's were both
stored). AWS refuses, and so does this fake, before moto sees the request:

- a policy whose SigV4 signature is wrong (computed here with the fake's dummy secret key);
- an expired policy (``expiration``);
- a file outside ``content-length-range`` (400 ``EntityTooLarge`` / ``EntityTooSmall``);
- a form field that fails its ``eq`` or ``starts-with`` condition (``bucket``, ``key``,
  ``Content-Type`` ...), or a field the policy does not mention (403 ``AccessDenied``).

Nor does moto read a POST's ``tagging`` field (moto 5.2.5 stores the object untagged); AWS tags
the object with it. The fake does too: once moto has stored the object, it puts the field's XML
Tagging document on it (a PutObjectTagging to moto), so the app's pending tag is there to read.

Not emulated: policies of other condition kinds than these, ``success_action_*`` redirects,
POSTs signed with SigV2. Pre-signed PUTs (no longer used by the app) are still not verified.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import quote

from werkzeug.formparser import parse_form_data
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Fields that need no condition (AWS's rule).
EXEMPT = {"policy", "x-amz-signature", "file"}
SPOOL_BYTES = 1024 * 1024  # bodies above this go to a temporary file, not memory


class PolicyRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{self.code}</Code>'
            f"<Message>{self.message}</Message></Error>"
        )
        return Response(body, status=self.status, mimetype="application/xml")


def _denied(message: str) -> PolicyRefused:
    return PolicyRefused(403, "AccessDenied", f"Invalid according to Policy: {message}")


def signature(secret_key: str, policy_b64: str, credential: str) -> str:
    """SigV4 of a POST policy: HMAC chain over date, region, service, then the policy."""
    _, date, region, service, _ = credential.split("/")
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()


def _condition(condition: Any) -> tuple[str, str, Any]:
    """A condition as (operator, field, value); field names are lower case."""
    if isinstance(condition, dict):
        ((name, value),) = condition.items()
        return "eq", name.lower(), value
    operator, first, *rest = condition
    if operator == "content-length-range":
        return operator, "", (int(first), int(rest[0]))
    return operator.lower(), first.lstrip("$").lower(), rest[0]


def check(
    policy_b64: str, fields: dict[str, str], *, file_size: int, bucket: str, secret_key: str
) -> None:
    """Raise :class:`PolicyRefused` unless AWS would accept this POST."""
    expected = signature(secret_key, policy_b64, fields.get("x-amz-credential", "////"))
    if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
        raise PolicyRefused(
            403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
        )
    policy = json.loads(base64.b64decode(policy_b64))
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    if expires < datetime.now(UTC):
        raise _denied("Policy expired.")
    values = {**fields, "bucket": bucket}
    covered = {"bucket"}
    for raw in policy.get("conditions", []):
        operator, name, value = _condition(raw)
        if operator == "content-length-range":
            low, high = value
            if file_size > high:
                raise PolicyRefused(
                    400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
                )
            if file_size < low:
                raise PolicyRefused(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                )
            continue
        covered.add(name)
        actual = values.get(name, "")
        if operator == "eq" and actual != value:
            raise _denied(f'Policy Condition failed: ["eq", "${name}", "{value}"]')
        if operator == "starts-with" and not actual.startswith(value):
            raise _denied(f'Policy Condition failed: ["starts-with", "${name}", "{value}"]')
    extra = sorted(
        set(fields) - covered - EXEMPT - {f for f in fields if f.startswith("x-ignore-")}
    )
    if extra:
        raise _denied(f"Extra input fields: {', '.join(extra)}")


class PostPolicy:
    """WSGI middleware: multipart POSTs to a bucket carrying a ``policy`` are checked as AWS
    checks them, then passed on to moto unchanged; everything else passes straight through."""

    def __init__(self, app: WSGIApp, *, secret_key: str) -> None:
        self.app = app
        self.secret_key = secret_key

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        content_type = environ.get("CONTENT_TYPE", "")
        if environ["REQUEST_METHOD"] != "POST" or not content_type.startswith(
            "multipart/form-data"
        ):
            return self.app(environ, start_response)
        body = self._spool(environ)
        try:
            fields, refused = self._checked(environ, body)
        finally:
            body.seek(0)
        if refused is not None:
            body.close()
            return refused.response()(environ, start_response)
        environ["wsgi.input"] = body
        if "tagging" not in fields:
            return self.app(environ, start_response)
        return self._store_then_tag(environ, fields)(environ, start_response)

    def _store_then_tag(self, environ: dict[str, Any], fields: dict[str, str]) -> Response:
        """moto's answer to the POST, after the stored object was given the form's tags (or
        moto's answer to the tagging, when it refused it)."""
        answer = Response.from_app(self.app, environ, buffered=True)
        if answer.status_code >= 300:
            return answer
        bucket = _bucket(environ)
        tagging = EnvironBuilder(
            base_url=f"{environ['wsgi.url_scheme']}://{environ.get('HTTP_HOST', 'localhost')}",
            path=f"/{bucket}/{quote(fields['key'])}",
            method="PUT",
            query_string="tagging",
            data=fields["tagging"].encode(),
            content_type="application/xml",
            # moto finds the service and region in the credential scope (the POST's, which the
            # policy's signature covered) and checks no signature.
            headers={
                "Authorization": f"AWS4-HMAC-SHA256 Credential={fields['x-amz-credential']}, "
                f"SignedHeaders=host, Signature={'0' * 64}"
            },
        ).get_environ()
        tagged = Response.from_app(self.app, tagging, buffered=True)
        return answer if tagged.status_code < 300 else tagged

    @staticmethod
    def _spool(environ: dict[str, Any]) -> IO[bytes]:
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115  # handed on
        source = environ["wsgi.input"]
        left = int(environ.get("CONTENT_LENGTH") or 0)
        while left > 0:
            chunk = source.read(min(left, 64 * 1024))
            if not chunk:
                break
            body.write(chunk)
            left -= len(chunk)
        body.seek(0)
        return body

    def _checked(
        self, environ: dict[str, Any], body: IO[bytes]
    ) -> tuple[dict[str, str], PolicyRefused | None]:
        """The form's fields (lower-case names), and why AWS would refuse the POST (None: it
        would not, or it is no browser POST, which moto answers as it would)."""
        parsing = {**environ, "wsgi.input": body}
        _, form, files = parse_form_data(parsing)
        fields = {name.lower(): value for name, value in form.items()}
        if "policy" not in fields:
            return {}, None
        upload = files.get("file")
        size = 0
        if upload is not None:
            upload.stream.seek(0, 2)
            size = upload.stream.tell()
        try:
            check(
                fields["policy"],
                fields,
                file_size=size,
                bucket=_bucket(environ),
                secret_key=self.secret_key,
            )
        except PolicyRefused as exc:
            return fields, exc
        except (ValueError, KeyError, TypeError):
            return fields, _denied("Policy could not be read.")
        return fields, None


def _bucket(environ: dict[str, Any]) -> str:
    """The bucket of a path-style request (``/bucket/...``)."""
    return str(environ.get("PATH_INFO", "/")).strip("/").split("/")[0]


def serve(host: str, port: int, *, secret_key: str, fd: int | None = None) -> None:
    """moto's S3 app behind :class:`PostPolicy`, served as ``python -m moto.server`` serves it
    (threaded werkzeug, moto's request handler) until the process is killed; on the inherited
    listening socket ``fd`` when given (bound to ``host:port`` by the parent)."""
    import os

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    os.environ.setdefault("MOTO_PORT", str(port))
    app = PostPolicy(DomainDispatcherApplication(create_backend_app), secret_key=secret_key)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler, fd=fd)
    server.serve_forever()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m harness.mocks.s3_post_policy")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--secret-key", default="testing")
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    args = parser.parse_args()
    serve(args.host, args.port, secret_key=args.secret_key, fd=args.fd)
