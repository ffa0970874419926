// Event types and the small ABI shared by the type-identity tests. The test
// program and two shared libraries (one linked, one dlopen'ed) all include
// this header and are all built with hidden visibility, so each of them holds
// its own copy of the vtables and std::type_info objects of these events.
#pragma once

#include <spakky/event.hpp>

#include <typeinfo>
#include <vector>

// A named namespace on purpose: types in an anonymous namespace are distinct
// per module by definition.
namespace spakky_shared_lib_test {

namespace ev = spakky::event;

/// The event registered and dispatched across module boundaries.
struct Ping final : ev::AbstractDomainEvent {
  explicit Ping(int v) : value(v) {}
  int value = 0;
};

/// A second event type: a Ping handler must never see it.
struct Pong final : ev::AbstractDomainEvent {
  explicit Pong(int v) : value(v) {}
  int value = 0;
};

// Each of these is dispatched first (in the whole process) by the module it
// names, whatever order the test cases run in: lookups cached per
// std::type_info address must not depend on which module came first.

/// Dispatched first by the test program.
struct FirstFromProgram final : ev::AbstractDomainEvent {
  explicit FirstFromProgram(int v) : value(v) {}
  int value = 0;
};

/// Dispatched first by the linked library.
struct FirstFromLinked final : ev::AbstractDomainEvent {
  explicit FirstFromLinked(int v) : value(v) {}
  int value = 0;
};

/// Dispatched first by the dlopen'ed library.
struct FirstFromPlugin final : ev::AbstractDomainEvent {
  explicit FirstFromPlugin(int v) : value(v) {}
  int value = 0;
};

/// A family of event types: many channels, registered from several modules in mixed order.
template <int I>
struct Numbered final : ev::AbstractDomainEvent {};
inline constexpr int numbered_count = 64;

/// Which event a library constructs and dispatches.
enum class EventKind { ping, pong, first_from_program, first_from_linked, first_from_plugin };

/// What the handlers of a library saw.
struct Counters {
  int ping = 0;        ///< calls of the Ping handler
  int catch_all = 0;   ///< calls of the AbstractDomainEvent catch-all
  int last_ping = -1;  ///< value of the last Ping seen
};

/// The functions one library offers; each library returns its own table.
struct LibApi {
  /// Registers, from inside the library, a Ping handler and then a domain
  /// catch-all, both counting into *counters. Either out pointer may be null
  /// (dropping a Subscription does not cancel it).
  void (*register_handlers)(ev::IEventConsumer* consumer, Counters* counters, ev::Subscription* ping_out,
                            ev::Subscription* catch_all_out);
  /// Constructs an event of the given kind inside the library and dispatches it.
  void (*dispatch)(ev::IEventDispatcher* dispatcher, EventKind kind, int value);
  /// Cancels, from inside the library, a subscription made anywhere.
  void (*cancel)(ev::Subscription* subscription);
  /// Creates / destroys a mediator inside the library.
  ev::EventMediator* (*create_mediator)();
  void (*destroy_mediator)(ev::EventMediator* mediator);
  /// Registers, from inside the library, one handler per Numbered<I> that adds 1 to calls[I]
  /// (calls has numbered_count elements); the subscriptions are appended to *out.
  void (*register_numbered)(ev::IEventConsumer* consumer, int* calls, std::vector<ev::Subscription>* out);
  /// The library's own typeid(Ping).
  const std::type_info& (*ping_type)();
};

}  // namespace spakky_shared_lib_test

// The only symbols the libraries export (everything else is hidden).
#define SPAKKY_SHARED_LIB_EXPORT __attribute__((visibility("default")))

/// Entry point of the linked library.
extern "C" SPAKKY_SHARED_LIB_EXPORT const spakky_shared_lib_test::LibApi* spakky_shared_lib_linked_api();

/// Name of the entry point of the dlopen'ed library, for dlsym.
#define SPAKKY_SHARED_LIB_PLUGIN_ENTRY "spakky_shared_lib_plugin_api"
using spakky_shared_lib_entry_fn = const spakky_shared_lib_test::LibApi* (*)();
