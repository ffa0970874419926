#pragma once
/// @file
/// The JSON wire format (target spakky::event_json, needs nlohmann_json): JsonEventSerializer,
/// SPAKKY_EVENT_JSON_FIELDS and OrderedMap.

#include <spakky/event/json/fields.hpp>
#include <spakky/event/json/json_event_serializer.hpp>
#include <spakky/event/json/ordered_map.hpp>
