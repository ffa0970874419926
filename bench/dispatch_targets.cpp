// The other translation unit: every benchmarked dispatch happens here, through a reference
// whose dynamic type this file cannot see (only the interfaces are included, never
// EventMediator or EventPublisher), so the compiler can neither devirtualize nor inline it.
// Built without LTO (see CMakeLists.txt).

#include "bench_common.hpp"

#include <spakky/event/event_consumer.hpp>
#include <spakky/event/event_dispatcher.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/subscription.hpp>

namespace bench {

void mediator_dispatch_n(spakky::event::IEventDispatcher& dispatcher, const spakky::event::AbstractEvent& event,
                         std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dispatcher.dispatch(event);
}

void publisher_publish_n(spakky::event::IEventPublisher& publisher, const spakky::event::AbstractEvent& event,
                         std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) publisher.publish(event);
}

void function_loop_n(const FunctionLoop& handlers, const Ping& event, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    for (const auto& handler : handlers) handler(event);
  }
}

void empty_loop_n(std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) asm volatile("" ::: "memory");  // kept, but does nothing
}

void signals2_n(Signals2Signal& signal, const Ping& event, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) signal(event);
}

void sigc_n(SigcSignal& signal, const Ping& event, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) signal.emit(event);
}

void mediator_register_cancel_n(spakky::event::IEventConsumer& consumer, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    spakky::event::Subscription subscription = consumer.register_handler<Ping>(AddToSink{});
    subscription.cancel();
  }
}

void mediator_register_cancel_and_wait_n(spakky::event::IEventConsumer& consumer, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    spakky::event::Subscription subscription = consumer.register_handler<Ping>(AddToSink{});
    subscription.cancel_and_wait();
  }
}

void signals2_connect_disconnect_n(Signals2Signal& signal, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    boost::signals2::connection connection = signal.connect(AddToSink{});
    connection.disconnect();
  }
}

void sigc_connect_disconnect_n(SigcSignal& signal, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    sigc::connection connection = signal.connect(AddToSink{});
    connection.disconnect();
  }
}

}  // namespace bench
