#!/usr/bin/env python3
"""A second implementation of the engine warmcheck models, in memory, behind the SUT protocol.

This file is two things at once:

* **A worked example** for anyone plugging their own engine into `warmcheck conform --sut CMD`
  and `warmcheck replay FILE --sut CMD`: the protocol loop at the bottom (`serve`) is all the
  glue an engine needs (docs/sut-protocol.md, protocol version 2; version 1, which has no
  failover, when warmcheck offers only that).
* **An independent check of warmcheck's semantics**: a small storage engine written from the
  domain brief (warmcheck's ground truth: how kv_engine's ep-engine warms up, flushes, shuts
  down and answers DCP stream requests), not from the model's state machine. Where it and the
  model disagree, conform reports the step and the differing fields.

What it is. One active node holding V vbuckets and R replica nodes, as in docs/vocabulary.md.
The active node has a *disk* (one append-only data file per vbucket, whose commits carry the
vbstate with the failover table, and stats.json with the clean-shutdown flag) and, while its
process is up, a *bucket in memory* (the vbuckets' histories, failover tables and checkpoint
queues, the flusher's notifications, warmup's and the shutdown's progress). A crash drops the
bucket object and keeps the disk object: that is the whole crash model, and it is why a real
engine's bug of this family (something that should be durable is only in memory) shows up here
as a difference in `observe`.

Failover (protocol version 2): the cluster manager fails the down active node over to a replica
node (`fail_over`), which becomes the active node with its own disk, and later adds the
failed-over node back as the last replica (`add_back`), its disk as it was left. Unlike the
rest, this part was written after model/src/promotion.rs and impl/src/engine/promotion.rs
(where the new entry goes, what a replica vbstate holds), so it checks them less independently.

What it leaves out, as the model does (docs/fidelity.md): replica crashes,
de-duplication (memory keeps every seqno's mutation), purging (purge seqno 0), the warmup phases
that do not matter here, torn writes (a commit here is atomic; the protocol has no tear).

Standard library only; `python3 warmcheck_sut.py` reads requests on stdin and answers on stdout.
kv_engine function names in the comments are those of engines/ep/src/ (kv_engine 6.5 to today),
as model/src/*.rs and docs/fidelity.md cite them.
"""

import json
import sys
from collections import namedtuple

# The protocol versions this SUT speaks, oldest first: 2 adds `fail_over` and `add_back`. The
# handshake answers the newest one warmcheck offers.
PROTOCOL_VERSIONS = (1, 2)
NAME = "warmcheck-python-sut 0.1 (in-memory engine, conformance/sut/python)"

# ---------------------------------------------------------------------------------------------
# Designs: the four knobs of docs/vocabulary.md. This engine implements every combination.
# ---------------------------------------------------------------------------------------------

PERSIST_ENTRY = ("at-complete", "queue-at-create", "queue-at-populate", "sync-flush")
SHUTDOWN_FLAG = (
    "before-flush",
    "after-flush",
    "after-flush-if-has-loaded-metadata",
    "after-flush-if-vb-map-populated",
    "after-flush-if-loaded-before-stop",
)
ROLLBACK_RETRY = ("always", "if-entry-at-start")
STOP_WARMUP = ("in-deinitialize", "in-initiate-shutdown")

Design = namedtuple("Design", "persist_entry shutdown_flag rollback_retry stop_warmup reverted")

# The older fixes a design may lack (docs/model.md, "reverted fixes"). MB-21769's is not
# implemented here: like the reference implementation, this engine keeps every persisted
# snapshot at or below the high seqno.
REVERTIBLE = ("mb11085", "mb37920", "mb20822")


def parse_design(d):
    if not isinstance(d, dict):
        raise ProtocolError("design must be an object of the four knobs, got %r" % (d,))
    knobs = []
    for name, allowed in (
        ("persist_entry", PERSIST_ENTRY),
        ("shutdown_flag", SHUTDOWN_FLAG),
        ("rollback_retry", ROLLBACK_RETRY),
        ("stop_warmup", STOP_WARMUP),
    ):
        # A design from a warmcheck older than the stop-warmup knob stops warmup in deinitialize.
        value = d.get(name, "in-deinitialize" if name == "stop_warmup" else None)
        if value not in allowed:
            raise ProtocolError(
                "design.%s is %r; this engine implements %s" % (name, value, ", ".join(allowed))
            )
        knobs.append(value)
    reverted = d.get("reverted") or {}
    if not isinstance(reverted, dict):
        raise ProtocolError("design.reverted must be an object, got %r" % (reverted,))
    unknown = [k for k, on in reverted.items() if on and k not in REVERTIBLE]
    if unknown:
        raise ProtocolError(
            "design.reverted reverts %s; this engine can revert only %s" % (", ".join(unknown), ", ".join(REVERTIBLE))
        )
    knobs.append(frozenset(k for k, on in reverted.items() if on))
    return Design(*knobs)


# ---------------------------------------------------------------------------------------------
# Errors: a refusal is the engine saying no (it changes nothing); a protocol error is a request
# this program cannot serve at all.
# ---------------------------------------------------------------------------------------------


class Refused(Exception):
    """The engine refuses the call (kv_engine's ENGINE_TMPFAIL, KEY_ENOENT, ...)."""


class ProtocolError(Exception):
    """The request is not one this SUT can serve (unknown op, bad field)."""


class FlushFailed(Exception):
    """The storage layer failed a commit and undid it (a full disk)."""


# ---------------------------------------------------------------------------------------------
# Items and the failover table (failover-table.cc)
# ---------------------------------------------------------------------------------------------

# One mutation. `op` is "set", "delete" or "expire" (a deletion made by expiry). `expiry` is the
# clock second a set with a TTL expires at, None without one; it is stored with the document,
# so it survives a restart. Immutable, so a history can be copied by copying its list.
Item = namedtuple("Item", "seqno key op value expiry")


def is_expired(item, now):
    """An item is expired when its expiry time has passed (`expiry <= now`)."""
    return item.op == "set" and item.expiry is not None and item.expiry <= now


def item_view(item):
    v = {"seqno": item.seqno, "key": item.key, "op": item.op}
    if item.op == "set":
        v["value"] = item.value
    return v


# One branch of history: "from `seqno` on, the history is the one named `uuid`".
Entry = namedtuple("Entry", "uuid seqno")

MAX_FAILOVER_ENTRIES = 25  # max_failover_entries


