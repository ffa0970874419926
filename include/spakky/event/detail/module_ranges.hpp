#pragma once
/// @file
/// Where a loaded module (the program or a shared library) lies in memory: what a mediator
/// needs to forget a module's event types and handlers before the module is unloaded.

#include <cstdint>
#include <vector>

#if defined(__linux__)
#include <link.h>
#endif

namespace spakky::event::detail {

/// The address ranges of one loaded module's segments.
class ModuleRanges {
public:
  /// The module that holds `address` (any function or object of it); empty if none does.
  static ModuleRanges containing(const void* address) noexcept {
    ModuleRanges found;
#if defined(__linux__)
    struct Search {
      std::uintptr_t address;
      ModuleRanges* out;
    } search{reinterpret_cast<std::uintptr_t>(address), &found};
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* data) -> int {
          auto& s = *static_cast<Search*>(data);
          bool mine = false;
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const auto& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_LOAD) continue;
            const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
            if (s.address >= begin && s.address < begin + ph.p_memsz) mine = true;
          }
          if (!mine) return 0;
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const auto& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_LOAD) continue;
            const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
            try {
              s.out->ranges_.push_back({begin, begin + ph.p_memsz});
            } catch (...) {
              s.out->ranges_.clear();  // no memory: report "not found" rather than half a module
              return 1;
            }
          }
          return 1;
        },
        &search);
#else
    (void)address;
#endif
    return found;
  }

  [[nodiscard]] bool empty() const noexcept { return ranges_.empty(); }

  /// True if `address` lies in one of the module's segments.
  [[nodiscard]] bool contains(const void* address) const noexcept {
    return contains(reinterpret_cast<std::uintptr_t>(address));
  }
  /// True if the code of `function` lies in one of the module's segments.
  template <class R, class... A>
  [[nodiscard]] bool contains(R (*function)(A...)) const noexcept {
    return contains(reinterpret_cast<std::uintptr_t>(function));
  }
  [[nodiscard]] bool contains(std::uintptr_t a) const noexcept {
    for (const auto& range : ranges_) {
      if (a >= range.begin && a < range.end) return true;
    }
    return false;
  }

private:
  struct Range {
    std::uintptr_t begin, end;
  };
  std::vector<Range> ranges_;
};

}  // namespace spakky::event::detail
