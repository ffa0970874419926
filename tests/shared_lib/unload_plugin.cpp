// A plugin that is loaded, used and unloaded again (dlclose) while the program's mediator
// lives on. Built twice with hidden visibility: as plugin A (a domain event of its own) and
// plugin B (an integration event of its own), so that B may be mapped where A was.
#include <spakky/event.hpp>

#include "unload_plugin.hpp"

#include <typeinfo>

#ifndef SPAKKY_UNLOAD_PLUGIN_KIND
#error "SPAKKY_UNLOAD_PLUGIN_KIND must be AbstractDomainEvent or AbstractIntegrationEvent"
#endif

namespace {

namespace ev = spakky::event;

/// Known only inside this plugin: its type_info and vtable go away with it.
struct PluginOwnEvent final : ev::SPAKKY_UNLOAD_PLUGIN_KIND {
  SPAKKY_EVENT_NAME("PluginOwnEvent");
  int value = 1;
};

ev::Subscription* register_own(ev::IEventConsumer* consumer, int* calls) {
  return new ev::Subscription(consumer->register_handler([calls](const PluginOwnEvent&) { ++*calls; }));
}
void dispatch_own(ev::IEventDispatcher* dispatcher) { dispatcher->dispatch(PluginOwnEvent{}); }
void cancel_and_wait(ev::Subscription* subscription) { subscription->cancel_and_wait(); }
void release(ev::Subscription* subscription) { delete subscription; }
const void* own_type() { return &typeid(PluginOwnEvent); }

constexpr spakky_unload_test::PluginApi api{&register_own, &dispatch_own, &cancel_and_wait, &release, &own_type};

}  // namespace

extern "C" __attribute__((visibility("default"))) const spakky_unload_test::PluginApi* spakky_unload_plugin_api() {
  return &api;
}
