#pragma once
/// @file
/// spakky-event: every header of the core. The in-memory broker (a test and example aid,
/// <spakky/event/inmemory/in_memory_transport.hpp>) and the optional parts (JSON, RabbitMQ,
/// outbox) are included on their own.

#include <spakky/event/aggregate.hpp>
#include <spakky/event/aspects/async_transactional_event_publishing.hpp>
#include <spakky/event/aspects/transactional_event_publishing.hpp>
#include <spakky/event/async_event_consumer.hpp>
#include <spakky/event/async_event_dispatcher.hpp>
#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/bus/async_direct_event_bus.hpp>
#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/bus/header_injection.hpp>
#include <spakky/event/bus/trace_context.hpp>
#include <spakky/event/dispatch_outcome.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/event_consumer.hpp>
#include <spakky/event/event_dispatcher.hpp>
#include <spakky/event/event_id.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/erased_handler.hpp>
#include <spakky/event/mediator/async_event_mediator.hpp>
#include <spakky/event/mediator/error_handler.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/publisher/async_event_publisher.hpp>
#include <spakky/event/publisher/event_publisher.hpp>
#include <spakky/event/serializer.hpp>
#include <spakky/event/stereotype/event_handler.hpp>
#include <spakky/event/subscription.hpp>
#include <spakky/event/task.hpp>
