// One source, built twice: as a linked shared library and as a dlopen'ed
// module. SPAKKY_SHARED_LIB_ENTRY names the only exported function.
#include "shared_events.hpp"

#include <typeinfo>
#include <utility>

#ifndef SPAKKY_SHARED_LIB_ENTRY
#error "SPAKKY_SHARED_LIB_ENTRY must name the exported entry point"
#endif

namespace {

namespace t = spakky_shared_lib_test;
namespace ev = spakky::event;

void register_handlers(ev::IEventConsumer* consumer, t::Counters* counters, ev::Subscription* ping_out,
                       ev::Subscription* catch_all_out) {
  ev::Subscription ping = consumer->register_handler<t::Ping>([counters](const t::Ping& ping_event) {
    ++counters->ping;
    counters->last_ping = ping_event.value;
  });
  ev::Subscription catch_all = consumer->register_handler<ev::AbstractDomainEvent>(
      [counters](const ev::AbstractDomainEvent&) { ++counters->catch_all; });
  if (ping_out != nullptr) {
    *ping_out = std::move(ping);
  }
  if (catch_all_out != nullptr) {
    *catch_all_out = std::move(catch_all);
  }
}

void dispatch(ev::IEventDispatcher* dispatcher, t::EventKind kind, int value) {
  switch (kind) {
    case t::EventKind::ping:
      dispatcher->dispatch(t::Ping{value});
      break;
    case t::EventKind::pong:
      dispatcher->dispatch(t::Pong{value});
      break;
    case t::EventKind::first_from_program:
      dispatcher->dispatch(t::FirstFromProgram{value});
      break;
    case t::EventKind::first_from_linked:
      dispatcher->dispatch(t::FirstFromLinked{value});
      break;
    case t::EventKind::first_from_plugin:
      dispatcher->dispatch(t::FirstFromPlugin{value});
      break;
  }
}

void cancel(ev::Subscription* subscription) { subscription->cancel(); }

ev::EventMediator* create_mediator() { return new ev::EventMediator(); }

void destroy_mediator(ev::EventMediator* mediator) { delete mediator; }

template <int... I>
void register_each_numbered(ev::IEventConsumer* consumer, int* calls, std::vector<ev::Subscription>* out,
                            std::integer_sequence<int, I...>) {
  (out->push_back(consumer->register_handler([calls](const t::Numbered<I>&) { ++calls[I]; })), ...);
}

void register_numbered(ev::IEventConsumer* consumer, int* calls, std::vector<ev::Subscription>* out) {
  register_each_numbered(consumer, calls, out, std::make_integer_sequence<int, t::numbered_count>{});
}

const std::type_info& ping_type() { return typeid(t::Ping); }

constexpr t::LibApi api{&register_handlers, &dispatch,          &cancel,   &create_mediator,
                        &destroy_mediator,  &register_numbered, &ping_type};

}  // namespace

extern "C" SPAKKY_SHARED_LIB_EXPORT const spakky_shared_lib_test::LibApi* SPAKKY_SHARED_LIB_ENTRY() { return &api; }