class FailoverTable:
    """`FailoverTable`: entries newest first, as kv_engine writes them to `_local/vbstate`.
    The entries are a tuple, so copying a table is cheap and a table saved in a vbstate or a
    set_vbucket_state item cannot change behind its owner's back."""

    __slots__ = ("entries",)

    def __init__(self, entries):
        self.entries = tuple(entries)
        assert self.entries, "a failover table is never empty"

    def copy(self):
        return FailoverTable(self.entries)

    def newest(self):
        return self.entries[0]

    def create_entry(self, uuid, high):
        """`FailoverTable::createEntry(high)`: drop every entry above `high`, push
        `(uuid, high)` at the front, drop the oldest beyond the cap."""
        assert uuid != 0 and all(e.uuid != uuid for e in self.entries)
        kept = [e for e in self.entries if e.seqno <= high]
        self.entries = tuple([Entry(uuid, high)] + kept)[:MAX_FAILOVER_ENTRIES]

    def create_entry_skipping_every_second_stale(self, uuid, high):
        """`createEntry(high)` before MB-20822's fix: its erase loop advanced the iterator after
        an erase too, so the entry right after an erased one was never examined. It shows only
        where a table holds two entries above `high` in a row: at a promotion."""
        assert uuid != 0 and all(e.uuid != uuid for e in self.entries)
        kept, i = list(self.entries), 0
        while i < len(kept):
            if kept[i].seqno > high:
                del kept[i]
            i += 1  # the loop's `++it`, after `it = erase(it)` too
        self.entries = tuple([Entry(uuid, high)] + kept)[:MAX_FAILOVER_ENTRIES]

    def prune_entries(self, seqno):
        """`FailoverTable::pruneEntries(seqno)`: drop every entry above `seqno` (a replica's
        rollback)."""
        self.entries = tuple(e for e in self.entries if e.seqno <= seqno)
        assert self.entries, "a table keeps an entry at or below the rollback point"

    def drop_newest(self):
        """What a consumer does when told to roll back to 0 while it has an older uuid to try
        (`DcpConsumer::handleRollbackResponse`)."""
        assert len(self.entries) > 1
        self.entries = self.entries[1:]

    def needs_rollback(self, start, uuid, snap_start, snap_end, cur, purge=0, strict=False):
        """`FailoverTable::needsRollback` (kv_engine 6.5; the domain brief, section 2). None:
        no rollback; otherwise the seqno the consumer must roll back to."""
        # 1. A consumer starting from nothing never rolls back.
        if start == 0 and (not strict or uuid == 0):
            return None
        # 2. Normalise a snapshot the consumer has fully received (or not started).
        if start == snap_end:
            snap_start = start
        elif start == snap_start:
            snap_end = start
        # 3. Tombstones the consumer has not seen were purged.
        if start < purge and start != 0:
            return 0
        # 4. The consumer's uuid, walking from the oldest entry; `upper` is where its branch
        #    ends: the next newer entry's seqno, or our high seqno for the newest entry.
        idx = None
        for i in range(len(self.entries) - 1, -1, -1):
            if self.entries[i].uuid == uuid:
                idx = i
                break
        if idx is None:
            return 0  # no common history
        upper = cur if idx == 0 else self.entries[idx - 1].seqno
        # 5. The consumer's snapshot must end inside the branch it names.
        if snap_end <= upper:
            return None
        return upper if upper < snap_start else snap_start

    def view(self):
        return [{"id": e.uuid, "seq": e.seqno} for e in self.entries]


# ---------------------------------------------------------------------------------------------
# Storage: append-only data files (couchstore) and stats.json. This is what survives a crash.
# ---------------------------------------------------------------------------------------------

# `vbucket_state` as stored in `_local/vbstate`: the failover table, the last snapshot, and
# whether its `state` is replica (a replica's file, or a promoted copy not flushed since).
VbState = namedtuple("VbState", "failover snap_start snap_end replica", defaults=(False,))


def entry_seqno(f):
    """Where warmup puts a new failover entry for a vb from its data file
    (`VBucketLoader::createVBucket`): the snapshot's end if the file holds everything up to it,
    else its start (mutations that were not flushed are lost)."""
    state = f.vbstate()
    return state.snap_end if f.high_seqno() == state.snap_end else state.snap_start


class DataFile:
    """One vbucket's data file. Couchstore is append-only: a commit appends the documents, then
    a header naming the new high seqno and the `_local/vbstate`; the header is what makes the
    commit durable, and a reader sees the newest header. Old headers stay, which is what lets a
    replica roll back (`KVBucket::rollback` -> `couchstore_rewind_db_header`)."""

    __slots__ = ("docs", "headers")

    def __init__(self, vbstate):
        self.docs = []  # by seqno: docs[i].seqno == i + 1
        self.headers = [(0, vbstate)]  # (high seqno, vbstate) of each commit, oldest first

    def copy(self):
        f = DataFile.__new__(DataFile)
        f.docs = list(self.docs)
        f.headers = list(self.headers)
        return f

    def high_seqno(self):
        return self.headers[-1][0]

    def vbstate(self):
        return self.headers[-1][1]

    def commit(self, items, vbstate):
        """One atomic commit: documents, vbstate, header."""
        for i, item in enumerate(items):
            assert item.seqno == self.high_seqno() + 1 + i, "commits are contiguous"
        self.docs.extend(items)
        self.headers.append((len(self.docs), vbstate))

    def rewind_to(self, seqno):
        """Roll back to the newest commit whose high seqno is at most `seqno`; returns it. A
        file an active's flusher wrote (an added-back node's) may have several documents in a
        commit, so this can be below `seqno` and the high seqno both."""
        while self.headers[-1][0] > seqno:
            self.headers.pop()
        high = self.headers[-1][0]
        del self.docs[high:]
        return high


class NodeDisk:
    """A node's disk as the active node uses it (after a failover, the failed-over node keeps
    its own until it is added back): a data file per vbucket and stats.json. `fail_next_commits` is
    the storage seam through which a test makes commits fail (a short write, then ENOSPC; the
    storage layer undoes what it wrote), as warmcheck's own implementation has one."""

    __slots__ = ("files", "stats_json", "fail_next_commits")

    def __init__(self, files):
        self.files = files
        # Bucket creation: the periodic stats snapshot already ran, so stats.json does not say
        # clean and a crash now is unclean.
        self.stats_json = {}
        self.fail_next_commits = 0

    def copy(self):
        d = NodeDisk([f.copy() for f in self.files])
        d.stats_json = dict(self.stats_json)
        d.fail_next_commits = self.fail_next_commits
        return d

    def commit(self, vb, items, vbstate):
        if self.fail_next_commits > 0:
            self.fail_next_commits -= 1
            raise FlushFailed("vb %d: the commit failed (no space left on device) and was undone" % vb)
        self.files[vb].commit(items, vbstate)

    def says_clean(self):
        """Warmup treats the last shutdown as clean only if `ep_force_shutdown` is "false"."""
        return self.stats_json.get("ep_force_shutdown") == "false"


# ---------------------------------------------------------------------------------------------
# The active node's memory: vbuckets and the bucket (lost at a crash)
# ---------------------------------------------------------------------------------------------

SET_VBUCKET_STATE = "set_vbucket_state"


