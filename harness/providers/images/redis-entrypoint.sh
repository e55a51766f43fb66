#!/bin/sh
# Redis from the host's Debian binary, like the official image: no persistence, every address
# (the container is reached only through its mapped port).
exec /usr/bin/redis-server --bind 0.0.0.0 --protected-mode no --save '' --appendonly no
