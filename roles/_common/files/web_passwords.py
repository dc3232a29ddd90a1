# Hash web passwords with bcrypt for a Prometheus-style web config (exporter-toolkit).
# stdin: {"users": {name: password}, "file": current web config}. stdout: {name: hash}.
# A user's current hash is kept while it still matches the password (idempotent runs).
import json
import re
import sys

import bcrypt

request = json.load(sys.stdin)
current = {}
try:
    with open(request["file"]) as fh:
        for line in fh:
            m = re.match(r'^\s+["\']?([^"\':]+)["\']?:\s*["\']?(\$2[aby]\$[^"\'\s]+)["\']?\s*$', line)
            if m:
                current[m.group(1)] = m.group(2)
except OSError:
    pass
hashed = {}
for user, password in request["users"].items():
    old = current.get(user)
    if old and bcrypt.checkpw(password.encode(), old.encode()):
        hashed[user] = old
    else:
        hashed[user] = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
print(json.dumps(hashed))