class VBucket:
    """An active vbucket in memory (`VBucket` with its `CheckpointManager`)."""

    __slots__ = ("vb", "in_map", "history", "failover", "checkpoint", "notified", "new_entry", "cache_ahead")

    def __init__(self, vb, history, failover):
        self.vb = vb
        self.in_map = False  # in the vb map: takes DCP, expiry, flusher notifications
        # Every mutation in seqno order (no de-duplication): history[i].seqno == i + 1.
        self.history = history
        self.failover = failover
        # The checkpoint queue: ("seqno", n) per mutation, (SET_VBUCKET_STATE, table) per
        # set_vbucket_state meta item carrying a copy of the failover table.
        self.checkpoint = []
        self.notified = False  # the flusher was told this vb has work
        self.new_entry = False  # warmup's CreateVBuckets created a failover entry
        # The table the KVStore's cached vbstate holds ahead of disk (a failed vbstate-only
        # write updated it; only with MB-37920's fix reverted), else None.
        self.cache_ahead = None

    def copy(self):
        v = VBucket(self.vb, list(self.history), self.failover.copy())
        v.in_map = self.in_map
        v.checkpoint = list(self.checkpoint)
        v.notified = self.notified
        v.new_entry = self.new_entry
        v.cache_ahead = self.cache_ahead
        return v

    def high_seqno(self):
        return len(self.history)

    def newest(self, key):
        for item in reversed(self.history):
            if item.key == key:
                return item
        return None

    def notify_flusher(self):
        """`NotifyFlusherCB`: only a vb in the vb map wakes the flusher."""
        if self.in_map:
            self.notified = True

    def queue_mutation(self, key, op, value=None, expiry=None):
        """`VBucket::queueItem` -> `CheckpointManager::queueDirty`: the next seqno."""
        item = Item(self.high_seqno() + 1, key, op, value, expiry)
        self.history.append(item)
        self.checkpoint.append(("seqno", item.seqno))
        self.notify_flusher()
        return item.seqno

    def queue_set_vbstate(self):
        """`CheckpointManager::queueSetVBState`: a meta item with a copy of the table."""
        self.checkpoint.append((SET_VBUCKET_STATE, self.failover.copy()))
        self.notify_flusher()


# Warmup's phases in order (warmup.cc); "complete" is `Warmup::done` -> `warmupCompleted`.
PHASES = ("initialize", "create-vbuckets", "populate-vbucket-map", "loading-data", "done", "complete")


class Bucket:
    """The active node's process: everything here is lost when it dies. `state` is "warming",
    "running" or "shutting-down"; `shutdown` holds the clean shutdown's progress."""

    __slots__ = ("state", "warmup_phase", "read_clean", "traffic_refused", "vbuckets", "shutdown")

    def __init__(self):
        self.state = "warming"
        self.warmup_phase = None  # last phase completed while warmup runs, else None
        self.read_clean = None  # what Initialize read from stats.json
        self.traffic_refused = False  # failedToSetAVbucketState (MB-41257)
        self.vbuckets = None  # built by CreateVBuckets
        self.shutdown = None  # a Shutdown while shutting down

    def copy(self):
        b = Bucket()
        b.state = self.state
        b.warmup_phase = self.warmup_phase
        b.read_clean = self.read_clean
        b.traffic_refused = self.traffic_refused
        b.vbuckets = None if self.vbuckets is None else [v.copy() for v in self.vbuckets]
        b.shutdown = None if self.shutdown is None else self.shutdown.copy()
        return b

    def warmup_running(self):
        """Warmup is a bucket task: it runs until it completes, through a shutdown until warmup
        is stopped (forced to Done) or the shutdown stops the tasks."""
        if self.state == "warming":
            return True
        sd = self.shutdown
        return (
            self.state == "shutting-down"
            and self.warmup_phase is not None
            and not sd.tasks_stopped
            and not sd.warmup_stopped
        )

    def has_loaded_metadata(self):
        """`Warmup::hasLoadedMetaData()`: true past PopulateVBucketMap, and at Done however it
        was reached, a forced stop included."""
        if self.shutdown is not None and self.shutdown.warmup_stopped:
            return True
        return self.vb_map_populated()

    def vb_map_populated(self):
        """Warmup got past PopulateVBucketMap in this run of the process (or completed)."""
        return self.warmup_phase is None or PHASES.index(self.warmup_phase) >= PHASES.index("populate-vbucket-map")

    def tasks_run(self):
        """The expiry pager and compaction run once the map is populated, until a shutdown
        unregisters the bucket's tasks."""
        return self.vb_map_populated() and not (self.shutdown is not None and self.shutdown.tasks_stopped)

    def serves_dcp(self):
        """DCP is served from a populated map; a shutdown closes every connection first."""
        return self.vb_map_populated() and self.state != "shutting-down"

    def flusher_runs(self):
        return self.shutdown is None or not self.shutdown.flusher_stopped


class Shutdown:
    __slots__ = ("flag_written", "flusher_stopped", "tasks_stopped", "warmup_stopped", "loaded_at_stop")

    def __init__(self):
        self.flag_written = False
        self.flusher_stopped = False
        self.tasks_stopped = False
        self.warmup_stopped = False  # Warmup::stop forced warmup to Done
        self.loaded_at_stop = False  # hasLoadedMetaData() as stopWarmup read it

    def copy(self):
        s = Shutdown()
        s.flag_written, s.flusher_stopped, s.tasks_stopped, s.warmup_stopped, s.loaded_at_stop = (
            self.flag_written,
            self.flusher_stopped,
            self.tasks_stopped,
            self.warmup_stopped,
            self.loaded_at_stop,
        )
        return s

    def done(self):
        return self.flag_written and self.flusher_stopped and self.tasks_stopped


# ---------------------------------------------------------------------------------------------
# Replicas (DCP consumers). Replicas never crash here, so their memory and disk agree: the
# history *is* the data file, one commit per mutation received, and the file's vbstate is what
# memory holds (the consumer persists an adopted or pruned table too). A promotion makes the
# replica's file the new active node's disk.
# ---------------------------------------------------------------------------------------------


class ReplicaVBucket:
    """`snap_start`/`snap_end` are the open snapshot's marker, `[first seqno, end]`, as the
    consumer holds it in memory (and sends in a stream request)."""

    __slots__ = ("file", "failover", "snap_start", "snap_end", "stream")

    def __init__(self, failover):
        self.file = DataFile(VbState(failover.entries, 0, 0, True))
        self.failover = failover
        self.snap_start = 0
        self.snap_end = 0
        self.stream = "none"  # "none", "accepted" or ("rolled-back", seqno)

    @classmethod
    def from_disk(cls, f, failover):
        """A node's data file read as a replica's, with no stream (an added-back node's). The
        vbstate's snapshot range is `[end of the last complete snapshot, end]`
        (`vbstate_for`); the marker in memory starts one later for a partial snapshot."""
        state = f.vbstate()
        r = cls.__new__(cls)
        r.file = f
        r.failover = failover
        partial = f.high_seqno() < state.snap_end
        r.snap_start = state.snap_start + 1 if partial else state.snap_start
        r.snap_end = state.snap_end
        r.stream = "none"
        return r

    def last_complete_snapshot_end(self):
        """The end of the last snapshot received in full: the high seqno when the open one is
        complete, else the seqno before its marker's first. Where a promotion puts its new
        failover entry (`VBucket::processFailover`)."""
        if self.high_seqno() == self.snap_end:
            return self.snap_end
        assert 1 <= self.snap_start <= self.high_seqno() + 1, "a partial snapshot starts after the last complete one"
        return self.snap_start - 1

    def vbstate(self):
        """The vbstate a replica's flusher writes (kv_engine f40669692, v6.5.0 on):
        `lastSnapStart` the end of the last complete snapshot, `lastSnapEnd` the open one's end,
        `state` replica."""
        return VbState(self.failover.entries, self.last_complete_snapshot_end(), self.snap_end, True)

    def persist_vbstate(self):
        """Commit the vbstate alone if the file's newest one differs (a table adopted, an entry
        dropped, a rollback)."""
        state = self.vbstate()
        if self.file.vbstate() != state:
            self.file.commit([], state)

    def copy(self):
        r = ReplicaVBucket.__new__(ReplicaVBucket)
        r.file = self.file.copy()
        r.failover = self.failover.copy()
        r.snap_start, r.snap_end, r.stream = self.snap_start, self.snap_end, self.stream
        return r

    def high_seqno(self):
        return self.file.high_seqno()

    def stream_view(self):
        if isinstance(self.stream, tuple):
            return "rolled-back:%d" % self.stream[1]
        return self.stream


