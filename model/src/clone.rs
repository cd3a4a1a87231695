//! Cloning a state, the checker's most frequent operation after hashing: every transition
//! starts from a clone of the state it leaves.
//!
//! A state owns heap memory only through a `SmallVec` that has spilled (a history, failover
//! table, checkpoint queue, replica list or vb list longer than its inline capacity) and
//! through a failed-over node's boxed disk (only with `--failovers`); every other part is
//! plain bytes. When nothing has spilled, the state's bytes are the whole state,
//! so a bitwise copy is an independent, equal value, and `clone` is one `memcpy` instead of a
//! walk that clones each vb, replica and queued item through temporaries. Otherwise it clones
//! part by part, as `#[derive(Clone)]` would.
//!
//! What keeps the copy sound when the state changes: [`inline`] destructures every struct it
//! walks without `..`, so a new field does not compile until it is looked at here, and each
//! field that is not a `SmallVec` goes through [`plain`], which compiles only for `Copy`
//! types (which own nothing to free).

use crate::{ActiveVb, DiskVb, Queued, ReplicaVb, State, Vb};

impl Clone for State {
    fn clone(&self) -> State {
        if inline(self) {
            // SAFETY: `inline` found no spilled `SmallVec`, and every other part of a state is
            // `Copy` (checked at compile time by `plain`): the state owns nothing outside its
            // own bytes, so the copy shares nothing with `self` and both can be dropped.
            unsafe { std::ptr::read(self) }
        } else {
            // Every field but `vbs` is `Copy`: `..*self` copies them (and would not compile
            // otherwise).
            State {
                vbs: self.vbs.clone(),
                ..*self
            }
        }
    }
}

/// A compile-time check that a part owns no heap memory; does nothing at run time.
fn plain<T: Copy>(_: &T) {}

/// Whether every `SmallVec` in the state is inline (none has spilled to the heap).
fn inline(s: &State) -> bool {
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
    } = s;
    plain(node);
    plain(clean_flag);
    plain(read_clean);
    plain(clock);
    plain(next_uuid);
    plain(writes);
    plain(crashes);
    plain(shutdowns);
    plain(flush_failures);
    plain(traffic_refused);
    plain(flush_retried);
    plain(failovers);
    plain(failed_over);
    !vbs.spilled() && vbs.iter().all(vb_inline)
}

fn vb_inline(vb: &Vb) -> bool {
    let Vb {
        active,
        disk,
        replicas,
        failed_over,
    } = vb;
    active.as_ref().is_none_or(active_inline)
        && disk_inline(disk)
        // A failed-over disk is boxed: on the heap, so never a bitwise copy.
        && failed_over.is_none()
        && !replicas.spilled()
        && replicas.iter().all(replica_inline)
}

fn active_inline(a: &ActiveVb) -> bool {
    let ActiveVb {
        in_map,
        history,
        failover,
        queue,
        notified,
        new_entry,
        flush_failed,
        cache_ahead,
    } = a;
    plain(in_map);
    plain(notified);
    plain(new_entry);
    plain(flush_failed);
    plain(cache_ahead);
    !history.spilled()
        && !failover.0.spilled()
        && !queue.spilled()
        && queue.iter().all(|q| match q {
            Queued::Mutation(seqno) => {
                plain(seqno);
                true
            }
            Queued::SetVbState(table) => !table.0.spilled(),
        })
}

fn disk_inline(d: &DiskVb) -> bool {
    let DiskVb {
        history,
        failover,
        snap_start,
        snap_end,
        replica,
    } = d;
    plain(snap_start);
    plain(snap_end);
    plain(replica);
    !history.spilled() && !failover.0.spilled()
}

fn replica_inline(r: &ReplicaVb) -> bool {
    let ReplicaVb {
        history,
        failover,
        snap_start,
        snap_end,
        stream,
        added_back,
    } = r;
    plain(snap_start);
    plain(snap_end);
    plain(stream);
    plain(added_back);
    !history.spilled() && !failover.0.spilled()
}

#[cfg(test)]
pub(crate) fn inline_for_test(s: &State) -> bool {
    inline(s)
}
