//! Signals and temporary directories: whatever ends the process, the temporary directories it
//! made are removed.
//!
//! - SIGINT, SIGTERM and SIGHUP: a long run that polls [`interrupted`] (`check`, `conform`,
//!   `soak`, after [`stop_gracefully`]) stops at the first one, reports what it has, and its
//!   temporary directories go as they would at the end. Any other command, or a second signal,
//!   ends the process groups of its children ([`register_group`]) with SIGKILL, removes the
//!   temporary directories and ends the process by the signal.
//! - SIGPIPE (the reader of our output went away, `warmcheck check | head`): the write fails,
//!   the temporary directories are removed and the process ends quietly by SIGPIPE, as command
//!   line tools do.
//!
//! A temporary directory counts when it was made with [`temp_dir`]. Every removal holds the
//! list's lock from start to end, and a signal that ends the process keeps holding it until the
//! process is gone: a directory leaves the list only once it is removed, so a signal arriving
//! while the directory is being dropped can neither skip it nor end the process halfway
//! through its removal.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicBool = AtomicBool::new(false);
static PIPE_BROKEN: AtomicBool = AtomicBool::new(false);
static TEMP_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// The process groups of the children running now (`conform --sut`'s SUTs).
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
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
                    end_by(sig);
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
        end_by(signal_hook::consts::SIGPIPE);
    }
}

/// End the children's process groups, remove the temporary directories and end the process by
/// `sig`. The locks of both lists are held until the process is gone: no other thread removes,
/// drops or forgets a directory or a group meanwhile, and none is made.
#[cfg(unix)]
fn end_by(sig: i32) -> ! {
    let groups = lock(&GROUPS);
    for &g in groups.iter() {
        signal_group(g, libc::SIGKILL);
    }
    // A SIGKILLed process ends at once, unless it waits on the kernel; its directory is removed
    // only once it has ended (or after this bound: the process itself is ending).
    let until = Instant::now() + Duration::from_secs(2);
    while groups.iter().any(|&g| group_alive(g)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let dirs = lock(&TEMP_DIRS);
    for d in dirs.iter() {
        remove_all(d);
    }
    let _ = signal_hook::low_level::emulate_default_handler(sig);
    let code = 128 + sig;
    // The guards stay held: the process ends with them.
    std::mem::forget((groups, dirs));
    std::process::exit(code)
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

/// Remove `dir` and everything below it; a few tries, since another thread of this process
/// may still be writing into it. Gone already is fine.
fn remove_all(dir: &Path) {
    for _ in 0..50 {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => return,
        }
    }
}

fn lock<T>(m: &'static Mutex<T>) -> std::sync::MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Record process group `pgid` (a child started in a group of its own, not reaped yet) as one
/// to end with SIGKILL if a signal ends this process. [`unregister_group`] it before reaping
/// the group's leader.
pub fn register_group(pgid: i32) {
    lock(&GROUPS).push(pgid);
}

/// Forget process group `pgid` (its leader is about to be reaped: the id may be reused).
pub fn unregister_group(pgid: i32) {
    lock(&GROUPS).retain(|&g| g != pgid);
}

/// Send `signal` to process group `pgid`.
#[cfg(unix)]
pub fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group; it touches no memory.
    // Callers pass only groups they created (`process_group(0)`) whose leader is not reaped
    // yet, so the id is still theirs.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Whether a process of group `pgid` still runs (zombies do not count).
#[cfg(unix)]
pub fn group_alive(pgid: i32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        // No /proc: whether the group has any member at all.
        // SAFETY: kill(2) with signal 0 only checks; it touches no memory.
        return unsafe { libc::kill(-pgid, 0) } == 0;
    };
    entries.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // "PID (COMM) S PPID PGRP ...": COMM may hold spaces and parentheses; the last ')'
        // ends it.
        let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 1..)) else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("Z");
        let pgrp = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        pgrp == Some(pgid) && !matches!(state, "Z" | "X")
    })
}

/// Where the commands keep their files by default: tmpfs (`/dev/shm`) when there is one, so
/// that the file backend's fsyncs (real calls) cost microseconds, not the disk's latency;
/// else the system's temporary directory.
pub fn tmpfs_or_temp() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
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
    // Made and recorded under the lock: a signal between the two cannot miss it.
    let mut dirs = lock(&TEMP_DIRS);
    let dir = match parent {
        Some(p) => b.tempdir_in(p)?,
        None => b.tempdir()?,
    };
    dirs.push(dir.path().to_path_buf());
    Ok(TempDir { dir: Some(dir) })
}

impl TempDir {
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("a temporary directory").path()
    }

    /// Keep the directory (it is no longer removed); returns its path.
    pub fn keep(mut self) -> PathBuf {
        let dir = self.dir.take().expect("a temporary directory");
        lock(&TEMP_DIRS).retain(|p| p != dir.path());
        dir.keep()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            // Removed under the lock, and forgotten only once removed (see the module's doc).
            let mut dirs = lock(&TEMP_DIRS);
            let path = dir.keep();
            remove_all(&path);
            dirs.retain(|p| *p != path);
        }
    }
}
