#!/usr/bin/env bash
# Builds the Teams app package: fills in the bot's Microsoft App ID and the server's domain, then zips the manifest
# with its two icons. Upload the zip in Teams (Apps -> Manage your apps -> Upload an app) or the Teams admin center.
# Usage: APP_ID=<microsoft-app-id> DOMAIN=approvals.example.com bash manifest/teams/package.sh [output.zip]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${APP_ID:?set APP_ID to the bot's Microsoft App ID}"
: "${DOMAIN:?set DOMAIN to the server's public host name, e.g. approvals.example.com}"
out="${1:-$here/agentsentinel-teams.zip}"
python3 - "$here" "$out" "$APP_ID" "$DOMAIN" <<'PY'
import json, re, sys, zipfile
here, out, app_id, domain = sys.argv[1:5]
if not re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", app_id):
    sys.exit(f"APP_ID must be a GUID (the bot's Microsoft App ID), got {app_id!r}")
if not re.fullmatch(r"[A-Za-z0-9.-]+", domain):
    sys.exit(f"DOMAIN must be a host name without scheme or path, got {domain!r}")
text = open(f"{here}/manifest.json", encoding="utf-8").read().replace("{{APP_ID}}", app_id).replace("{{DOMAIN}}", domain)
json.loads(text)  # still valid JSON
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("manifest.json", text)
    z.write(f"{here}/color.png", "color.png")
    z.write(f"{here}/outline.png", "outline.png")
print(out)
PY
