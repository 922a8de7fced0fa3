# Build options, warnings and sanitizers shared by every Kolo target.
set(KOLO_SANITIZE "" CACHE STRING "Sanitizer to build with: address, thread, undefined or empty")
set_property(CACHE KOLO_SANITIZE PROPERTY STRINGS "" address thread undefined)

add_library(kolo_build_flags INTERFACE)
target_compile_options(kolo_build_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-missing-field-initializers>)

if(KOLO_SANITIZE)
  if(NOT KOLO_SANITIZE MATCHES "^(address|thread|undefined)$")
    message(FATAL_ERROR "KOLO_SANITIZE must be address, thread or undefined, not '${KOLO_SANITIZE}'")
  endif()
  target_compile_options(kolo_build_flags INTERFACE -fsanitize=${KOLO_SANITIZE} -fno-omit-frame-pointer)
  target_link_options(kolo_build_flags INTERFACE -fsanitize=${KOLO_SANITIZE})
endif()

# libFuzzer targets in tests/fuzz/ (clang only): every Kolo library is built with coverage
# instrumentation, AddressSanitizer and UndefinedBehaviorSanitizer, and a UB report aborts, so a
# finding is a crash the fuzzer saves. tests/fuzz/run_fuzzers.sh configures such a build.
option(KOLO_FUZZ "Build the libFuzzer targets of tests/fuzz (needs clang)" OFF)
if(KOLO_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "KOLO_FUZZ needs clang (CC=clang CXX=clang++), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(KOLO_SANITIZE)
    message(FATAL_ERROR "KOLO_FUZZ already builds with address and undefined; leave KOLO_SANITIZE empty")
  endif()
  add_compile_options(
    "$<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link,address,undefined>"
    "$<$<COMPILE_LANGUAGE:C,CXX>:-fno-sanitize-recover=undefined;-fno-omit-frame-pointer>")
  add_link_options(-fsanitize=address,undefined)
endif()
