// The small ABI between unload_test and its plugins.
#pragma once

#include <spakky/event/event_consumer.hpp>
#include <spakky/event/event_dispatcher.hpp>
#include <spakky/event/subscription.hpp>

namespace spakky_unload_test {

struct PluginApi {
  spakky::event::Subscription* (*register_own)(spakky::event::IEventConsumer*, int* calls);
  void (*dispatch_own)(spakky::event::IEventDispatcher*);
  void (*cancel_and_wait)(spakky::event::Subscription*);
  void (*release)(spakky::event::Subscription*);
  const void* (*own_type)();  ///< the address of the plugin's own event type_info
};

}  // namespace spakky_unload_test