# ---------------------------------------------------------------------------------------------
# The cluster: one active node, its replicas, and the environment (clock, uuid source)
# ---------------------------------------------------------------------------------------------


class Cluster:
    """Every engine call of docs/vocabulary.md is a method. Each either does the whole call or
    raises `Refused` having changed nothing."""

    def __init__(self, design, vbuckets, replicas):
        self.design = design
        self.clock = 0  # seconds; the wall clock survives a crash
        # The uuid source. kv_engine draws random uuids; warmcheck's convention is a counter:
        # vb i is created with uuid i + 1, every later createEntry takes the next number. It is
        # part of the environment, not of the process, so it survives a crash.
        self.next_uuid = vbuckets + 1
        tables = [FailoverTable([Entry(vb + 1, 0)]) for vb in range(vbuckets)]
        # Bucket creation: each vb's file holds one commit (no documents, the table [(vb+1,0)]).
        self.disk = NodeDisk([DataFile(VbState(t.entries, 0, 0)) for t in tables])
        # ... and the bucket is running with every vb in the map.
        self.bucket = Bucket()
        self.bucket.state = "running"
        self.bucket.vbuckets = []
        for vb, t in enumerate(tables):
            v = VBucket(vb, [], t.copy())
            v.in_map = True
            self.bucket.vbuckets.append(v)
        # Replicas start with a copy of the active's table, high seqno 0, no stream. A row per
        # replica node, in replica order (`r1` first), a ReplicaVBucket per vb.
        self.replicas = [[ReplicaVBucket(t.copy()) for t in tables] for _ in range(replicas)]
        # The failed-over node's disk (its data files and its stats.json), from `fail_over`
        # until `add_back`; None while no node is out.
        self.failed_over = None

    def copy(self):
        c = Cluster.__new__(Cluster)
        c.design = self.design
        c.clock = self.clock
        c.next_uuid = self.next_uuid
        c.disk = self.disk.copy()
        c.bucket = None if self.bucket is None else self.bucket.copy()
        c.replicas = [[r.copy() for r in row] for row in self.replicas]
        c.failed_over = None if self.failed_over is None else self.failed_over.copy()
        return c

    # -- helpers -------------------------------------------------------------------------------

    def vbuckets(self):
        return len(self.disk.files)

    def check_vb(self, vb):
        if not isinstance(vb, int) or isinstance(vb, bool) or not 0 <= vb < self.vbuckets():
            raise Refused("vb %r does not exist (%d vbuckets)" % (vb, self.vbuckets()))

    def up(self):
        if self.bucket is None:
            raise Refused("the node is down")
        return self.bucket

    def mem(self, vb):
        """The vb in memory, if warmup has built it."""
        self.check_vb(vb)
        b = self.up()
        if b.vbuckets is None:
            raise Refused("vb %d is not in memory yet (warmup phase %s)" % (vb, b.warmup_phase))
        return b.vbuckets[vb]

    def replica(self, name, vb):
        self.check_vb(vb)
        return self.replicas[self.replica_index(name)][vb]

    def replica_index(self, name):
        """`r1` is 0: replicas are named by their position in the replica list."""
        if not isinstance(name, str) or not name.startswith("r") or not name[1:].isdigit():
            raise Refused("replica %r is not r1, r2, ..." % (name,))
        i = int(name[1:]) - 1
        if not 0 <= i < len(self.replicas):
            raise Refused("replica %s does not exist (%d replicas)" % (name, len(self.replicas)))
        return i

    def create_entry(self, table, at):
        """`FailoverTable::createEntry(at)` with the next uuid, wherever it is called from
        (warmup, a promotion, an add-back). Before MB-11085's fix it added nothing when the
        newest entry's seqno already was `at`; before MB-20822's it left every second stale
        entry. Whether it added an entry."""
        if "mb11085" in self.design.reverted and table.newest().seqno == at:
            return False
        if "mb20822" in self.design.reverted:
            table.create_entry_skipping_every_second_stale(self.next_uuid, at)
        else:
            table.create_entry(self.next_uuid, at)
        self.next_uuid += 1
        return True

    def takes_traffic(self, vb):
        b = self.up()
        if b.state != "running":
            raise Refused("vb %d is not taking traffic (the node is %s)" % (vb, b.state))
        if b.traffic_refused:
            raise Refused(
                "vb %d is not taking traffic: a vbstate flush failed in warmup "
                "(failedToSetAVbucketState); writes are refused until the node restarts" % vb
            )

    def expiry_allowed(self, vb):
        """Gets, the pager and compaction expire items of a vb in the map while tasks run."""
        v = self.mem(vb)
        if not (v.in_map and self.bucket.tasks_run()):
            raise Refused("vb %d: expiry does not run (not in the vb map, or tasks stopped)" % vb)
        return v

    def drop_streams(self):
        """Every DCP connection to the active closes."""
        for row in self.replicas:
            for r in row:
                r.stream = "none"

    def go_down(self):
        """The process is gone: memory, checkpoints, notifications and streams with it. The
        disk object is untouched."""
        self.bucket = None
        self.drop_streams()

    # -- client traffic (kv_bucket.cc, vbucket.cc) ----------------------------------------------

    def set(self, vb, key, value, ttl):
        """`KVBucket::set` -> `VBucket::set` -> `queueItem`: the next seqno, queued in the
        checkpoint, the flusher notified. `ttl` in seconds; 0 or None: no expiry."""
        v = self.mem(vb)
        self.takes_traffic(vb)
        expiry = self.clock + ttl if ttl else None
        return v.queue_mutation(key, "set", value, expiry)

    def delete(self, vb, key):
        """`KVBucket::deleteItem`: only a live key (not absent, deleted or expired)."""
        v = self.mem(vb)
        self.takes_traffic(vb)
        item = v.newest(key)
        if item is None or item.op != "set" or is_expired(item, self.clock):
            raise Refused("vb %d: key %s is not live" % (vb, key))
        return v.queue_mutation(key, "delete")

    def get(self, vb, key):
        """`VBucket::getInternal` -> `handleExpiredItem` -> `processExpiredItem`: a get of an
        expired item deletes it as a new mutation. Gets stop when a shutdown begins. Returns
        (value or None, seqno of the expiry or None)."""
        b = self.up()
        if b.state == "shutting-down":
            raise Refused("gets stop when a shutdown begins")
        v = self.expiry_allowed(vb)
        item = v.newest(key)
        if item is not None and is_expired(item, self.clock):
            return None, v.queue_mutation(key, "expire")
        if item is not None and item.op == "set":
            return item.value, None
        return None, None

    def expire_item(self, vb, key):
        """The expiry pager's (`ExpiredItemPager`) or compaction's
        (`EPBucket::compactionCompletionCallback`) visit of one expired item."""
        v = self.expiry_allowed(vb)
        item = v.newest(key)
        if item is None or not is_expired(item, self.clock):
            raise Refused("vb %d: key %s has nothing to expire" % (vb, key))
        return v.queue_mutation(key, "expire")

    def advance_clock(self, secs):
        """`ep_current_time()` moves on. Allowed whatever the node does."""
        if not isinstance(secs, int) or isinstance(secs, bool) or secs < 0:
            raise Refused("advance_clock: secs must be a non-negative integer, got %r" % (secs,))
        self.clock += secs

    def stats_snapshot(self):
        """The periodic `StatSnap` task (`KVBucket::snapshotStats`) rewrites stats.json without
        `ep_force_shutdown` (before MB-52054), so a crash from then on is unclean. Taken only
        while running, as the model takes it: kv_engine's task, scheduled by `warmupCompleted`,
        keeps running during a shutdown until `unregisterTaskable`, where it could erase a flag
        a before-flush shutdown already wrote (that only makes the next warmup unclean)."""
        b = self.up()
        if b.state != "running":
            raise Refused("the stats snapshot runs only while running")
        if not self.disk.says_clean():
            raise Refused("stats.json does not say clean: the snapshot would change nothing")
        self.disk.stats_json = {}

    # -- the flusher (ep_bucket.cc, flusher.cc) -------------------------------------------------

    def commit_checkpoint(self, v):
        """`EPBucket::flushVBucket`: one atomic commit of everything queued for the vb, with
        the cached vbstate (`KVStore::getVBucketState`); its failover table is replaced only when
        the batch holds a set_vbucket_state item. So a batch of plain mutations re-writes the
        *old* table next to the new documents. Raises FlushFailed having changed nothing."""
        cached = self.disk.files[v.vb].vbstate()
        table = cached.failover if v.cache_ahead is None else v.cache_ahead
        # A set_vbucket_state carries the vb's state (MB-35331): active, since a promotion
        # queues one first. Without one the vbstate keeps saying what it said.
        replica = cached.replica
        items = []
        for kind, what in v.checkpoint:
            if kind == "seqno":
                items.append(v.history[what - 1])
            else:
                table = what.entries
                replica = False
        vbstate_only = not items and bool(v.checkpoint)
        if "mb37920" in self.design.reverted and vbstate_only:
            # MB-37920's fix reverted: the cache is compared first, and updated before the write.
            if v.cache_ahead is not None:
                v.checkpoint = []
                v.notified = False
                return []
            try:
                high = self.disk.files[v.vb].high_seqno()
                self.disk.commit(v.vb, items, VbState(table, high, high, replica))
            except FlushFailed:
                v.cache_ahead = table
                raise
        else:
            high = self.disk.files[v.vb].high_seqno() + len(items)
            self.disk.commit(v.vb, items, VbState(table, high, high, replica))
        v.cache_ahead = None
        v.checkpoint = []
        v.notified = False
        return [i.seqno for i in items]

    def flush(self, vb):
        """The flusher's visit of a notified vb (`Flusher::flushVB`). A failed commit is not
        fatal: the items stay queued and the vb stays notified, so it is retried
        (`flushVBucket` returns `MoreAvailable::Yes` -> `lpVbs.pushUnique`)."""
        v = self.mem(vb)
        if not self.bucket.flusher_runs():
            raise Refused("the flusher is stopped")
        if not v.notified:
            raise Refused("vb %d: the flusher was not notified" % vb)
        return self.commit_checkpoint(v)

    # -- warmup (warmup.cc) --------------------------------------------------------------------

    def warmup_step(self):
        """One warmup phase; returns the phase completed."""
        if self.bucket is None:
            self.warmup_initialize()
            return "initialize"
        b = self.bucket
        if not b.warmup_running():
            raise Refused("warmup runs only from down, or until it completes (node %s)" % b.state)
        phase = PHASES[PHASES.index(b.warmup_phase) + 1]
        if phase == "create-vbuckets":
            self.warmup_create_vbuckets()
        elif phase == "populate-vbucket-map":
            self.warmup_populate_vbucket_map()
        elif phase == "complete":
            self.warmup_complete()
            return phase
        b.warmup_phase = phase
        return phase

    def warmup_initialize(self):
        """`Warmup::initialize`: a new process reads stats.json,
        `cleanShutdown = (ep_force_shutdown == "false")`. Since MB-45756 (MB-46361 on 6.6) it
        then writes `ep_force_shutdown=true`, so a crash during warmup is unclean."""
        b = Bucket()
        b.read_clean = self.disk.says_clean()
        b.warmup_phase = "initialize"
        self.bucket = b
        if self.design.shutdown_flag != "before-flush":
            self.disk.stats_json = {"ep_force_shutdown": "true"}

    def warmup_create_vbuckets(self):
        """`Warmup::createVBuckets`: each vb from its data file and vbstate. After an unclean
        shutdown an active vb gets a new failover entry (`FailoverTable::createEntry`) at
        snap_end if the high seqno is there, else at snap_start: mutations that were not flushed
        are lost, so a replica that received them is on another branch. `queue-at-create`
        (MB-41942's fix) queues set_vbucket_state at once; the vb is not in the map, so the
        flusher is not notified."""
        b = self.bucket
        unclean = b.read_clean is False
        b.vbuckets = []
        for vb, f in enumerate(self.disk.files):
            state = f.vbstate()
            v = VBucket(vb, list(f.docs), FailoverTable(state.failover))
            # A vbstate that says replica (a promoted copy whose node crashed before its first
            # flush) gets no entry here: the cluster manager promotes it again once it is in the
            # map (`warmup_populate_vbucket_map`).
            if unclean and not state.replica and self.create_entry(v.failover, entry_seqno(f)):
                v.new_entry = True
                if self.design.persist_entry == "queue-at-create":
                    v.queue_set_vbstate()
            b.vbuckets.append(v)

    def warmup_populate_vbucket_map(self):
        """`Warmup::populateVBucketMap`: every vb enters the vb map. `sync-flush` (MB-41257,
        today `VBucketLoader::addToVBucketMap`) first persists a new entry by queueing
        set_vbucket_state and flushing it synchronously; if that flush fails, the vb enters the
        map all the same, the state stays queued (not notified) and the node refuses client
        writes (`failedToSetAVbucketState`). `queue-at-populate` (MB-43744's fix) queues it
        after the vb is in the map, which wakes the flusher."""
        b = self.bucket
        for v in b.vbuckets:
            if self.disk.files[v.vb].vbstate().replica:
                # A replica vbstate: the cluster manager, which holds this vb active here,
                # promotes it again (`setVBucketState` waits for warmup to have loaded the
                # vbstates, MB-25197); no setVBucketState reaches a bucket being destroyed, so
                # during a shutdown it stays a replica, out of the map.
                if b.state != "shutting-down":
                    v.in_map = True
                    self.promote_again(v)
                continue
            if v.new_entry and self.design.persist_entry == "sync-flush":
                v.queue_set_vbstate()  # not in the map yet: no notification
                try:
                    self.commit_checkpoint(v)
                except FlushFailed:
                    b.traffic_refused = True
            v.in_map = True
            if v.new_entry and self.design.persist_entry == "queue-at-populate":
                v.queue_set_vbstate()

    def warmup_complete(self):
        """`Warmup::done` -> `KVBucket::warmupCompleted`: traffic is enabled (unless a vbstate
        flush failed); during a shutdown warmup just ends. `at-complete` (v6.5.1) queues
        set_vbucket_state for every vb in the map (`EPBucket::scheduleVBStatePersist`)."""
        b = self.bucket
        b.warmup_phase = None
        shutting_down = b.state == "shutting-down"
        if b.state == "warming":
            b.state = "running"
        # In in-initiate-shutdown, Warmup::stop emptied the done function at the shutdown's start.
        if not (shutting_down and self.design.stop_warmup == "in-initiate-shutdown"):
            self.schedule_vbstate_persist_if_at_complete()

    def schedule_vbstate_persist_if_at_complete(self):
        if self.design.persist_entry == "at-complete":
            for v in self.bucket.vbuckets or []:
                if v.in_map:
                    v.queue_set_vbstate()

    # -- failover and add-back (ns_server's calls; kv_bucket.cc, vbucket.cc, warmup.cc) -----------

    def fail_over(self, replica):
        """The cluster manager fails the down active node over and promotes replica `replica`
        of every vb on the same node (`KVBucket::setVBucketState` to active ->
        `VBucket::processFailover`). That node has run all along: it is the running active now,
        its stats.json as its own start wrote it (not clean), its replica files its disk (their
        vbstates say replica until a flush writes the queued set_vbucket_state). Each promoted
        vb gets a new entry at the end of the last snapshot it received in full and queues a
        set_vbucket_state, which notifies the flusher. The node leaves the replica list; the
        other replicas' streams drop (they ask the new active next). The failed-over node keeps
        its disk, to be added back."""
        if self.bucket is not None:
            raise Refused("only a down active node is failed over (the node is %s)" % self.bucket.state)
        if self.failed_over is not None:
            raise Refused("one node is out at a time: the failed-over node is not added back yet")
        row = self.replicas.pop(self.replica_index(replica))
        b = Bucket()
        b.state = "running"
        b.warmup_phase = None
        b.vbuckets = []
        files = []
        for vb, r in enumerate(row):
            assert r.file.vbstate() == r.vbstate(), "a replica's file holds the vbstate its memory has"
            files.append(r.file)
            table = r.failover.copy()
            self.create_entry(table, r.last_complete_snapshot_end())
            v = VBucket(vb, list(r.file.docs), table)
            v.in_map = True
            v.queue_set_vbstate()
            b.vbuckets.append(v)
        self.failed_over = self.disk
        self.disk = NodeDisk(files)  # stats.json: not clean
        self.bucket = b
        self.drop_streams()

    def promote_again(self, v):
        """A promoted vb whose node crashed before its first flush warmed up from a vbstate that
        says replica, with no entry; the cluster manager, which holds it as the vb's active,
        promotes it again once it is in the map: an entry where warmup would put one (the
        checkpoint's failover seqno, built from the same vbstate) and a set_vbucket_state."""
        self.create_entry(v.failover, entry_seqno(self.disk.files[v.vb]))
        v.queue_set_vbstate()

    def add_back(self):
        """The failed-over node is added back (delta recovery): it warms up from its own files
        (`VBucketLoader::createVBucket`: a vbstate that says active gets a new entry if its
        stats.json does not say clean; one that says replica never does), the cluster manager
        makes each vb a replica (`setVBucketState`, persisted), and it joins as the last
        replica, with no stream. Allowed whatever the active node is doing."""
        node = self.failed_over
        if node is None:
            raise Refused("no node is failed over")
        clean = node.says_clean()
        row = []
        for f in node.files:
            state = f.vbstate()
            table = FailoverTable(state.failover)
            if not clean and not state.replica:
                self.create_entry(table, entry_seqno(f))
            r = ReplicaVBucket.from_disk(f, table)
            r.persist_vbstate()
            row.append(r)
        self.replicas.append(row)
        self.failed_over = None

    # -- crash and clean shutdown (ep_engine.cc, ep_bucket.cc, kv_bucket.cc) ---------------------

    def crash(self):
        """kill -9 of the active node."""
        self.up()
        self.go_down()

    def shutdown_begin(self):
        """`EventuallyPersistentEngine::destroyInner`: client traffic stops and
        `shutdownAllConnections` closes every DCP stream. In `in-initiate-shutdown` warmup is
        stopped now (`EPBucket::initiateShutdown` -> `stopWarmup`); otherwise it goes on."""
        b = self.up()
        if b.state == "shutting-down":
            raise Refused("a shutdown has already begun")
        b.state = "shutting-down"
        b.shutdown = Shutdown()
        self.drop_streams()
        if self.design.stop_warmup == "in-initiate-shutdown":
            self.stop_warmup()

    def stop_warmup(self):
        """`EPBucket::stopWarmup` -> `Warmup::stop()`: cancels the tasks in warmup's taskSet and
        forces the state to Done, then `done()`. The LoadPreparedSyncWrites and
        PopulateVBucketMap tasks do not register in the taskSet, so right after CreateVBuckets
        the stop changes nothing. `done()` runs `warmupCompleted` in `in-deinitialize` and
        nothing in `in-initiate-shutdown` (MB-64849)."""
        b = self.bucket
        sd = b.shutdown
        if self.design.shutdown_flag == "after-flush-if-loaded-before-stop":
            sd.loaded_at_stop = b.has_loaded_metadata()
        if b.warmup_phase is None or b.warmup_phase == "create-vbuckets":
            return
        sd.warmup_stopped = True
        if self.design.stop_warmup == "in-deinitialize":
            self.schedule_vbstate_persist_if_at_complete()

    def shutdown_write_clean_flag(self):
        """The shutdown path writes `ep_force_shutdown=false` to stats.json. `before-flush`:
        v6.5.1's `destroyInner` -> `KVBucket::snapshotStats`, before the flusher stops.
        `after-flush`: `KVBucket::persistShutdownContext` at the end of
        `EPBucket::deinitialize`, whatever warmup had reached. The guarded kinds write `false`
        only if their guard holds on the state the process holds now (a forced stop included)
        and no vbstate flush failed, `true` otherwise: `after-flush-if-has-loaded-metadata`
        reads `hasLoadedMetaData()`, `after-flush-if-vb-map-populated` (proposed) whether
        PopulateVBucketMap really ran, `after-flush-if-loaded-before-stop` what stopWarmup
        recorded."""
        sd = self.shutting_down()
        if sd.flag_written:
            raise Refused("the clean flag is already written")
        after = self.design.shutdown_flag != "before-flush"
        if after and not sd.tasks_stopped:
            raise Refused("%s: the flag is written after the flusher and the tasks stopped" % self.design.shutdown_flag)
        b = self.bucket
        guard = {
            "after-flush-if-has-loaded-metadata": b.has_loaded_metadata,
            "after-flush-if-vb-map-populated": b.vb_map_populated,
            "after-flush-if-loaded-before-stop": lambda: sd.loaded_at_stop,
        }.get(self.design.shutdown_flag)
        clean = guard is None or (guard() and not b.traffic_refused)
        self.disk.stats_json = {"ep_force_shutdown": "false" if clean else "true"}
        sd.flag_written = True
        self.end_shutdown_if_done()

    def shutdown_stop_flusher(self):
        """`EPBucket::stopFlusher`, once the final flushes are done (no vb notified). What is
        queued for a vb the flusher was never told about stays queued, and is lost (MB-43744)."""
        sd = self.shutting_down()
        if sd.flusher_stopped:
            raise Refused("the flusher is already stopped")
        notified = [v.vb for v in self.bucket.vbuckets or [] if v.notified]
        if notified:
            raise Refused("the flusher still has notified vbs to flush: %r" % notified)
        if self.design.shutdown_flag == "before-flush" and not sd.flag_written:
            raise Refused("before-flush: the flusher stops only after the clean flag is written")
        sd.flusher_stopped = True
        self.end_shutdown_if_done()

    def shutdown_stop_tasks(self):
        """In `in-deinitialize`, `EPBucket::stopWarmup` first (in `at-complete` its `done()`
        queues set_vbucket_state, which the stopped flusher never writes); then
        `KVBucket::deinitialize` -> `ExecutorPool::unregisterTaskable`: the expiry pager,
        compaction and any warmup task still pending stop."""
        sd = self.shutting_down()
        if sd.tasks_stopped:
            raise Refused("the tasks are already stopped")
        if not sd.flusher_stopped:
            raise Refused("the tasks stop only after the flusher stopped")
        if self.design.stop_warmup == "in-deinitialize":
            self.stop_warmup()
        sd.tasks_stopped = True
        self.end_shutdown_if_done()

    def shutting_down(self):
        b = self.up()
        if b.state != "shutting-down":
            raise Refused("only during a shutdown (the node is %s)" % b.state)
        return b.shutdown

    def end_shutdown_if_done(self):
        """The process exits when the shutdown's three steps are done."""
        if self.bucket.shutdown.done():
            self.go_down()

    # -- DCP (dcp/producer.cc, dcp/consumer.cc, kv_bucket.cc) ----------------------------------

    def producer_vb(self, vb):
        v = self.mem(vb)
        if not (v.in_map and self.bucket.serves_dcp()):
            raise Refused("vb %d: DCP is not served (node %s)" % (vb, self.bucket.state))
        return v

    def stream_request(self, replica, vb):
        """One stream-request round trip: the consumer asks with its high seqno, newest uuid
        and last snapshot (`DcpConsumer` -> `DcpProducer::streamRequest`); the producer decides
        (`FailoverTable::needsRollback`); the consumer acts on the answer
        (`DcpConsumer::handleRollbackResponse`, `KVBucket::rollback`). Returns the reply: the
        outcome, and for the engine's log the request, the producer's table and, after a
        rollback, whether the consumer dropped its newest entry instead of rewinding."""
        r = self.replica(replica, vb)
        a = self.producer_vb(vb)
        if r.stream == "accepted":
            raise Refused("%s vb %d: the stream is already accepted" % (replica, vb))
        start, uuid = r.high_seqno(), r.failover.newest().uuid
        reply = {
            "start": start,
            "uuid": uuid,
            "snap_start": r.snap_start,
            "snap_end": r.snap_end,
            "producer_failover": a.failover.view(),
        }
        rb = a.failover.needs_rollback(start, uuid, r.snap_start, r.snap_end, a.high_seqno())
        self.consume_stream_reply(r, a, rb, start, reply)
        # The consumer persists what it adopted or pruned (`PassiveStream` ->
        # `scheduleVBStatePersist`): its file says what its memory says.
        r.persist_vbstate()
        return reply

    def consume_stream_reply(self, r, a, rb, start, reply):
        """The consumer's answer to the producer's decision `rb` (None: accepted)."""
        if rb is None:
            r.failover = a.failover.copy()  # replaceFailoverLog: adopt the producer's table
            r.stream = "accepted"
            reply.update(outcome="accepted", dropped_entry=None)
            return
        # Told to roll back to 0 with an older entry to try, the consumer drops its newest and
        # asks again with the older uuid: always before MB-48398; since, only if that entry
        # starts at the request's start seqno.
        retry = len(r.failover.entries) > 1 and (
            self.design.rollback_retry == "always" or r.failover.newest().seqno == start
        )
        if rb == 0 and retry:
            r.failover.drop_newest()
            r.stream = ("rolled-back", 0)
            reply.update(outcome="rolled-back:0", dropped_entry=True)
            return
        # Otherwise the consumer rewinds its file to the newest commit at or below rb
        # (`KVBucket::rollback` -> `couchstore_rewind_db_header`) and prunes its table above
        # its new high seqno (`FailoverTable::pruneEntries`). A rollback to 0 is kv_engine's
        # `resetVBucket`, which recreates the vb with a fresh table; that table is never read
        # (the next request starts at 0 and is accepted, adopting the producer's table), so
        # this engine keeps the entries at seqno 0, as warmcheck's model and implementation do.
        # The replica keeps min(rb, high): a file an active's flusher wrote (an added-back
        # node's) may rewind below that, and what memory keeps is committed again, one
        # mutation a commit.
        high = min(rb, r.high_seqno())
        kept = r.file.docs[:high]
        rewound = r.file.rewind_to(rb)
        r.snap_start = r.snap_end = high
        r.failover.prune_entries(high)
        for item in kept[rewound:]:
            r.file.commit([item], VbState(r.failover.entries, high, high, True))
        r.stream = ("rolled-back", rb)
        reply.update(outcome="rolled-back:%d" % rb, dropped_entry=False)

    def stream_deliver(self, replica, vb):
        """The producer's `ActiveStream` sends the next mutation (persisted on the active or
        not). When the replica's last snapshot is complete it first sends a snapshot marker
        covering everything it has now (`PassiveStream::processMarker`). The replica commits
        each mutation with its vbstate. Returns the seqno, or None when there is nothing."""
        r = self.replica(replica, vb)
        if r.stream != "accepted":
            raise Refused("%s vb %d: no accepted stream (stream %s)" % (replica, vb, r.stream_view()))
        a = self.producer_vb(vb)
        seqno = r.high_seqno() + 1
        if seqno > a.high_seqno():
            return None
        if r.high_seqno() == r.snap_end:
            r.snap_start, r.snap_end = seqno, a.high_seqno()
        # The vbstate's range starts at the end of the last complete snapshot (f40669692).
        done = r.snap_end if seqno == r.snap_end else r.snap_start - 1
        r.file.commit([a.history[seqno - 1]], VbState(r.failover.entries, done, r.snap_end, True))
        return seqno

    # -- observe: the projection of docs/vocabulary.md --------------------------------------------

    def view(self):
        b = self.bucket
        sd = b.shutdown if b is not None else None
        vbs = []
        for vb, f in enumerate(self.disk.files):
            v = b.vbuckets[vb] if b is not None and b.vbuckets is not None else None
            vbs.append(
                {
                    "vb": vb,
                    "in_vbucket_map": v is not None and v.in_map,
                    "high_seqno": None if v is None else v.high_seqno(),
                    "persisted_seqno": f.high_seqno(),
                    "failover": None if v is None else v.failover.view(),
                    "failover_on_disk": FailoverTable(f.vbstate().failover).view(),
                    "queued": None
                    if v is None
                    else ["seqno:%d" % n if kind == "seqno" else kind for kind, n in v.checkpoint],
                    "flusher_notified": v is not None and v.notified,
                    "items": None if v is None else [item_view(i) for i in v.history],
                    "items_on_disk": [item_view(i) for i in f.docs],
                }
            )
        replicas = []
        for i, row in enumerate(self.replicas):
            replicas.append(
                {
                    "name": "r%d" % (i + 1),
                    "vbuckets": [
                        {
                            "vb": vb,
                            "high_seqno": r.high_seqno(),
                            "snap_start": r.snap_start,
                            "snap_end": r.snap_end,
                            "failover": r.failover.view(),
                            "stream": r.stream_view(),
                            "items": [item_view(item) for item in r.file.docs],
                        }
                        for vb, r in enumerate(row)
                    ],
                }
            )
        return {
            "clock": self.clock,
            "active": {
                "process": "down" if b is None else b.state,
                "warmup_phase": None if b is None else b.warmup_phase,
                "warmup_stopped": sd is not None and sd.warmup_stopped,
                "warmup_read_clean": None if b is None else b.read_clean,
                "flusher_stopped": sd is not None and sd.flusher_stopped,
                "tasks_stopped": sd is not None and sd.tasks_stopped,
                "traffic_refused": b is not None and b.traffic_refused,
                "clean_shutdown_flag": self.disk.says_clean(),
                "vbuckets": vbs,
            },
            "replicas": replicas,
        }


