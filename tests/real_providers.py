"""The real OAuth providers' documented endpoints (authorize, token, profile): what the services
must call when nothing points them at a fake (the defaults, and the ec2 overlay)."""

from __future__ import annotations

REAL_OAUTH_ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "kakao": (
        "https://kauth.kakao.com/oauth/authorize",
        "https://kauth.kakao.com/oauth/token",
        "https://kapi.kakao.com/v2/user/me",
    ),
    "naver": (
        "https://nid.naver.com/oauth2.0/authorize",
        "https://nid.naver.com/oauth2.0/token",
        "https://openapi.naver.com/v1/nid/me",
    ),
    "google": (
        "https://accounts.google.com/o/oauth2/v2/auth",
        "https://oauth2.googleapis.com/token",
        "https://openidconnect.googleapis.com/v1/userinfo",
    ),
}
