# Compiler warnings and sanitizers shared by every bkr target (via the bkr_project_options interface).
add_library(bkr_project_options INTERFACE)
target_compile_options(bkr_project_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough
  # Designated initializers that rely on default member initializers are intended (config specs).
  -Wno-missing-field-initializers
  # With optimisation GCC 12 reports false positives inside inlined Asio 1.81 coroutine internals
  # (the coroutine frame allocator); -Wnull-dereference is left out for the same reason.
  $<$<NOT:$<CONFIG:Debug>>:-Wno-mismatched-new-delete>)
if(BKR_WARNINGS_AS_ERRORS)
  target_compile_options(bkr_project_options INTERFACE -Werror)
endif()
if(BKR_SANITIZE)
  target_compile_options(bkr_project_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(bkr_project_options INTERFACE -fsanitize=address,undefined)
endif()

# bkr_library(<name> SOURCES ... DEPENDS ...): a library target bkr_<name> with alias bkr::<name>,
# public headers in include/, sources in src/.
function(bkr_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(bkr_${name} STATIC ${ARG_SOURCES})
  add_library(bkr::${name} ALIAS bkr_${name})
  target_include_directories(bkr_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(bkr_${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE bkr_project_options ${ARG_PRIVATE_DEPS})
endfunction()
