# The libFuzzer targets, each with the library its parser lives in. Built with libFuzzer by
# tests/fuzz/CMakeLists.txt (TESSERA_FUZZ, clang) and as TARGET_replay for ./scripts/test
# (tests/CMakeLists.txt), which runs each over its seeds in tests/fuzz/seeds/TARGET and a few
# seconds of mutations of them.
set(TESSERA_FUZZ_TARGETS
    fuzz_link:tessera_transport fuzz_scancode:tessera_transport fuzz_damage_tracker:tessera_core
    fuzz_sasl_framing:tessera_transport fuzz_rfb_handshake:tessera_transport
    fuzz_spice_messages:tessera_transport fuzz_bench_plan:tessera_benchkit fuzz_png:tessera_core
    fuzz_rfb_messages:tessera_transport fuzz_credentials:tessera_transport)
