#pragma once
/// @file
/// Class names at compile time (from the compiler's function signature) and at run time
/// (from the Itanium-mangled typeid name), reduced to the unqualified class name.

#include <spakky/event/detail/lean_std.hpp>

#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include <cxxabi.h>

namespace spakky::event::detail {

/// Drops namespaces and enclosing scopes: "app::orders::OrderPlaced" -> "OrderPlaced".
/// Template arguments and function signatures are skipped when looking for the last `::`.
constexpr std::string_view unqualified_name(std::string_view name) noexcept {
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '<' || c == '(' || c == '{' || c == '[') {
      ++depth;
    } else if (c == '>' || c == ')' || c == '}' || c == ']') {
      --depth;
    } else if (depth == 0 && c == ':' && i + 1 < name.size() && name[i + 1] == ':') {
      start = i + 2;
      ++i;
    }
  }
  return name.substr(start);
}

/// An event's default name: its unqualified class name without template arguments, which
/// compilers and demanglers spell differently ("Changed<long unsigned int>" vs
/// "Changed<unsigned long>"): every instantiation of a template is just "Changed".
constexpr std::string_view default_event_name(std::string_view qualified) noexcept {
  const std::string_view name = unqualified_name(qualified);
  return name.substr(0, name.find('<'));
}

/// The fully qualified name of T as the compiler spells it.
template <class T>
constexpr std::string_view qualified_type_name() noexcept {
  constexpr std::string_view signature = __PRETTY_FUNCTION__;
  // g++: "... [with T = ns::Foo; std::string_view = ...]"   clang++: "... [T = ns::Foo]"
  constexpr std::size_t start = signature.find("T = ") + 4;
  constexpr std::size_t end = signature.find_first_of(";]", start);
  return signature.substr(start, end - start);
}

/// True if T's default name identifies it across compilers and builds: not a template
/// specialisation (every instantiation shares one default name), not local to a function and
/// not in an anonymous namespace (g++ spells those "{anonymous}::" and "f()::"; clang++ 14
/// spells a local class without its function, so there only the other two are caught).
template <class T>
constexpr bool has_portable_name() noexcept {
  constexpr std::string_view name = qualified_type_name<T>();
  return name.find_first_of("<({") == std::string_view::npos;
}

/// Reads the last component of a plain mangled class name ("3Foo", "N2ns3FooE").
/// Returns an empty view for anything else (templates, local types, std::).
inline std::string_view unqualified_from_mangled(const char* mangled) noexcept {
  const std::string_view m(mangled);
  std::size_t i = 0;
  const bool nested = !m.empty() && m[0] == 'N';
  if (nested) i = 1;
  std::string_view last;
  while (i < m.size() && m[i] >= '0' && m[i] <= '9') {
    std::size_t length = 0;
    while (i < m.size() && m[i] >= '0' && m[i] <= '9') length = length * 10 + static_cast<std::size_t>(m[i++] - '0');
    if (length == 0 || i + length > m.size()) return {};
    last = m.substr(i, length);
    i += length;
  }
  const bool complete = nested ? (i + 1 == m.size() && m[i] == 'E') : (i == m.size());
  return complete ? last : std::string_view{};
}

/// default_event_name() of a dynamic type. Plain names are read straight from the mangled name
/// without allocating; other shapes are demangled once and remembered.
inline std::string_view unqualified_runtime_name(const std::type_info& type) {
  if (auto plain = unqualified_from_mangled(type.name()); !plain.empty()) return plain;
  // NOTE: a per-library cache is fine here: it only memoises a pure function of the type.
  static std::mutex mutex;
  // Names are never freed: string_views into them are handed out for the program's lifetime.
  static std::vector<std::pair<const char*, const std::string*>> cache;  // few entries
  const std::lock_guard lock(mutex);
  for (const auto& [mangled, name] : cache) {
    if (std::string_view(mangled) == type.name()) return *name;
  }
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string full;
  try {
    full = status == 0 && demangled != nullptr ? std::string(demangled) : std::string(type.name());
  } catch (...) {
    std::free(demangled);
    throw;
  }
  std::free(demangled);
  cache.reserve(cache.size() + 1);
  const std::string* name = new std::string(default_event_name(full));
  cache.emplace_back(type.name(), name);
  return *name;
}

}  // namespace spakky::event::detail
