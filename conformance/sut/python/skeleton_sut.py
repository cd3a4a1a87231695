#!/usr/bin/env python3
"""A skeleton SUT adapter: the SUT protocol of docs/sut-protocol.md with every request stubbed.

Copy this file to start an adapter for your own engine. It already speaks the protocol: it
answers the handshake, keeps the shape `reset` asks for, and answers `observe` with the view of
a freshly created bucket, so `warmcheck conform --sut 'python3 skeleton_sut.py'` runs against it
at once and stops at the first action with a mismatch ("refused: not implemented: set"). Replace
each TODO with a call into your engine, one at a time; conform tells you the next one to do.

Every TODO names the section of docs/sut-protocol.md that says what the request means and what
the reply must carry. The complete example (an engine in memory, every request answered) is
conformance/sut/python/warmcheck_sut.py.

Standard library only. stdout is the protocol: write logs to stderr.
With `conform --jobs N` every child gets its job index in the environment variable
WARMCHECK_JOB_INDEX (0 .. N-1), and `{job}` in the --sut command is replaced by it: use it to
give each child its own data directory.
"""

import json
import os
import sys

# The skeleton speaks protocol version 1 on purpose. Version 2 only adds failover (the requests
# `fail_over` and `add_back`, below); answering 2 promises them, and warmcheck would then drive
# this adapter at `--failovers N` too, where the stubs could only refuse. Version 1 is what a
# new adapter can honestly claim: conform runs it at failovers=0 (the default) and refuses it,
# with a message naming version 2, when asked for failovers. Once your engine does the two
# failover requests, make this 2 (warmcheck offers [1, 2] and takes the version answered).
PROTOCOL_VERSION = 1
NAME = "skeleton-sut 0.1 (conformance/sut/python/skeleton_sut.py: every request a stub)"

# The one design your engine implements (docs/sut-protocol.md, "Handshake: hello"): these are
# the knobs of `current`. Or "all" if your engine implements every design.
DESIGNS = [
    {
        "persist_entry": "sync-flush",
        "shutdown_flag": "after-flush",
        "rollback_retry": "if-entry-at-start",
        "stop_warmup": "in-initiate-shutdown",
    }
]

JOB_INDEX = os.environ.get("WARMCHECK_JOB_INDEX", "0")


class Refused(Exception):
    """The engine refuses the call: reply `"ok":false,"refused":...` (docs/sut-protocol.md,
    "One request per model action"). A refusal must change nothing."""


class ProtocolError(Exception):
    """The request cannot be served at all: reply `"ok":false,"error":...`; warmcheck exits 2
    (docs/sut-protocol.md, "Errors")."""


def not_implemented(req):
    raise Refused("not implemented: %s (TODO in skeleton_sut.py)" % req["op"])


