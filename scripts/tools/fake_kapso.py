#!/usr/bin/env python3
"""A fake of Kapso's send API for benchmarks: answers every POST …/messages with a wamid
and appends one line per request to a file.   fake_kapso.py PORT SENDS_FILE"""
import http.server
import json
import sys
import threading

port, sends_path = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
count = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with lock:
            count += 1
            n = count
            with open(sends_path, "a") as sends:
                sends.write(json.dumps(json.loads(body)) + "\n")
        answer = json.dumps({"messaging_product": "whatsapp", "messages": [{"id": f"wamid.bench.{n}"}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
