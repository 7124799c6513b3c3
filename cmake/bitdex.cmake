# Build helpers shared by every CMakeLists.txt in bitdex.

# Sanitizers are global so that the library, services and tests agree on the runtime.
function(bitdex_apply_sanitizers)
    if(BITDEX_SANITIZE STREQUAL "")
        return()
    endif()
    if(BITDEX_SANITIZE STREQUAL "address,undefined" OR BITDEX_SANITIZE STREQUAL "address"
       OR BITDEX_SANITIZE STREQUAL "undefined" OR BITDEX_SANITIZE STREQUAL "thread")
        set(flags -fsanitize=${BITDEX_SANITIZE} -fno-omit-frame-pointer)
        if(BITDEX_SANITIZE MATCHES "undefined")
            list(APPEND flags -fno-sanitize-recover=undefined)
        endif()
        add_compile_options(${flags})
        add_link_options(${flags})
    else()
        message(FATAL_ERROR "BITDEX_SANITIZE must be address,undefined | address | undefined | thread")
    endif()
endfunction()

# Warnings are applied per target (generated protobuf code gets fewer).
function(bitdex_warnings target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wstrict-prototypes
                           -Wmissing-prototypes -Wno-unused-parameter)
    if(BITDEX_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()

# bitdex_add_test(<name> <source>... [LIBS <lib>...] [TIMEOUT <s>])
# Adds one Criterion test executable linked with bitdex_common and registers it with ctest.
function(bitdex_add_test name)
    cmake_parse_arguments(T "" "TIMEOUT" "LIBS" ${ARGN})
    add_executable(${name} ${T_UNPARSED_ARGUMENTS})
    bitdex_warnings(${name})
    target_link_libraries(${name} PRIVATE bitdex_common PkgConfig::CRITERION ${T_LIBS})
    target_compile_definitions(${name} PRIVATE
        BITDEX_SOURCE_DIR="${PROJECT_SOURCE_DIR}" BITDEX_BINARY_DIR="${PROJECT_BINARY_DIR}")
    add_test(NAME ${name} COMMAND ${name} --jobs 2)
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 300)
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
endfunction()
