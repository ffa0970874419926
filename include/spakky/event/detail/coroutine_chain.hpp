#pragma once
/// @file
/// Which chain of Task coroutines the current thread is running, if any.
///
/// A chain is a root Task and every Task it awaits, directly or not: one logical thread of
/// execution that may hop between OS threads at each suspension. Task sets this on every thread
/// where a segment of a chain runs (and restores it when the segment ends), so that
/// cancel_and_wait, called from inside an async handler that resumed on another thread, can tell
/// its own call apart from other calls.

namespace spakky::event::detail {

/// The running chain's identity (its root coroutine frame), or null outside any Task.
inline const void*& current_coroutine_chain() noexcept {
  thread_local const void* chain = nullptr;
  return chain;
}

}  // namespace spakky::event::detail
