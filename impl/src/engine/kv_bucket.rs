//! Bucket operations (kv_engine's `KVBucket` / `EPBucket`, `kv_bucket.cc`, `ep_bucket.cc`):
//! client sets, deletes and gets, compaction's and the expiry pager's expiries, the clock, and
//! the periodic stats snapshot (`StatSnap` -> `KVBucket::snapshotStats`).
//!
//! Client traffic (set, delete, get) stops when a shutdown begins; sets and deletes also stop
//! for good in a run whose warmup failed to flush a vbstate (`failedToSetAVbucketState`).
//! Compaction and the expiry pager are bucket tasks: they run once the vb map is populated and
//! go on through a shutdown until `shutdown_stop_tasks`.

use super::event::{Call, Expired};
use super::{tmpfail, Cluster, EngineError, ItemOp, Process};
use super::{MAX_CLOCK_SECS, MAX_KEY_BYTES, MAX_VALUE_BYTES};

impl Cluster {
    /// A client set (`EPBucket::set` -> `VBucket::set`): only while running with traffic
    /// enabled (not after a failed vbstate flush in warmup). Takes the next
    /// seqno, queues it in the checkpoint, notifies the flusher. `ttl` in seconds; `Some(0)`
    /// means no expiry, as in kv_engine. Returns the seqno. A key or value outside kv_engine's
    /// limits is refused here ([`EngineError::InvalidKey`], [`EngineError::TooBig`]), whatever
    /// the node's state, and changes nothing.
    pub fn set(
        &mut self,
        vb: u16,
        key: &str,
        value: &str,
        ttl: Option<u64>,
    ) -> Result<u64, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(EngineError::TooBig { len: value.len() });
        }
        let expiry = match ttl.filter(|t| *t > 0) {
            None => None,
            Some(t) => Some(
                self.clock
                    .checked_add(t)
                    .filter(|e| *e <= MAX_CLOCK_SECS)
                    .ok_or_else(|| {
                        EngineError::Overflow(format!(
                            "ttl {t} at clock {}: the expiry time would pass the clock's limit \
                             of {MAX_CLOCK_SECS} s",
                            self.clock
                        ))
                    })?,
            ),
        };
        self.check_traffic(vb)?;
        let seqno = self.queue_mutation(vb, key, ItemOp::Set, Some(value.to_string()), expiry)?;
        self.log(Call::Set {
            vb,
            key: key.to_string(),
            value: value.to_string(),
            ttl,
            seqno,
        })?;
        Ok(seqno)
    }

    /// A client delete (`VBucket::deleteItem`): only while running with traffic enabled, and
    /// the key is live. Next seqno, op `delete`. Returns the seqno.
    pub fn delete(&mut self, vb: u16, key: &str) -> Result<u64, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        check_key(key)?;
        self.check_traffic(vb)?;
        let now = self.clock;
        let m = self.mem(vb);
        let live = m
            .newest(key)
            .is_some_and(|i| i.op == ItemOp::Set && !i.is_expired_set(now));
        if !live {
            return Err(EngineError::NotFound(format!(
                "vb {vb}: key {key} is not live (absent, deleted or expired)"
            )));
        }
        let seqno = self.queue_mutation(vb, key, ItemOp::Delete, None, None)?;
        self.log(Call::Delete {
            vb,
            key: key.to_string(),
            seqno,
        })?;
        Ok(seqno)
    }

    /// A get (`VBucket::getInternal` -> `handleExpiredItem`): when the vb is in the vb map
    /// (warming from PopulateVBucketMap on, or running) and no shutdown has begun. A live set
    /// returns its value; an expired one is deleted as a new mutation (op `expire`) and `None`
    /// is returned; a deleted or absent key returns `None`.
    pub fn get(&mut self, vb: u16, key: &str) -> Result<Option<String>, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        check_key(key)?;
        if matches!(self.process, Process::ShuttingDown { .. }) {
            return Err(tmpfail(format!(
                "vb {vb}: gets stop when a shutdown begins ({})",
                self.process.describe()
            )));
        }
        self.check_expiry_allowed(vb)?;
        let now = self.clock;
        let (value, expired) = match self.mem(vb).newest(key) {
            Some(i) if i.is_expired_set(now) => (None, true),
            Some(i) if i.op == ItemOp::Set => (i.value.clone(), false),
            _ => (None, false),
        };
        let seqno = if expired {
            Some(self.queue_mutation(vb, key, ItemOp::Expire, None, None)?)
        } else {
            None
        };
        self.log(Call::Get {
            vb,
            key: key.to_string(),
            result: value.clone(),
            expired_seqno: seqno,
        })?;
        Ok(value)
    }

    /// The expiry pager's (or compaction's) visit of one item (`ExpiredItemPager` ->
    /// `VBucket::processExpiredItem`): when the vb is in the vb map and the bucket's tasks run
    /// (through a shutdown until they stop), and the newest mutation of `key` is a set whose
    /// expiry time has passed, deletes it as a new mutation (op `expire`) and returns its seqno.
    /// Refused with [`EngineError::NotFound`] when `key` has nothing to expire.
    pub fn expire_item(&mut self, vb: u16, key: &str) -> Result<u64, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        check_key(key)?;
        self.check_expiry_allowed(vb)?;
        let now = self.clock;
        if !self
            .mem(vb)
            .newest(key)
            .is_some_and(|i| i.is_expired_set(now))
        {
            return Err(EngineError::NotFound(format!(
                "vb {vb}: key {key} has nothing to expire (absent, deleted, or not expired at \
                 clock {now})"
            )));
        }
        let seqno = self.queue_mutation(vb, key, ItemOp::Expire, None, None)?;
        self.log(Call::ExpireItem {
            vb,
            key: key.to_string(),
            seqno,
        })?;
        Ok(seqno)
    }

    /// Compaction of `vb` (`EPBucket::compactInternal`'s expiry callback): expires every
    /// expired item, each a new seqno, oldest newest-mutation first. Returns the new seqnos.
    /// Runs while the bucket's tasks run (see [`expire_item`](Self::expire_item)).
    pub fn compact(&mut self, vb: u16) -> Result<Vec<u64>, EngineError> {
        self.usable()?;
        self.check_vb(vb)?;
        self.check_expiry_allowed(vb)?;
        let keys = self.expired_keys(vb);
        self.check_room(vb, keys.len() as u64)?;
        let expired = self.expire(vb, keys)?;
        self.log(Call::Compact {
            vb,
            expired: expired_entries(vb, &expired),
        })?;
        Ok(expired.into_iter().map(|(_, s)| s).collect())
    }

    /// The expiry pager (`ExpiredItemPager`): expires every expired item of every vb in the
    /// map. Returns `(vb, seqno)` of each expiry. Runs while the bucket's tasks run (see
    /// [`expire_item`](Self::expire_item)).
    pub fn run_expiry_pager(&mut self) -> Result<Vec<(u16, u64)>, EngineError> {
        self.usable()?;
        if !self.process.expiry_runs() {
            return Err(tmpfail(format!(
                "the expiry pager does not run while the node is {}",
                self.process.describe()
            )));
        }
        // Every vb's expiries fit, or none is queued.
        let mut due = Vec::new();
        for vb in 0..self.vbuckets() {
            if self.mem(vb).in_map {
                let keys = self.expired_keys(vb);
                self.check_room(vb, keys.len() as u64)?;
                due.push((vb, keys));
            }
        }
        let mut all = Vec::new();
        let mut lines = Vec::new();
        for (vb, keys) in due {
            let expired = self.expire(vb, keys)?;
            for (key, seqno) in &expired {
                lines.push(Expired {
                    vb,
                    key: key.clone(),
                    seqno: *seqno,
                });
                all.push((vb, *seqno));
            }
        }
        self.log(Call::RunExpiryPager { expired: lines })?;
        Ok(all)
    }

    /// Time passes. Allowed in every state. Time never goes backwards, and never past
    /// [`MAX_CLOCK_SECS`]: that is refused with [`EngineError::Overflow`], the clock unchanged.
    pub fn advance_clock(&mut self, secs: u64) -> Result<(), EngineError> {
        self.usable()?;
        self.clock = self
            .clock
            .checked_add(secs)
            .filter(|c| *c <= MAX_CLOCK_SECS)
            .ok_or_else(|| {
                EngineError::Overflow(format!(
                    "advance_clock {secs}: the clock ({} s) would pass its limit of \
                     {MAX_CLOCK_SECS} s (in nanoseconds, the CAS unit, it must fit in 64 bits)",
                    self.clock
                ))
            })?;
        self.log(Call::AdvanceClock { secs })
    }

    /// The periodic stats snapshot (`StatSnap`): when running and stats.json says clean,
    /// rewrites stats.json without `ep_force_shutdown`, so a crash from now on is unclean.
    pub fn stats_snapshot(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        if self.process != Process::Running {
            return Err(tmpfail(format!(
                "the stats snapshot runs only while running (node {})",
                self.process.describe()
            )));
        }
        if !self.clean_flag {
            return Err(tmpfail(
                "stats.json does not say clean: the snapshot would change nothing",
            ));
        }
        self.write_stats(None)?;
        self.log(Call::StatsSnapshot)
    }

    pub(super) fn check_traffic(&self, vb: u16) -> Result<(), EngineError> {
        if self.process != Process::Running {
            return Err(tmpfail(format!(
                "vb {vb} is not taking traffic ({})",
                self.process.describe()
            )));
        }
        if self.traffic_refused {
            return Err(tmpfail(format!(
                "vb {vb} is not taking traffic: a vbstate flush failed in warmup \
                 (failedToSetAVbucketState); writes are refused until the node restarts"
            )));
        }
        Ok(())
    }

    /// Expiry (a get's, compaction's, the pager's) needs the vb in a populated map and the
    /// bucket's tasks running.
    pub(super) fn check_expiry_allowed(&self, vb: u16) -> Result<(), EngineError> {
        if self.process.expiry_runs() && self.in_map(vb) {
            Ok(())
        } else if self.process.vb_map_populated() && self.in_map(vb) {
            Err(tmpfail(format!(
                "vb {vb}: expiry stopped with the bucket's tasks ({})",
                self.process.describe()
            )))
        } else {
            Err(tmpfail(format!(
                "vb {vb} is not in the vb map ({})",
                self.process.describe()
            )))
        }
    }

    /// The keys of `vb` whose newest mutation is an expired set, oldest newest-mutation first.
    pub(super) fn expired_keys(&self, vb: u16) -> Vec<String> {
        let now = self.clock;
        let m = self.mem(vb);
        let mut keys: Vec<(u64, String)> = Vec::new();
        for item in m.history.iter().rev() {
            if keys.iter().any(|(_, k)| *k == item.key) {
                continue;
            }
            keys.push((item.seqno, item.key.clone()));
        }
        keys.retain(|(s, _)| m.history[*s as usize - 1].is_expired_set(now));
        keys.sort();
        keys.into_iter().map(|(_, key)| key).collect()
    }

    /// Expire `keys` of `vb`, in order, each a new seqno. Returns (key, seqno).
    pub(super) fn expire(
        &mut self,
        vb: u16,
        keys: Vec<String>,
    ) -> Result<Vec<(String, u64)>, EngineError> {
        keys.into_iter()
            .map(|key| {
                let seqno = self.queue_mutation(vb, &key, ItemOp::Expire, None, None)?;
                Ok((key, seqno))
            })
            .collect()
    }

    pub(super) fn write_stats(&mut self, value: Option<&str>) -> Result<(), EngineError> {
        let active = self.roles.active;
        if let Err(e) = self.stats[active].write(value) {
            self.poisoned = Some(e.to_string());
            return Err(e);
        }
        self.clean_flag = value == Some("false");
        Ok(())
    }
}

fn expired_entries(vb: u16, expired: &[(String, u64)]) -> Vec<Expired> {
    expired
        .iter()
        .map(|(key, seqno)| Expired {
            vb,
            key: key.clone(),
            seqno: *seqno,
        })
        .collect()
}

/// kv_engine refuses a key that is empty or longer than [`MAX_KEY_BYTES`] on every command
/// (the packet validator, before the engine is asked).
fn check_key(key: &str) -> Result<(), EngineError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(EngineError::InvalidKey { len: key.len() });
    }
    Ok(())
}
