#pragma once
/// @file
/// Settlement: what a broker consumer does with a message once its handlers ran, by its
/// HandlingResult and its delivery attempt. The one rule every broker consumer follows
/// (in-memory and RabbitMQ, synchronous and coroutine); each broker only carries it out.

#include <spakky/event/consumer/integration_event_consumer.hpp>

#include <cstdint>
#include <string>

namespace spakky::event {

/// What becomes of a handled message.
enum class Settlement {
  ack,          ///< every handler that took it succeeded: acknowledge it
  redeliver,    ///< deliver it again as attempt `next_attempt` (a handler failed, or none took it)
  put_back,     ///< give it back as it is, no attempt counted: the consumer has no handler at all
  dead_letter,  ///< park it with `reason`
};

/// A settlement and what it needs.
struct SettlementDecision {
  Settlement action = Settlement::ack;  ///< what to do with the message
  std::uint64_t next_attempt = 0;  ///< redeliver: the attempt the next delivery is
  std::string reason;              ///< dead_letter: why
};

/// The rule. `attempt` is the delivery attempt that was handled (1 for the first), of at most
/// `max_attempts`. `can_put_back`: the broker can keep the message for later (a queue) and the
/// consumer has no handler left at all; then a message no handler took is given back without
/// counting an attempt (a shutdown that ended the subscriptions first must not burn the
/// attempts of what waits). Otherwise a failure or a message no handler took is delivered
/// again until the attempts are used up, then dead-lettered with the reason.
[[nodiscard]] inline SettlementDecision decide_settlement(const HandlingResult& result, std::uint64_t attempt,
                                                          std::uint64_t max_attempts, bool can_put_back) {
  SettlementDecision decision;
  switch (result.disposition) {
    case Disposition::ack:
      decision.action = Settlement::ack;
      break;
    case Disposition::retry:
      if (attempt < max_attempts) {
        decision.action = Settlement::redeliver;
        decision.next_attempt = attempt + 1;
      } else {
        decision.action = Settlement::dead_letter;
        decision.reason = "handler failed on all " + std::to_string(max_attempts) +
                          " delivery attempts; last error: " + result.reason;
      }
      break;
    case Disposition::requeue:
      if (can_put_back) {
        decision.action = Settlement::put_back;
      } else if (attempt < max_attempts) {
        decision.action = Settlement::redeliver;
        decision.next_attempt = attempt + 1;
      } else {
        decision.action = Settlement::dead_letter;
        decision.reason =
            "not handled on any of " + std::to_string(max_attempts) + " delivery attempts: " + result.reason;
      }
      break;
    case Disposition::dead_letter:
      decision.action = Settlement::dead_letter;
      decision.reason = result.reason;
      break;
  }
  return decision;
}

}  // namespace spakky::event
