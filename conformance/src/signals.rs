//! Signals and temporary directories: whatever ends the process, the temporary directories it
//! made are removed.
//!
//! - SIGINT, SIGTERM and SIGHUP: a long run that polls [`interrupted`] (`check`, `conform`,
//!   `soak`, after [`stop_gracefully`]) stops at the first one, reports what it has, and its
//!   temporary directories go as they would at the end. Any other command, or a second signal,
//!   removes the temporary directories and ends the process by the signal.
//! - SIGPIPE (the reader of our output went away, `warmcheck check | head`): the write fails,
//!   the temporary directories are removed and the process ends quietly by SIGPIPE, as command
//!   line tools do.
//!
//! A temporary directory counts when it was made with [`temp_dir`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicBool = AtomicBool::new(false);
static PIPE_BROKEN: AtomicBool = AtomicBool::new(false);
static TEMP_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

/// Install the handlers (once per process; later calls do nothing). `main` calls it first.
pub fn install() {
    INSTALL.call_once(|| {
        #[cfg(unix)]
        install_unix();
    });
}

#[cfg(unix)]
fn install_unix() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGPIPE, SIGTERM};
    // A broken pipe: the failing write returns EPIPE, and `println!` panics; the panic hook
    // below sees this flag, removes the temporary directories and ends the process quietly.
    if signal_hook::flag::register(SIGPIPE, &PIPE_BROKEN).is_ok() {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if is_print_failure(info) {
                end_if_pipe_broken();
            }
            default_hook(info);
        }));
    }
    match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                for sig in signals.forever() {
                    if GRACEFUL.load(Ordering::SeqCst) && !INTERRUPTED.swap(true, Ordering::SeqCst)
                    {
                        continue;
                    }
                    INTERRUPTED.store(true, Ordering::SeqCst);
                    remove_temp_dirs();
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                    std::process::exit(128 + sig);
                }
            });
        }
        Err(e) => log::warn!("cannot install the signal handlers: {e}"),
    }
}

/// If a write found its reader gone (SIGPIPE), remove the temporary directories and end the
/// process quietly by SIGPIPE, as command-line tools do; otherwise return. For a command that
/// writes with `write!` and sees the error itself.
pub fn end_if_pipe_broken() {
    #[cfg(unix)]
    if PIPE_BROKEN.load(Ordering::SeqCst) {
        use signal_hook::consts::SIGPIPE;
        remove_temp_dirs();
        let _ = signal_hook::low_level::emulate_default_handler(SIGPIPE);
        std::process::exit(128 + SIGPIPE);
    }
}

/// Whether a panic is `print!`'s on a failed write (the only panic a broken pipe causes).
#[cfg(unix)]
fn is_print_failure(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let payload = info.payload();
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    text.starts_with("failed printing to std")
}

/// The running command polls [`interrupted`]: the first SIGINT, SIGTERM or SIGHUP asks it to
/// stop (a second one ends the process).
pub fn stop_gracefully() {
    install();
    GRACEFUL.store(true, Ordering::SeqCst);
}

/// Whether a signal asked the run to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Remove every registered temporary directory (a signal is ending the process).
fn remove_temp_dirs() {
    let dirs = match TEMP_DIRS.lock() {
        Ok(mut d) => std::mem::take(&mut *d),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    for d in dirs {
        // Another thread may still be writing into it: try a few times.
        for _ in 0..5 {
            match std::fs::remove_dir_all(&d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => continue,
                _ => break,
            }
        }
    }
}

/// A temporary directory, removed when dropped, and when a signal ends the process.
pub struct TempDir {
    dir: Option<tempfile::TempDir>,
}

/// Make a temporary directory named `prefix...` in `parent` (the system's temporary directory
/// if `None`).
pub fn temp_dir(prefix: &str, parent: Option<&Path>) -> std::io::Result<TempDir> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    let dir = match parent {
        Some(p) => b.tempdir_in(p)?,
        None => b.tempdir()?,
    };
    lock_dirs().push(dir.path().to_path_buf());
    Ok(TempDir { dir: Some(dir) })
}

fn lock_dirs() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    TEMP_DIRS.lock().unwrap_or_else(|p| p.into_inner())
}

impl TempDir {
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("a temporary directory").path()
    }

    /// Keep the directory (it is no longer removed); returns its path.
    pub fn keep(mut self) -> PathBuf {
        let dir = self.dir.take().expect("a temporary directory");
        lock_dirs().retain(|p| p != dir.path());
        dir.keep()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            lock_dirs().retain(|p| p != dir.path());
            drop(dir);
        }
    }
}
