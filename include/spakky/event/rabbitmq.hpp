#pragma once
/// @file
/// spakky-event for RabbitMQ (target spakky::event_rabbitmq, needs librabbitmq-c): every
/// header of the RabbitMQ transports and consumer. Not part of the core umbrella
/// <spakky/event.hpp>.

#include <spakky/event/rabbitmq/amqp_url.hpp>
#include <spakky/event/rabbitmq/async_rabbitmq_event_consumer.hpp>
#include <spakky/event/rabbitmq/async_rabbitmq_event_transport.hpp>
#include <spakky/event/rabbitmq/consumer_options.hpp>
#include <spakky/event/rabbitmq/rabbitmq_event_consumer.hpp>
#include <spakky/event/rabbitmq/rabbitmq_event_transport.hpp>
#include <spakky/event/rabbitmq/transport_options.hpp>
