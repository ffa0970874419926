#pragma once
/// @file
/// What a broker consumer reports about the messages it settles, to the metrics observer and
/// the library's log: one copy for every consumer (in-memory, RabbitMQ; sync and coroutine).
/// No {fmt}: plain string building through write_log, outside text escaped.

#include <spakky/event/consumer/integration_event_consumer.hpp>
#include <spakky/event/detail/escape.hpp>
#include <spakky/event/observability/log_record.hpp>
#include <spakky/event/observability/metrics.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace spakky::event::detail {

/// Delivery `message.delivery_attempt` failed and the message will be delivered again:
/// on_retried, and a warn record "delivery N of 'name' failed, delivering it again: reason".
inline void report_redelivery(std::string_view component, const IncomingMessage& message,
                              std::string_view reason) noexcept {
  if (MetricsObserver* observer = metrics_observer()) observer->on_retried(message.event_name, message.delivery_attempt);
  if (!log_enabled(LogLevel::warn)) return;
  try {
    const std::string line = "delivery " + std::to_string(message.delivery_attempt) + " of '" +
                             escape_for_log(message.event_name) + "' failed, delivering it again: " +
                             escape_for_log(reason);
    write_log(LogLevel::warn, component, line);
  } catch (...) {
    // Out of memory while reporting: the record is lost, the message is still redelivered.
  }
}

/// The consumer gave up on `message` (after `message.delivery_attempt` deliveries):
/// on_dead_lettered (the reason escaped), and an error record
/// "dead-lettered 'name' after N deliveries: reason".
inline void report_dead_letter(std::string_view component, const IncomingMessage& message,
                               std::string_view reason) noexcept {
  try {
    if (MetricsObserver* observer = metrics_observer()) observer->on_dead_lettered(message.event_name, escape_for_log(reason));
    if (!log_enabled(LogLevel::error)) return;
    const std::string line = "dead-lettered '" + escape_for_log(message.event_name) + "' after " +
                             std::to_string(message.delivery_attempt) +
                             (message.delivery_attempt == 1 ? " delivery: " : " deliveries: ") + escape_for_log(reason);
    write_log(LogLevel::error, component, line);
  } catch (...) {
    // Out of memory while reporting: the report is lost, the message is still dead-lettered.
  }
}

/// The handlers took `message` and it was acknowledged: on_consumed, with the time since the
/// consumer received it.
inline void report_consumed(const IncomingMessage& message, std::chrono::steady_clock::time_point received) noexcept {
  if (MetricsObserver* observer = metrics_observer()) {
    observer->on_consumed(message.event_name, std::chrono::steady_clock::now() - received);
  }
}

}  // namespace spakky::event::detail
