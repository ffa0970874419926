#pragma once
/// @file
/// Observability: the log (levels, one pluggable sink, {fmt} front end) and the metrics
/// observer. See docs/observability.md.

#include <spakky/event/observability/log.hpp>
#include <spakky/event/observability/log_record.hpp>
#include <spakky/event/observability/log_sink.hpp>
#include <spakky/event/observability/metrics.hpp>
