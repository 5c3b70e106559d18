// A libFuzzer target without libFuzzer, for ./scripts/test (any compiler, no sanitizers needed):
// every file of the target's seed corpus, then deterministic mutations of them (bit flips, byte
// changes, cuts, repeated and inserted runs, splices of two seeds) until --runs or --seconds.
//   TARGET_replay [--runs N] [--seconds S] SEED_DIR...
// A crash aborts, as under libFuzzer; the input that did it is written to TARGET_replay.crash first.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

using Bytes = std::vector<uint8_t>;

std::string g_crash_path;

void run_one(const Bytes& in) {
  {
    // Written before the run: a crash leaves it behind, a clean run overwrites it next time.
    std::ofstream(g_crash_path, std::ios::binary).write(reinterpret_cast<const char*>(in.data()), long(in.size()));
  }
  LLVMFuzzerTestOneInput(in.data(), in.size());
}

Bytes mutate(const std::vector<Bytes>& seeds, std::mt19937_64& rng) {
  Bytes b = seeds[rng() % seeds.size()];
  int edits = 1 + int(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    size_t n = b.size();
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (n) b[rng() % n] ^= uint8_t(1u << (rng() % 8));
        break;
      case 1: {  // an interesting byte
        static const uint8_t kBytes[] = {0, 1, 0x7f, 0x80, 0xfe, 0xff};
        if (n) b[rng() % n] = kBytes[rng() % sizeof kBytes];
        break;
      }
      case 2:  // cut the tail
        if (n) b.resize(rng() % n);
        break;
      case 3: {  // drop a run
        if (n < 2) break;
        size_t at = rng() % n, len = 1 + rng() % std::min<size_t>(16, n - at);
        b.erase(b.begin() + long(at), b.begin() + long(at + len));
        break;
      }
      case 4: {  // repeat a run
        if (!n) break;
        size_t at = rng() % n, len = 1 + rng() % std::min<size_t>(32, n - at);
        Bytes run(b.begin() + long(at), b.begin() + long(at + len));
        b.insert(b.begin() + long(at), run.begin(), run.end());
        break;
      }
      case 5: {  // random bytes inserted
        size_t at = n ? rng() % (n + 1) : 0, len = 1 + rng() % 8;
        Bytes run(len);
        for (auto& c : run) c = uint8_t(rng());
        b.insert(b.begin() + long(at), run.begin(), run.end());
        break;
      }
      default: {  // splice: this one's head, another's tail
        const Bytes& o = seeds[rng() % seeds.size()];
        if (!n || o.empty()) break;
        size_t cut = rng() % n, from = rng() % o.size();
        b.resize(cut);
        b.insert(b.end(), o.begin() + long(from), o.end());
      }
    }
  }
  if (b.size() > 65536) b.resize(65536);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 20000;
  double seconds = 10;
  std::vector<std::filesystem::path> dirs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs = std::atol(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "-h" || a == "--help") {
      std::printf("%s [--runs N] [--seconds S] SEED_DIR...\n", argv[0]);
      return 0;
    } else dirs.emplace_back(a);
  }
  g_crash_path = std::string(argv[0]) + ".crash";
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<Bytes> seeds;
  for (const auto& d : dirs) {
    if (!std::filesystem::is_directory(d)) {
      std::fprintf(stderr, "%s: no seed directory %s\n", argv[0], d.c_str());
      return 2;
    }
    for (const auto& e : std::filesystem::directory_iterator(d)) {
      if (!e.is_regular_file()) continue;
      std::ifstream f(e.path(), std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  }
  if (seeds.empty()) seeds.emplace_back();
  auto start = std::chrono::steady_clock::now();
  for (const Bytes& s : seeds) run_one(s);
  std::mt19937_64 rng(0x7e55e7a);
  long done = 0;
  while (done < runs && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    run_one(mutate(seeds, rng));
    ++done;
  }
  std::filesystem::remove(g_crash_path);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %zu seeds and %ld mutations in %.1f s, no crash\n", argv[0], seeds.size(), done, secs);
  return 0;
}
