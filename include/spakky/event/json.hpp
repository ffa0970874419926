#pragma once
/// @file
/// The JSON wire format (target spakky::event_json, needs nlohmann_json): JsonEventSerializer
/// and SPAKKY_EVENT_JSON_FIELDS.

#include <spakky/event/json/fields.hpp>
#include <spakky/event/json/json_event_serializer.hpp>
