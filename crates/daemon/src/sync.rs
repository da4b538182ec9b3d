//! Locks that survive a panic elsewhere: the engine's shared parts hold plain data
//! (maps, counters), which a panicking holder cannot leave half-updated in a way
//! worse than losing the engine, so a poisoned lock is taken over, not propagated.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
