#!/usr/bin/env python3
"""A misbehaving SUT for conformance/tests/it/sut_protocol.rs.

    misbehave.py MODE N CMD

Runs CMD (a well-behaved SUT, e.g. `warmcheck sut`) and forwards every request to it and every
reply back, until the N-th model action (a request carrying "action"), where it misbehaves:

    exit      exits with status 3 instead of answering (after a line on stderr)
    hang      never answers (sleeps 60 s, then exits)
    garbage   answers a line that is not JSON
    wrong-id  answers with another request's id
    lie       from then on, every observe reply flips the view's clean_shutdown_flag
    slow      from then on, waits 0.2 s before forwarding each model action
    chatty    after its reply, writes a line no request asked for
    protocol  answers the hello with "protocol": N (N is a version here, not an action) and
              forwards everything else
"""
import json
import subprocess
import sys
import time

mode, n, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3]
child = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
actions = 0


def forward(line):
    child.stdin.write(line)
    child.stdin.flush()
    return child.stdout.readline()


for line in sys.stdin:
    request = json.loads(line)
    if "action" in request:
        actions += 1
    now = "action" in request and actions == n
    if now and mode == "exit":
        print("misbehave.py: exiting on purpose", file=sys.stderr, flush=True)
        sys.exit(3)
    if now and mode == "hang":
        time.sleep(60)
        sys.exit(0)
    if now and mode == "garbage":
        print("this is not JSON", flush=True)
        continue
    if mode == "slow" and actions >= n and "action" in request:
        time.sleep(0.2)
    reply = forward(line)
    if mode == "protocol" and request.get("op") == "hello":
        r = json.loads(reply)
        r["protocol"] = n
        reply = json.dumps(r) + "\n"
    if now and mode == "wrong-id":
        r = json.loads(reply)
        r["id"] = request["id"] + 7
        reply = json.dumps(r) + "\n"
    if mode == "lie" and actions >= n and request.get("op") == "observe":
        r = json.loads(reply)
        active = r["view"]["active"]
        active["clean_shutdown_flag"] = not active["clean_shutdown_flag"]
        reply = json.dumps(r) + "\n"
    sys.stdout.write(reply)
    if now and mode == "chatty":
        sys.stdout.write("unasked\n")
    sys.stdout.flush()
