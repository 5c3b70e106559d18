// Writes the test PKI (tests/test_pki.h) into a directory, for the end-to-end scripts.
#include <cstdio>
#include <exception>

#include "tests/test_pki.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tessera_test_pki OUTDIR\n  writes a throwaway CA, server and client certificates\n");
    return 2;
  }
  try {
    tessera::test::write_test_pki(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessera_test_pki: %s\n", e.what());
    return 1;
  }
  return 0;
}
