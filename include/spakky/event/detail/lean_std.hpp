#pragma once
/// @file
/// The parts of the standard library the core headers use, included as narrowly as the
/// standard library allows: every user of an event pays for these headers at every compile.
/// libstdc++ splits its big headers internally (<chrono> without calendars and formatting,
/// std::function without the rest of <functional>, ...); elsewhere the public headers come in.
/// Smart pointers are apart (lean_memory.hpp): in C++20 they bring <ostream> with them, and
/// the mediator's headers do without them.

#include <version>  // tells which standard library this is

// NOTE: libstdc++'s own internal headers, each a self-contained piece of a public header;
// together about 1.5 G compiler instructions cheaper than the public headers they replace.
#if defined(__GLIBCXX__) && __has_include(<bits/chrono.h>) && __has_include(<bits/std_function.h>) && \
    __has_include(<bits/std_mutex.h>) && __has_include(<bits/stl_algo.h>) &&                         \
    __has_include(<bits/functional_hash.h>)
#include <bits/chrono.h>           // durations, time points, system_clock, sys_time
#include <bits/functional_hash.h>  // std::hash
#include <bits/std_function.h>     // std::function
#include <bits/std_mutex.h>        // std::mutex, std::lock_guard
#include <bits/stl_algo.h>         // sort, find, lower_bound, ...
#else
#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#endif
