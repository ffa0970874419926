#pragma once
/// @file
/// spakky-event: every header of the core.

#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/bus/header_injection.hpp>
#include <spakky/event/dispatch_outcome.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event.hpp>
#include <spakky/event/event_consumer.hpp>
#include <spakky/event/event_dispatcher.hpp>
#include <spakky/event/event_id.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/mediator/error_handler.hpp>
#include <spakky/event/mediator/event_mediator.hpp>
#include <spakky/event/publisher/event_publisher.hpp>
#include <spakky/event/serializer.hpp>
#include <spakky/event/subscription.hpp>
