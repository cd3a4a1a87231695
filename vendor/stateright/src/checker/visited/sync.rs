//! warmcheck's patch: what the visited set synchronises with.
//!
//! A normal build uses the real thing: std's atomics, crossbeam-epoch, crossbeam-utils'
//! `Backoff` and parking_lot's `Mutex`, re-exported unchanged. With the `loom` feature (for
//! `cargo test --features loom`, never in a release build) the same names are loom's atomics
//! and mutex, a `Backoff` that yields to loom's scheduler, and a stand-in for crossbeam-epoch
//! that loom can run: a replaced table is not freed when no thread can read it any more but
//! kept until the set is dropped. So the loom check covers the insert and grow protocol (the
//! compare-and-swaps, freezing, copying, publishing, waiting for the next table, the counts
//! and the growth trigger, under loom's model of memory orderings), and not the epoch
//! reclamation itself (crossbeam-epoch's to get right) or the memory mappings.

#[cfg(not(feature = "loom"))]
pub(super) use crossbeam_epoch::{
    unprotected, Atomic, Collector, Guard, LocalHandle, Owned, Shared,
};
#[cfg(not(feature = "loom"))]
pub(super) use crossbeam_utils::Backoff;
#[cfg(not(feature = "loom"))]
pub(super) use parking_lot::Mutex;
#[cfg(not(feature = "loom"))]
pub(super) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[cfg(feature = "loom")]
pub(super) use loom_shim::*;

#[cfg(feature = "loom")]
mod loom_shim {
    pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::marker::PhantomData;
    use std::sync::Arc;

    /// Yields to loom's scheduler instead of spinning.
    pub(crate) struct Backoff;

    impl Backoff {
        pub(crate) fn new() -> Self {
            Backoff
        }

        pub(crate) fn snooze(&self) {
            loom::thread::yield_now();
        }
    }

    /// loom's mutex, locked as parking_lot's is (no poisoning).
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }

    type Retired = std::sync::Mutex<Vec<Box<dyn Send>>>;

    /// Keeps what is retired until the collector and every handle and guard are dropped.
    pub(crate) struct Collector(Arc<Retired>);

    pub(crate) struct LocalHandle(Arc<Retired>);

    pub(crate) struct Guard(Option<Arc<Retired>>);

    impl Collector {
        pub(crate) fn new() -> Self {
            Collector(Arc::default())
        }

        pub(crate) fn register(&self) -> LocalHandle {
            LocalHandle(Arc::clone(&self.0))
        }
    }

    impl LocalHandle {
        pub(crate) fn pin(&self) -> Guard {
            Guard(Some(Arc::clone(&self.0)))
        }
    }

    impl Guard {
        pub(crate) fn repin(&mut self) {}

        pub(crate) fn flush(&self) {}

        /// # Safety
        /// `shared` is no longer reachable, and retired once.
        pub(crate) unsafe fn defer_destroy<T: Send + 'static>(&self, shared: Shared<'_, T>) {
            let retired = self.0.as_ref().expect("a pinned guard");
            retired
                .lock()
                .unwrap()
                .push(Box::new(Box::from_raw(shared.0)));
        }
    }

    static UNPROTECTED: Guard = Guard(None);

    /// # Safety
    /// As crossbeam-epoch's: nothing else reads what is loaded under it.
    pub(crate) unsafe fn unprotected() -> &'static Guard {
        &UNPROTECTED
    }

    pub(crate) struct Atomic<T>(loom::sync::atomic::AtomicPtr<T>);

    pub(crate) struct Owned<T>(Box<T>);

    pub(crate) struct Shared<'g, T>(*mut T, PhantomData<&'g T>);

    impl<T> Clone for Shared<'_, T> {
        fn clone(&self) -> Self {
            *self
        }
    }

    impl<T> Copy for Shared<'_, T> {}

    impl<T> PartialEq for Shared<'_, T> {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }

    impl<T> Atomic<T> {
        pub(crate) fn new(value: T) -> Self {
            Atomic(loom::sync::atomic::AtomicPtr::new(Box::into_raw(Box::new(
                value,
            ))))
        }

        pub(crate) fn load<'g>(&self, order: Ordering, _guard: &'g Guard) -> Shared<'g, T> {
            Shared(self.0.load(order), PhantomData)
        }

        pub(crate) fn store(&self, new: Owned<T>, order: Ordering) {
            self.0.store(Box::into_raw(new.0), order);
        }
    }

    impl<T> Owned<T> {
        pub(crate) fn new(value: T) -> Self {
            Owned(Box::new(value))
        }
    }

    impl<'g, T> Shared<'g, T> {
        /// # Safety
        /// Not retired while `'g` lasts (here: never freed before the collector).
        pub(crate) unsafe fn deref(&self) -> &'g T {
            &*self.0
        }

        /// # Safety
        /// No other thread reads it, and it is owned once.
        pub(crate) unsafe fn into_owned(self) -> Owned<T> {
            Owned(Box::from_raw(self.0))
        }
    }
}
