//! How the active node stops: a crash (`kill -9`), or a clean shutdown
//! (`EventuallyPersistentEngine::destroy` -> `KVBucket::deinitialize`) in the design's order of
//! writing the clean flag and stopping the flusher.

use super::disk;
use super::{tmpfail, Cluster, EngineError, Process, ShutdownFlag, StreamState, Tear};
use serde_json::json;

impl Cluster {
    /// The active node dies (whenever it is not down): memory, checkpoints, notifications and
    /// streams are lost; the disk keeps what it has (with the fault-injecting backend, only
    /// what was synced: it crashes with [`Tear::None`]). The files are reopened from what
    /// storage has. Also allowed after a storage error (it clears the cluster's poisoning if
    /// the files reopen).
    pub fn crash(&mut self) -> Result<(), EngineError> {
        self.crash_torn(Tear::None)
    }

    /// [`crash`](Self::crash), with the fault-injecting backend keeping what `tear` says of the
    /// unsynced bytes (other backends ignore `tear`). Logged as `crash`, with a `tear` field
    /// unless it is `Tear::None`.
    pub fn crash_torn(&mut self, tear: Tear) -> Result<(), EngineError> {
        if self.process == Process::Down && self.poisoned.is_none() {
            return Err(tmpfail("the node is already down"));
        }
        self.go_down();
        disk::crash_backend(&self.backend, tear);
        match self.reopen_files() {
            Ok(()) => self.poisoned = None,
            Err(e) => {
                self.poisoned = Some(e.to_string());
                return Err(e);
            }
        }
        match tear {
            Tear::None => self.log("crash", &[]),
            t => self.log("crash", &[("tear", json!(format!("{t:?}")))]),
        }
    }

    /// How far the shutdown is (flag written, flusher stopped), or an error saying that `what`
    /// happens only during a shutdown.
    pub(super) fn shutdown_progress(&self, what: &str) -> Result<(bool, bool), EngineError> {
        match self.process {
            Process::ShuttingDown {
                flag_written,
                flusher_stopped,
            } => Ok((flag_written, flusher_stopped)),
            _ => Err(tmpfail(format!(
                "{what} only during a shutdown (node {})",
                self.process.describe()
            ))),
        }
    }

    /// Clean shutdown begins (`EventuallyPersistentEngine::destroy`): only while running.
    /// Client traffic, expiry and DCP stop; streams drop.
    pub fn shutdown_begin(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        if self.process != Process::Running {
            return Err(tmpfail(format!(
                "shutdown begins only while running (node {})",
                self.process.describe()
            )));
        }
        self.process = Process::ShuttingDown {
            flag_written: false,
            flusher_stopped: false,
        };
        self.drop_streams();
        self.log("shutdown_begin", &[])
    }

    /// The shutdown path writes `ep_force_shutdown=false`. Before-flush: any time during the
    /// shutdown; after-flush: once the flusher stopped, and this ends the shutdown.
    pub fn shutdown_write_clean_flag(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        let (flag_written, flusher_stopped) =
            self.shutdown_progress("the clean flag is written")?;
        if flag_written {
            return Err(tmpfail("the clean flag is already written"));
        }
        if !self.flag_before_flush() && !flusher_stopped {
            return Err(tmpfail(format!(
                "{}: the clean flag is written only after the flusher stopped",
                self.variant.shutdown_flag
            )));
        }
        self.write_stats(Some("false"))?;
        self.process = Process::ShuttingDown {
            flag_written: true,
            flusher_stopped,
        };
        self.end_shutdown_if_done();
        self.log("shutdown_write_clean_flag", &[])
    }

    /// The flushers stop (`KVBucket::deinitialize`): when no vb is notified (the final flushes
    /// are ordinary `flush` calls). Before-flush: needs the flag written, and this ends the
    /// shutdown. Queued items of vbs that were never notified are lost (MB-43744).
    pub fn shutdown_stop_flusher(&mut self) -> Result<(), EngineError> {
        self.usable()?;
        let (flag_written, flusher_stopped) = self.shutdown_progress("the flusher stops")?;
        if flusher_stopped {
            return Err(tmpfail("the flusher is already stopped"));
        }
        let notified = self.notified_vbs();
        if !notified.is_empty() {
            return Err(tmpfail(format!(
                "the flusher still has notified vbs to flush: {notified:?}"
            )));
        }
        if self.flag_before_flush() && !flag_written {
            return Err(tmpfail(format!(
                "{}: the flusher stops only after the clean flag is written",
                self.variant.shutdown_flag
            )));
        }
        self.process = Process::ShuttingDown {
            flag_written,
            flusher_stopped: true,
        };
        self.end_shutdown_if_done();
        self.log("shutdown_stop_flusher", &[])
    }

    /// The whole clean shutdown in the variant's order: begin; before-flush: flag, final
    /// flushes, stop; after-flush: final flushes, stop, flag. Each step is its own call (and
    /// its own event-log line).
    pub fn shutdown(&mut self) -> Result<(), EngineError> {
        self.shutdown_begin()?;
        if self.flag_before_flush() {
            self.shutdown_write_clean_flag()?;
            self.flush_all()?;
            self.shutdown_stop_flusher()?;
        } else {
            self.flush_all()?;
            self.shutdown_stop_flusher()?;
            self.shutdown_write_clean_flag()?;
        }
        Ok(())
    }

    pub(super) fn flag_before_flush(&self) -> bool {
        self.variant.shutdown_flag == ShutdownFlag::BeforeFlush
            || self.bugs.clean_flag_before_final_flush
    }

    /// Lose everything volatile.
    pub(super) fn go_down(&mut self) {
        self.process = Process::Down;
        self.read_clean = None;
        for a in &mut self.vbs {
            a.mem = None;
        }
        self.drop_streams();
    }

    pub(super) fn drop_streams(&mut self) {
        for row in &mut self.replicas {
            for r in row {
                r.stream = StreamState::None;
            }
        }
    }

    pub(super) fn end_shutdown_if_done(&mut self) {
        if let Process::ShuttingDown {
            flag_written: true,
            flusher_stopped: true,
        } = self.process
        {
            self.go_down();
        }
    }
}
