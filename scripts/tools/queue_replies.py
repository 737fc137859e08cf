#!/usr/bin/env python3
"""Queues COUNT replies through the API (to the newest leads, one each) and reports how
long queueing took (p50/p95 per request) and when the fake Kapso had received them all.
   queue_replies.py BASE_URL TOKEN COUNT SENDS_FILE"""
import http.client
import json
import sys
import time
import urllib.parse

base, token, count, sends_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
url = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port)
headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
leads, cursor = [], None
while len(leads) < count:
    path = "/api/v1/leads?limit=500" + (f"&cursor={cursor}" if cursor else "")
    conn.request("GET", path, headers=headers)
    page = json.loads(conn.getresponse().read())
    leads += [lead["id"] for lead in page["leads"]]
    cursor = page.get("next_cursor")
    if not cursor:
        break
leads = (leads * (count // max(len(leads), 1) + 1))[:count]
latencies = []
start = time.monotonic()
for i, lead in enumerate(leads):
    t = time.monotonic()
    conn.request("POST", f"/api/v1/leads/{lead}/replies", body=json.dumps({"text": f"Halo, reply {i}"}), headers=headers)
    response = conn.getresponse()
    response.read()
    if response.status != 202:
        sys.exit(f"reply {i}: {response.status}")
    latencies.append((time.monotonic() - t) * 1000)
queued = time.monotonic() - start


def sent():
    try:
        with open(sends_path) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


while sent() < count:
    time.sleep(0.01)
total = time.monotonic() - start
latencies.sort()
print(f"queue (POST → 202 committed): p50 {latencies[len(latencies) // 2]:.1f} ms, "
      f"p95 {latencies[int(len(latencies) * 0.95)]:.1f} ms over {count} replies")
print(f"all {count} received by the fake Kapso after {total:.2f} s: {count / total:.0f} replies/s "
      f"(queueing alone took {queued:.2f} s)")
