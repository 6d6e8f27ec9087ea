# rtp.cmake: build pieces of the RTP fan-out benchmark (`spbench rtp`).
#
# benchmarks/CMakeLists.txt already globs bench_rtp.c and rtp_traffic.c into
# spbench and turns baselines/naive_fwd.c (it has a main) into sp_naive_fwd,
# so nothing here is needed for the benchmark itself. What this adds is the
# synthetic cameras/subscribers as a library, for tests that drive real
# forwarders (the issue-3 integration test):
#   target_link_libraries(<test> PRIVATE sp_rtp_traffic)
# Include it from benchmarks/CMakeLists.txt: include(${CMAKE_CURRENT_SOURCE_DIR}/rtp.cmake)
# (tests/test_rtp_traffic.c compiles rtp_traffic.c itself and needs nothing.)
if(NOT TARGET sp_rtp_traffic)
  add_library(sp_rtp_traffic STATIC ${CMAKE_CURRENT_LIST_DIR}/rtp_traffic.c)
  target_include_directories(sp_rtp_traffic PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(sp_rtp_traffic PUBLIC sp_common)
endif()
