# spakky_test_asio: standalone Asio (Debian libasio-dev, header-only) for the tests and
# examples that prove AsyncEventMediator<asio::awaitable<void>>. Included from tests/ and
# examples/; the first include defines the target, later ones find it defined.
# Never linked to spakky::event: the library itself does not depend on Asio.
include_guard(GLOBAL)

find_path(SPAKKY_ASIO_INCLUDE_DIR asio.hpp
  DOC "Directory holding standalone Asio's asio.hpp (Debian: libasio-dev)")
if(NOT SPAKKY_ASIO_INCLUDE_DIR)
  message(FATAL_ERROR "asio.hpp (standalone Asio) not found: install libasio-dev (scripts/deps.sh), "
                      "or set SPAKKY_ASIO_INCLUDE_DIR")
endif()

add_library(spakky_test_asio INTERFACE)
target_include_directories(spakky_test_asio SYSTEM INTERFACE "${SPAKKY_ASIO_INCLUDE_DIR}")
target_compile_definitions(spakky_test_asio INTERFACE
  ASIO_STANDALONE
  # Asio 1.22 detects C++20 coroutines for g++ only; clang++ 14 (with libstdc++'s
  # <coroutine>) needs both spelled out. Harmless for g++.
  ASIO_HAS_CO_AWAIT=1
  ASIO_HAS_STD_COROUTINE=1)
target_link_libraries(spakky_test_asio INTERFACE Threads::Threads)