class Adapter:
    def __init__(self):
        self.shape = None  # (vbuckets, replicas, keys), from `reset`

    # -- docs/sut-protocol.md, "Handshake: hello" -------------------------------------------------

    def op_hello(self, req):
        if PROTOCOL_VERSION not in req.get("protocol", []):
            raise ProtocolError("this SUT speaks protocol %d only" % PROTOCOL_VERSION)
        # TODO: your engine's name and version; "capabilities": ["snapshot", "restore"] once
        # the two requests of "Optional: snapshot and restore" work; "omits" for view fields
        # your engine cannot report (section "observe: the projection compared").
        return {"protocol": PROTOCOL_VERSION, "name": NAME, "designs": DESIGNS, "capabilities": [], "omits": []}

    # -- docs/sut-protocol.md, "reset: back to bucket creation" ----------------------------------

    def op_reset(self, req):
        # TODO: throw away your engine's memory and files (its data directory; with --jobs,
        # one per WARMCHECK_JOB_INDEX) and create a bucket of req["vbuckets"] vbs and
        # req["replicas"] replicas, in the design req["design"].
        vbuckets, replicas = req.get("vbuckets"), req.get("replicas")
        if not isinstance(vbuckets, int) or vbuckets < 1 or not isinstance(replicas, int) or replicas < 0:
            raise ProtocolError("reset needs vbuckets >= 1 and replicas >= 0")
        self.shape = (vbuckets, replicas, req.get("keys"))
        return {}

    # -- docs/sut-protocol.md, "observe: the projection compared" --------------------------------

    def op_observe(self, req):
        # TODO: read this view from your engine. The stub answers the state right after
        # `reset` (docs/vocabulary.md, "Bucket creation"), which is correct until the first
        # action changes something.
        if self.shape is None:
            raise ProtocolError("observe before reset")
        vbuckets, replicas, _ = self.shape

        def table(vb):
            return [{"id": vb + 1, "seq": 0}]

        return {
            "view": {
                "active": {
                    "process": "running",
                    "warmup_phase": None,
                    "warmup_stopped": False,
                    "warmup_read_clean": None,
                    "flusher_stopped": False,
                    "tasks_stopped": False,
                    "traffic_refused": False,
                    "clean_shutdown_flag": False,
                    "vbuckets": [
                        {
                            "vb": vb,
                            "in_vbucket_map": True,
                            "high_seqno": 0,
                            "persisted_seqno": 0,
                            "failover": table(vb),
                            "failover_on_disk": table(vb),
                            "queued": [],
                            "flusher_notified": False,
                            "items": [],
                            "items_on_disk": [],
                        }
                        for vb in range(vbuckets)
                    ],
                },
                "replicas": [
                    {
                        "name": "r%d" % (r + 1),
                        "vbuckets": [
                            {
                                "vb": vb,
                                "high_seqno": 0,
                                "snap_start": 0,
                                "snap_end": 0,
                                "failover": table(vb),
                                "stream": "none",
                                "items": [],
                            }
                            for vb in range(vbuckets)
                        ],
                    }
                    for r in range(replicas)
                ],
            }
        }

    # -- docs/sut-protocol.md, "Optional: snapshot and restore" ----------------------------------
    # Not announced in the handshake, so warmcheck does not send them; conform reaches states by
    # `reset` and the path instead. TODO: copy your engine's memory and files; answer a handle.

    def op_snapshot(self, req):
        raise ProtocolError("snapshot: not implemented (TODO in skeleton_sut.py)")

    def op_restore(self, req):
        raise ProtocolError("restore: not implemented (TODO in skeleton_sut.py)")

    def op_release(self, req):
        return {}

    # -- docs/sut-protocol.md, "One request per model action": one method per engine call ------
    # Each stub refuses. Replace it by the call and the reply fields that section's table lists.

    def op_set(self, req):  # TODO: set(vb, key, value, ttl); reply {"seqno": N}
        not_implemented(req)

    def op_delete(self, req):  # TODO: delete(vb, key); reply {"seqno": N}
        not_implemented(req)

    def op_advance_clock(self, req):  # TODO: advance the engine's clock by req["secs"]
        not_implemented(req)

    def op_get(self, req):  # TODO: a client get that expires the item; {"result", "expired_seqno"}
        not_implemented(req)

    def op_expire_item(self, req):  # TODO: the expiry pager's visit of one item; {"expired_seqno"}
        not_implemented(req)

    def op_flush(self, req):  # TODO: one flusher commit (fail it if req["fail"]); {"seqnos", "failed"}
        not_implemented(req)

    def op_stats_snapshot(self, req):  # TODO: rewrite stats.json (no longer clean)
        not_implemented(req)

    def op_crash(self, req):  # TODO: kill -9 of the active: memory lost, synced disk kept
        not_implemented(req)

    def op_shutdown_begin(self, req):  # TODO: a clean shutdown starts
        not_implemented(req)

    def op_shutdown_write_clean_flag(self, req):  # TODO: stats.json says clean
        not_implemented(req)

    def op_shutdown_stop_flusher(self, req):  # TODO: the flusher's final pass, then it stops
        not_implemented(req)

    def op_shutdown_stop_tasks(self, req):  # TODO: warmup and the bucket's tasks stop
        not_implemented(req)

    def op_warmup_step(self, req):  # TODO: the next warmup phase; {"phase": ...}
        not_implemented(req)

    def op_stream_request(self, req):  # TODO: a replica's DCP stream request; {"outcome": ...}
        not_implemented(req)

    def op_stream_deliver(self, req):  # TODO: the producer sends the next mutation; {"seqno": N}
        not_implemented(req)

    # Protocol version 2 only (see PROTOCOL_VERSION): warmcheck sends these to a SUT that
    # answered 2 in the handshake. The reply is {} or a refusal, as for the calls above.

    def op_fail_over(self, req):  # TODO: fail the down active over to replica req["replica"]
        not_implemented(req)

    def op_add_back(self, req):  # TODO: the failed-over node rejoins as the last replica
        not_implemented(req)


def main():
    """docs/sut-protocol.md, "Framing": one JSON request a line in, one reply a line out, until
    EOF. You should not need to change this."""
    adapter = Adapter()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            sys.stderr.write("skeleton_sut.py: malformed request line %r: %s\n" % (line[:200], e))
            return 2
        rid = req.get("id") if isinstance(req, dict) else None
        try:
            if not isinstance(req, dict) or not isinstance(req.get("op"), str):
                raise ProtocolError("a request is a JSON object with an \"op\"")
            handler = getattr(adapter, "op_" + req["op"], None)
            if handler is None:
                raise ProtocolError("unknown op %r" % req["op"])
            reply = {"id": rid, "ok": True}
            reply.update(handler(req) or {})
        except Refused as e:
            reply = {"id": rid, "ok": False, "refused": str(e)}
        except ProtocolError as e:
            reply = {"id": rid, "ok": False, "error": str(e)}
        sys.stdout.write(json.dumps(reply, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