# ---------------------------------------------------------------------------------------------
# The protocol (docs/sut-protocol.md): the only part an engine of your own has to rewrite.
# ---------------------------------------------------------------------------------------------


def field(req, name, kind=None):
    if name not in req:
        raise ProtocolError("request %r has no %r" % (req.get("op"), name))
    value = req[name]
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ProtocolError("%r must be an integer, got %r" % (name, value))
    if kind is str and not isinstance(value, str):
        raise ProtocolError("%r must be a string, got %r" % (name, value))
    return value


class Server:
    def __init__(self):
        self.cluster = None
        self.snapshots = {}
        self.next_handle = 1

    def engine(self):
        if self.cluster is None:
            raise ProtocolError("no bucket: send reset first")
        return self.cluster

    def handle(self, req):
        """Serve one request; returns the reply's fields besides id and ok."""
        op = req.get("op")
        handler = getattr(self, "op_" + op, None) if isinstance(op, str) else None
        if handler is None:
            raise ProtocolError("unknown op %r" % (op,))
        return handler(req) or {}

    # -- session -----------------------------------------------------------------------------

    def op_hello(self, req):
        offered = req.get("protocol", [])
        spoken = [v for v in PROTOCOL_VERSIONS if isinstance(offered, list) and v in offered]
        if not spoken:
            raise ProtocolError("this SUT speaks protocol %r; offered %r" % (list(PROTOCOL_VERSIONS), offered))
        # The newest both speak. At version 1 warmcheck sends no fail_over or add_back.
        return {
            "protocol": spoken[-1],
            "name": NAME,
            "designs": "all",
            "capabilities": ["snapshot", "restore"],
            "omits": [],
        }

    def op_reset(self, req):
        design = parse_design(field(req, "design"))
        vbuckets, replicas = field(req, "vbuckets", int), field(req, "replicas", int)
        if vbuckets < 1 or replicas < 0:
            raise ProtocolError("reset needs at least one vbucket and no negative replicas")
        self.cluster = Cluster(design, vbuckets, replicas)
        self.snapshots.clear()

    def op_observe(self, req):
        return {"view": self.engine().view()}

    def op_snapshot(self, req):
        handle = "s%d" % self.next_handle
        self.next_handle += 1
        self.snapshots[handle] = self.engine().copy()
        return {"handle": handle}

    def op_restore(self, req):
        handle = field(req, "handle", str)
        if handle not in self.snapshots:
            raise ProtocolError("no snapshot %r" % handle)
        # The snapshot stays valid: restore a copy of it.
        self.cluster = self.snapshots[handle].copy()

    def op_release(self, req):
        for handle in field(req, "handles"):
            self.snapshots.pop(handle, None)

    # -- engine calls, one per model action --------------------------------------------------------

    def op_set(self, req):
        ttl = req.get("ttl")
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0):
            raise ProtocolError("ttl must be null or a non-negative integer, got %r" % (ttl,))
        seqno = self.engine().set(field(req, "vb"), field(req, "key", str), field(req, "value", str), ttl)
        return {"seqno": seqno}

    def op_delete(self, req):
        return {"seqno": self.engine().delete(field(req, "vb"), field(req, "key", str))}

    def op_get(self, req):
        value, expired = self.engine().get(field(req, "vb"), field(req, "key", str))
        return {"result": value, "expired_seqno": expired}

    def op_expire_item(self, req):
        return {"expired_seqno": self.engine().expire_item(field(req, "vb"), field(req, "key", str))}

    def op_advance_clock(self, req):
        self.engine().advance_clock(field(req, "secs", int))

    def op_flush(self, req):
        """`"fail": true` arms one failure at the storage seam for this flush only."""
        c = self.engine()
        c.disk.fail_next_commits = 1 if req.get("fail") else 0
        try:
            seqnos = c.flush(field(req, "vb"))
            return {"seqnos": seqnos, "failed": False}
        except FlushFailed:
            return {"seqnos": [], "failed": True}  # nothing was committed
        finally:
            c.disk.fail_next_commits = 0

    def op_stats_snapshot(self, req):
        self.engine().stats_snapshot()

    def op_crash(self, req):
        self.engine().crash()

    def op_shutdown_begin(self, req):
        self.engine().shutdown_begin()

    def op_shutdown_write_clean_flag(self, req):
        self.engine().shutdown_write_clean_flag()

    def op_shutdown_stop_flusher(self, req):
        self.engine().shutdown_stop_flusher()

    def op_shutdown_stop_tasks(self, req):
        self.engine().shutdown_stop_tasks()

    def op_warmup_step(self, req):
        """`fail_vbstate_flushes: N` arms N failures at the storage seam for this step."""
        c = self.engine()
        n = req.get("fail_vbstate_flushes") or 0
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ProtocolError("fail_vbstate_flushes must be a non-negative integer, got %r" % (n,))
        c.disk.fail_next_commits = n
        try:
            return {"phase": c.warmup_step()}
        finally:
            c.disk.fail_next_commits = 0

    def op_fail_over(self, req):
        """Protocol 2: `{"op":"fail_over","replica":"r1"}`."""
        self.engine().fail_over(field(req, "replica", str))

    def op_add_back(self, req):
        """Protocol 2: `{"op":"add_back"}`."""
        self.engine().add_back()

    def op_stream_request(self, req):
        return self.engine().stream_request(field(req, "replica"), field(req, "vb"))

    def op_stream_deliver(self, req):
        return {"seqno": self.engine().stream_deliver(field(req, "replica"), field(req, "vb"))}


def serve(inp, out):
    """Read one JSON request a line from `inp`, answer one JSON reply a line on `out` (both
    binary streams), until EOF."""
    server = Server()
    encode = json.JSONEncoder(separators=(",", ":")).encode
    for line in inp:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            # No id to answer with: say so on stderr and stop, so warmcheck reports it.
            sys.stderr.write("warmcheck_sut.py: malformed request line %r: %s\n" % (line[:200], e))
            return 2
        rid = req.get("id") if isinstance(req, dict) else None
        try:
            if not isinstance(req, dict):
                raise ProtocolError("a request is a JSON object")
            reply = {"id": rid, "ok": True}
            reply.update(server.handle(req))
        except Refused as e:
            reply = {"id": rid, "ok": False, "refused": str(e)}
        except ProtocolError as e:
            reply = {"id": rid, "ok": False, "error": str(e)}
        out.write(encode(reply).encode() + b"\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.stdin.buffer, sys.stdout.buffer))
