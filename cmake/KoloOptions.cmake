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
