//! warmcheck-impl: a small, crash-safe reference of kv_engine's vBucket store and warmup, on real
//! files. It knows nothing of stateright or of the model; `docs/vocabulary.md` is the contract.
//!
//! Layout:
//! - `storage`: append-only vbucket data files, the storage-backend seam (real files and a
//!   fault-injecting in-memory backend), the data-directory lock.
//! - `stats`: stats.json and its clean-shutdown flag.
//! - `failover`: the failover table, `needsRollback` included.
//! - `engine`: the deterministic core (active node, checkpoint queue, flusher, warmup, expiry,
//!   DCP producer/consumer, replicas), stepped one call at a time.
//! - `scenario`: the scenario-script runner behind `warmcheck scenario`.
//! - `decide`: the JSON-lines rollback decider behind `warmcheck failover-decide`.

pub mod decide;
pub mod engine;
pub mod failover;
pub mod input;
pub mod scenario;
pub mod stats;
pub mod storage;
