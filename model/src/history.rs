//! A history of mutations: what the active, its disk and each replica hold for a vb.

use crate::failover::Seqno;
use crate::Mutation;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::fmt;
use std::ops::Deref;

/// The mutation at each seqno, seqno `i + 1` at index `i`. Up to 6 are kept inline (at the
/// default bounds a history holds at most 4: two sets with a TTL and their expiries), so a
/// state holding them clones without allocating. Reads go through the slice it derefs to.
/// Serialises as a JSON array, as the `im::Vector` it replaces did.
#[derive(Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct History(SmallVec<[Mutation; 6]>);

impl History {
    pub fn new() -> Self {
        History(SmallVec::new())
    }

    /// Append the mutation at the next seqno.
    pub fn push_back(&mut self, m: Mutation) {
        self.0.push(m);
    }

    /// The newest mutation.
    pub fn back(&self) -> Option<&Mutation> {
        self.0.last()
    }

    /// Keep the first `len` seqnos.
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// A new failover entry `(uuid, at)` on a promoted copy says the history above `at` is
    /// `uuid`'s: the ghost branch of every mutation held there follows.
    pub(crate) fn adopt_above(&mut self, at: Seqno, uuid: crate::failover::Uuid) {
        for m in self.0.iter_mut().skip(at as usize) {
            m.branch = uuid;
        }
    }

    /// The mutations, to rename their keys or values ([`crate::State::representative_data`]).
    pub(crate) fn as_mut_slice(&mut self) -> &mut [Mutation] {
        &mut self.0
    }

    /// Whether the mutations are on the heap (more than the inline capacity).
    pub(crate) fn spilled(&self) -> bool {
        self.0.spilled()
    }

    /// The high seqno: the number of mutations.
    pub fn high_seqno(&self) -> Seqno {
        self.0.len() as Seqno
    }
}

/// A copy of the slice (a `memcpy` when inline), where `SmallVec`'s own `clone` pushes one
/// element at a time.
impl Clone for History {
    fn clone(&self) -> Self {
        History(SmallVec::from_slice(&self.0))
    }
}

impl Deref for History {
    type Target = [Mutation];
    fn deref(&self) -> &[Mutation] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a History {
    type Item = &'a Mutation;
    type IntoIter = std::slice::Iter<'a, Mutation>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<Mutation> for History {
    fn from_iter<I: IntoIterator<Item = Mutation>>(iter: I) -> Self {
        History(iter.into_iter().collect())
    }
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}
