# Extra test programs and scripted tests (included by tests/CMakeLists.txt
# when SP_TESTS is on).

# ctlsock: run DPDK's unmodified dpdk-telemetry.py against a ctlsock server.
add_executable(ctlsock_demo_server ${CMAKE_CURRENT_SOURCE_DIR}/ctlsock_demo_server.c)
target_link_libraries(ctlsock_demo_server PRIVATE sp_common)
add_test(NAME ctlsock_dpdk_telemetry_compat
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/dts_support/telemetry_compat.py
                 $<TARGET_FILE:ctlsock_demo_server>)
set_tests_properties(ctlsock_dpdk_telemetry_compat PROPERTIES
                     TIMEOUT 120 LABELS "unit;compat" SKIP_RETURN_CODE 77)
