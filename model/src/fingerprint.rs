//! The state's `Hash`, which is what the checker fingerprints every state it generates by: a
//! packed byte encoding of the whole state, hashed in one pass, instead of one `Hash` call per
//! field and per element.
//!
//! The encoding is injective (every variable-length part is preceded by its length, every
//! enum by its variant), so two states hash alike only if they are equal, as `Eq` requires,
//! and distinct states collide no more often than the hasher's 64 bits allow.

use crate::failover::Table;
use crate::{
    ActiveVb, DiskVb, Down, FailedOverNode, History, Mutation, Node, Op, Phase, Queued, ReplicaVb,
    Shutdown, State, Stream, Vb,
};
use std::hash::{Hash, Hasher};

/// Bytes gathered eight at a time into a word, each full word handed to the hasher: a state
/// at the default bounds is a dozen `write_u64`s, with no buffer to clear or bounds to check.
struct Packer<'h, H: Hasher> {
    word: u64,
    /// Bytes in `word`, 0..8.
    used: u32,
    hasher: &'h mut H,
}

impl<H: Hasher> Packer<'_, H> {
    /// The low `n` bytes of `v` (1..=8; the others are zero).
    #[inline(always)]
    fn put(&mut self, v: u64, n: u32) {
        debug_assert!((1..=8).contains(&n) && (n == 8 || v >> (8 * n) == 0));
        let used = self.used;
        self.word |= v << (8 * used);
        if used + n >= 8 {
            self.hasher.write_u64(self.word);
            // The bytes of `v` that did not fit (none when `used` is 0).
            self.word = if used == 0 { 0 } else { v >> (8 * (8 - used)) };
            self.used = used + n - 8;
        } else {
            self.used = used + n;
        }
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.put(b as u64, 1);
    }

    /// The last, partial word, and how many bytes of it are used.
    fn finish(self) {
        self.hasher.write_u64(self.word);
        self.hasher.write_u8(self.used as u8);
    }

    /// A length: every sequence in a state is far shorter than 255 (bounds are u8), but a
    /// longer one stays unambiguous.
    #[inline(always)]
    fn len(&mut self, n: usize) {
        if n < 255 {
            self.byte(n as u8);
        } else {
            self.byte(255);
            for b in (n as u64).to_le_bytes() {
                self.byte(b);
            }
        }
    }

    #[inline]
    fn phase(&mut self, p: Phase) {
        self.byte(p as u8);
    }

    #[inline]
    fn node(&mut self, n: Node) {
        match n {
            Node::Running => self.byte(0),
            Node::Warming(p) => {
                self.byte(1);
                self.phase(p);
            }
            Node::ShuttingDown(Shutdown {
                flag_written,
                flusher_stopped,
                tasks_stopped,
                warmup,
                warmup_stopped,
                loaded_at_stop,
            }) => {
                self.byte(2);
                self.byte(
                    flag_written as u8
                        | (flusher_stopped as u8) << 1
                        | (tasks_stopped as u8) << 2
                        | (warmup_stopped as u8) << 3
                        | (loaded_at_stop as u8) << 4,
                );
                self.byte(warmup.map_or(0xff, |p| p as u8));
            }
            Node::Down(Down::Crashed {
                in_warmup,
                harmful_loss,
            }) => {
                self.byte(3);
                self.byte(in_warmup as u8 | (harmful_loss as u8) << 1);
            }
            Node::Down(Down::ShutDown {
                in_warmup,
                harmful_loss,
            }) => {
                self.byte(4);
                self.byte(in_warmup as u8 | (harmful_loss as u8) << 1);
            }
        }
    }

    #[inline]
    fn mutation(&mut self, m: &Mutation) {
        // Five bytes: key, branch, what the op is, and its value and expiry (0 when it has
        // none).
        let Mutation { key, op, branch } = *m;
        let (what, value, expiry) = match op {
            Op::Set {
                value,
                expiry: None,
            } => (0, value, 0),
            Op::Set {
                value,
                expiry: Some(e),
            } => (1, value, e),
            Op::Delete => (2, 0, 0),
            Op::Expire {
                in_warmup,
                in_shutdown,
            } => (3 + in_warmup as u8 + 2 * in_shutdown as u8, 0, 0),
        };
        let packed = u64::from_le_bytes([key.0, branch, what, value, expiry, 0, 0, 0]);
        self.put(packed, 5);
    }

    #[inline]
    fn history(&mut self, h: &History) {
        self.len(h.len());
        for m in h.iter() {
            self.mutation(m);
        }
    }

    #[inline]
    fn table(&mut self, t: &Table) {
        self.len(t.0.len());
        for e in &t.0 {
            self.put(e.uuid as u64 | (e.seqno as u64) << 8, 2);
        }
    }

    #[inline]
    fn replica(&mut self, r: &ReplicaVb) {
        let ReplicaVb {
            history,
            failover,
            snap_start,
            snap_end,
            stream,
            added_back,
        } = r;
        self.history(history);
        self.table(failover);
        self.byte(*snap_start);
        self.byte(*snap_end);
        let added_back = (*added_back as u8) << 2;
        match *stream {
            Stream::None => self.byte(added_back),
            Stream::RolledBack(s) => {
                self.byte(1 | added_back);
                self.byte(s);
            }
            Stream::Accepted => self.byte(2 | added_back),
        }
    }

    #[inline]
    fn vb(&mut self, vb: &Vb) {
        let Vb {
            active,
            disk,
            replicas,
            failed_over,
        } = vb;
        match active {
            None => self.byte(0),
            Some(ActiveVb {
                in_map,
                history,
                failover,
                queue,
                notified,
                new_entry,
                flush_failed,
                cache_ahead,
            }) => {
                self.byte(
                    1 | (*in_map as u8) << 1
                        | (*notified as u8) << 2
                        | (*new_entry as u8) << 3
                        | (*flush_failed as u8) << 4
                        | (*cache_ahead as u8) << 5,
                );
                self.history(history);
                self.table(failover);
                self.len(queue.len());
                for q in queue {
                    match q {
                        Queued::Mutation(s) => {
                            self.byte(0);
                            self.byte(*s);
                        }
                        Queued::SetVbState(t) => {
                            self.byte(1);
                            self.table(t);
                        }
                    }
                }
            }
        }
        self.disk(disk);
        self.len(replicas.len());
        for r in replicas {
            self.replica(r);
        }
        // Nothing at all when no node is out, so that a check without failovers hashes as it
        // did before they were modelled.
        if let Some(d) = failed_over {
            self.byte(0xfe);
            self.disk(d);
        }
    }

    #[inline]
    fn disk(&mut self, d: &DiskVb) {
        let DiskVb {
            history,
            failover,
            snap_start,
            snap_end,
            replica,
        } = d;
        self.history(history);
        self.table(failover);
        self.byte(*snap_start);
        // Seqnos stay below 128 (`Bounds::into_model`), so the top bit is free.
        debug_assert!(*snap_end < 0x80);
        self.byte(*snap_end | (*replica as u8) << 7);
    }
}

