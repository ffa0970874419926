#pragma once
/// @file
/// shared_ptr, weak_ptr and unique_ptr for the headers that hand them to users (aggregates,
/// the owning overloads of the async types, serializers), as narrowly as the standard library
/// allows (see lean_std.hpp).

#include <version>

// NOTE: libstdc++'s own piece of <memory>: the smart pointers without the uninitialized-memory
// algorithms, the allocator machinery and the parallel-algorithm glue.
#if defined(__GLIBCXX__) && __has_include(<bits/shared_ptr.h>)
#include <bits/shared_ptr.h>
#else
#include <memory>
#endif
