//! The data-directory lock: one owner at a time, in this process or another.

use std::process::Command;
use warmcheck_impl::storage::{DirLock, StoreError};

/// Set in the child process of `lock_held_by_another_process_is_refused`.
const CHILD_ENV: &str = "WARMCHECK_LOCK_TEST_CHILD_DIR";

#[test]
fn second_acquire_of_a_locked_directory_fails_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let held = DirLock::acquire(dir.path()).unwrap();
    let err = DirLock::acquire(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("in use by another process"), "{msg}");
    assert!(
        msg.contains(&format!("process {}", std::process::id())),
        "{msg}"
    );
    drop(held);
}

#[test]
fn lock_is_released_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    drop(DirLock::acquire(dir.path()).unwrap());
    let again = DirLock::acquire(dir.path()).unwrap();
    assert_eq!(again.dir(), dir.path());
}

#[test]
fn acquire_creates_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a/b");
    let _lock = DirLock::acquire(&data).unwrap();
    assert!(data.join(DirLock::FILE_NAME).exists());
}

#[test]
fn lock_held_by_another_process_is_refused() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        // The child: try to take the lock the parent holds; report through the exit code.
        match DirLock::acquire(std::path::Path::new(&dir)) {
            Err(StoreError::Locked { .. }) => std::process::exit(0),
            Err(e) => panic!("child: unexpected error {e}"),
            Ok(_) => panic!("child: acquired a lock the parent holds"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let _held = DirLock::acquire(dir.path()).unwrap();
    // This test alone, by its path in the one test binary (`storage_lock::...`).
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let name = format!("{module}::lock_held_by_another_process_is_refused");
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name, "--nocapture"])
        .env(CHILD_ENV, dir.path())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the child process got the lock or failed otherwise"
    );
}

#[test]
fn a_lock_file_holding_anything_but_a_pid_is_read_within_a_bound_and_not_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let held = DirLock::acquire(dir.path()).unwrap();
    // Someone wrote 8 MiB that is not a pid into the held lock file: the message of whoever
    // comes second neither reads nor quotes it.
    std::fs::write(dir.path().join(DirLock::FILE_NAME), vec![b'x'; 8 << 20]).unwrap();
    let err = DirLock::acquire(dir.path()).unwrap_err();
    let StoreError::Locked { holder, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(holder, "an unknown process");
    assert!(
        err.to_string().len() < 1000,
        "{} bytes",
        err.to_string().len()
    );
    drop(held);
}
