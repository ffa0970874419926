#pragma once
/// @file
/// DispatchOutcome: what a dispatch reports to callers that act on failure.

#include <cstddef>
#include <exception>

namespace spakky::event {

/// What one dispatch did, for callers that must act on failure (a broker consumer that
/// acknowledges a message only when every handler succeeded).
struct DispatchOutcome {
  std::size_t handlers_run = 0;     ///< handlers called (failed ones included)
  std::size_t handlers_failed = 0;  ///< handlers that threw
  std::exception_ptr first_failure;  ///< what the first failing handler threw

  /// True if no handler failed (also when there were none).
  [[nodiscard]] bool succeeded() const noexcept { return handlers_failed == 0; }
};

}  // namespace spakky::event
