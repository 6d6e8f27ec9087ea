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

# The streampoint side of an agent tunnel, for tests/integration/test_agent.py
# until spdp terminates tunnels itself.
add_executable(agent_tunnel_peer ${CMAKE_CURRENT_SOURCE_DIR}/agent_tunnel_peer.c)
target_link_libraries(agent_tunnel_peer PRIVATE sp_agent sp_common)
target_compile_options(agent_tunnel_peer PRIVATE -Wno-missing-prototypes)
