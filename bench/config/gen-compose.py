#!/usr/bin/python3
"""Generate a Compose file with N services for the `stack config -q` benchmark
(issue 3): interpolation, ports, a bind volume, environment, a healthcheck and
a depends_on chain. The file uses only what docker-compose 1.29 also accepts
(no top-level `name`, no long depends_on), so both tools load the same input.

Usage: gen-compose.py [N] > compose.yaml
"""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
out = ["services:"]
for i in range(n):
    out.append(f"  svc{i}:")
    out.append('    image: "${REGISTRY:-docker.io}/library/busybox:${TAG:-1.36}"')
    out.append('    command: ["sh", "-c", "sleep 3600"]')
    out.append("    environment:")
    out.append(f'      SERVICE_INDEX: "${{IDX_PREFIX:-n}}-{i}"')
    out.append("      MODE: production")
    out.append("    ports:")
    out.append(f'      - "{10000 + i}:80"')
    out.append("    volumes:")
    out.append("      - ./site:/www:ro")
    out.append("    restart: unless-stopped")
    out.append("    healthcheck:")
    out.append('      test: ["CMD", "true"]')
    out.append("      interval: 30s")
    if i > 0:
        out.append("    depends_on:")
        out.append(f"      - svc{i - 1}")
print("\n".join(out))