impl Hash for State {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        // Destructured whole, so that a field added to the state does not compile until it is
        // encoded here.
        let State {
            node,
            clean_flag,
            read_clean,
            clock,
            vbs,
            next_uuid,
            writes,
            crashes,
            shutdowns,
            flush_failures,
            traffic_refused,
            flush_retried,
            failovers,
            failed_over,
        } = self;
        let mut p = Packer {
            word: 0,
            used: 0,
            hasher,
        };
        p.node(*node);
        p.byte(
            *clean_flag as u8
                | (*traffic_refused as u8) << 1
                | (*flush_retried as u8) << 2
                | match read_clean {
                    None => 0,
                    Some(false) => 1 << 3,
                    Some(true) => 2 << 3,
                },
        );
        for b in [
            *clock,
            *next_uuid,
            *writes,
            *crashes,
            *shutdowns,
            *flush_failures,
        ] {
            p.byte(b);
        }
        p.len(vbs.len());
        for vb in vbs {
            p.vb(vb);
        }
        // Nothing when no failover has happened: a check without failovers hashes as before.
        if *failovers > 0 {
            p.byte(0xfd);
            p.byte(*failovers);
            p.byte(match failed_over {
                None => 0,
                Some(FailedOverNode { clean_flag }) => 1 | (*clean_flag as u8) << 1,
            });
        }
        p.finish();
    }
}

#[cfg(test)]
mod tests {
    use crate::{Bounds, State, Variant};
    use stateright::Model;
    use std::collections::{BTreeSet, HashSet};
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

    /// Every reachable state at small bounds (two vbuckets, two replicas, a failed flush: 80,269
    /// states) has
    /// its own hash: the encoding loses nothing the state's `Ord` (which does not use `Hash`)
    /// tells apart.
    #[test]
    fn distinct_states_hash_apart() {
        let b = Bounds {
            vbuckets: 2,
            replicas: 2,
            keys: 1,
            writes: 1,
            crashes: 1,
            shutdowns: 0,
            flush_failures: 1,
            failovers: 0,
        };
        // And with a failover and an add-back (the failed-over node's disk, replica vbstates).
        let with_failover = Bounds {
            vbuckets: 1,
            replicas: 2,
            keys: 1,
            writes: 2,
            crashes: 1,
            shutdowns: 0,
            flush_failures: 0,
            failovers: 1,
        };
        for b in [b, with_failover] {
            distinct_states_hash_apart_within(b);
        }
    }

    fn distinct_states_hash_apart_within(b: Bounds) {
        let model = b.into_model(Variant::current());
        let hasher = BuildHasherDefault::<DefaultHasher>::default();
        let mut seen: BTreeSet<State> = BTreeSet::new();
        let mut hashes = HashSet::new();
        let mut todo = model.init_states();
        let mut actions = Vec::new();
        while let Some(s) = todo.pop() {
            if seen.contains(&s) {
                continue;
            }
            hashes.insert(hasher.hash_one(&s));
            actions.clear();
            model.actions(&s, &mut actions);
            for a in actions.drain(..) {
                todo.extend(model.next_state(&s, a));
            }
            seen.insert(s);
        }
        assert!(seen.len() > 10_000, "{} states", seen.len());
        assert_eq!(hashes.len(), seen.len());
    }
}
