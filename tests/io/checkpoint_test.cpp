#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <ebm/io/checkpoint.hpp>
#include <ebm/nn/elementwise.hpp>
#include <ebm/nn/linear.hpp>
#include <ebm/nn/sequential.hpp>
#include <limits>

#include "../data/temp_dir.hpp"

using ebm::index_t;
using ebm::shape;
using ebm::tensor;
using ebm::io::checkpoint;
namespace fs = std::filesystem;

namespace {
checkpoint sample_checkpoint() {
  checkpoint ck;
  tensor<float> f(shape{2, 3});
  const std::uint32_t special[6] = {0x7fc00123u, 0x80000000u, 0x00000001u, 0x7f800000u, 0x3f800000u, 0xff800000u};
  for (int i = 0; i < 6; ++i) f[i] = std::bit_cast<float>(special[i]);  // NaN payload, -0, denormal, inf, 1, -inf
  ck.put("weights", f);
  tensor<double> d(shape{4}, 0.1);
  d[3] = std::numeric_limits<double>::denorm_min();
  ck.put("moments", d);
  tensor<std::uint64_t> u(shape{2}, std::numeric_limits<std::uint64_t>::max());
  ck.put("counts", u);
  tensor<std::int64_t> s(shape{1, 1, 1}, std::numeric_limits<std::int64_t>::min());
  ck.put("signed", s);
  const unsigned char raw[5] = {0, 1, 2, 254, 255};
  ck.put_bytes("blob", raw);
  ck.put_scalar<double>("loss", -1.0 / 3.0);
  ebm::philox rng(2024, 7);
  rng.advance(12345);
  ck.put_rng("rng", rng);
  ck.set_meta("stage", 2);
  ck.set_meta("beta", 0.1 + 0.2);
  ck.set_meta("beta_f", 0.7f);
  ck.set_meta("note", "fashion, 32x32");
  ck.set_meta("finished", false);
  return ck;
}

template <class T>
bool same_bits(const tensor<T>& a, const tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0;
}

/// A block with one parameter and one buffer whose derived state must be
/// recomputed after loading (like spectral norm's u and v).
struct buffered {
  using value_type = double;
  using device_type = ebm::cpu;
  tensor<double> w{shape{3}, 1.0}, gw{shape{3}}, u{shape{2}, 0.5};
  double derived = 0;
  template <class F> void visit_params(F&& f) { f("w", w, gw); }
  template <class F> void visit_buffers(F&& f) { f("u", u); }
  void on_buffers_loaded() { derived = u[0] + u[1]; }
};

/// Optimizer-like state: lazily allocated moments, a counter, a rate, a generator.
struct adam_like {
  tensor<float> m, v;
  std::uint64_t step = 0;
  int warmup = 0;
  double lr = 0;
  ebm::philox rng;
  template <class F> void visit_state(F&& f) {
    f("m", m);
    f("v", v);
    f("step", step);
    f("warmup", warmup);
    f("lr", lr);
    f("rng", rng);
  }
};
}  // namespace

TEST_CASE("a checkpoint round-trips bit-exactly through a file") {
  ebm_test::temp_dir dir("ckpt_roundtrip");
  const checkpoint a = sample_checkpoint();
  a.save(dir / "a.ckpt");
  const checkpoint b = checkpoint::load(dir / "a.ckpt");
  CHECK(b.source() == (dir / "a.ckpt").string());
  CHECK(b.names() == a.names());
  CHECK(same_bits(b.get<float>("weights"), a.get<float>("weights")));
  CHECK(same_bits(b.get<double>("moments"), a.get<double>("moments")));
  CHECK(same_bits(b.get<std::uint64_t>("counts"), a.get<std::uint64_t>("counts")));
  CHECK(same_bits(b.get<std::int64_t>("signed"), a.get<std::int64_t>("signed")));
  CHECK(b.shape_of("signed") == shape{1, 1, 1});
  CHECK(b.get_bytes("blob") == std::vector<unsigned char>{0, 1, 2, 254, 255});
  CHECK(b.get_scalar<double>("loss") == -1.0 / 3.0);
  const ebm::philox r = b.get_rng("rng");
  CHECK(r.seed() == 2024);
  CHECK(r.stream() == 7);
  CHECK(r.offset() == 12345);
  CHECK(b.meta_as<int>("stage") == 2);
  CHECK(b.meta_as<double>("beta") == 0.1 + 0.2);
  CHECK(b.meta_as<float>("beta_f") == 0.7f);
  CHECK(b.meta("note") == "fashion, 32x32");
  CHECK(b.meta_as<bool>("finished") == false);
  // Serialising the loaded checkpoint reproduces the file byte for byte.
  CHECK(b.serialize() == ebm_test::read_bytes(dir / "a.ckpt"));
  // Header: magic, version 1, little-endian.
  const auto bytes = ebm_test::read_bytes(dir / "a.ckpt");
  CHECK(std::memcmp(bytes.data(), "EBMCKPT\0", 8) == 0);
  CHECK(bytes[8] == 1);
  CHECK(bytes[9] == 0);
}

TEST_CASE("lookups name the missing entry, the key, the dtype and both shapes") {
  const checkpoint ck = sample_checkpoint();
  CHECK_THROWS_WITH_AS(ck.get<float>("absent"), doctest::Contains("checkpoint '<memory>': missing entry \"absent\""),
                       ebm::error);
  CHECK_THROWS_WITH_AS(ck.get<double>("weights"), doctest::Contains("holds f32 data, f64 was requested"), ebm::error);
  tensor<float> wrong(shape{3, 2});
  CHECK_THROWS_WITH_AS(ck.get_into("weights", wrong),
                       doctest::Contains("shape mismatch for entry \"weights\": expected [3, 2] got [2, 3]"), ebm::error);
  CHECK_THROWS_WITH_AS(ck.meta("epoch"), doctest::Contains("missing metadata \"epoch\""), ebm::error);
  CHECK_THROWS_WITH_AS(ck.meta_as<int>("note"), doctest::Contains("is not a valid integer"), ebm::error);
  CHECK_THROWS_WITH_AS(ck.get_rng("counts"), doctest::Contains("expected [3]"), ebm::error);
}

TEST_CASE("a model's parameters and buffers are saved and restored exactly") {
  ebm_test::temp_dir dir("ckpt_model");
  auto make = [](std::uint64_t seed) {
    ebm::nn::sequential net{ebm::nn::linear<double>(4, 8), ebm::nn::swish<double>{}, ebm::nn::linear<double>(8, 1)};
    ebm::philox rng(seed);
    net.get<0>().init(rng);
    net.get<2>().init(rng);
    return net;
  };
  auto a = make(1);
  auto b = make(2);
  tensor<double> x(shape{3, 4});
  for (index_t i = 0; i < x.size(); ++i) x[i] = 0.1 * double(i) - 0.5;
  const tensor<double> ea = a.forward(x);
  CHECK(b.forward(x)[0] != ea[0]);

  checkpoint ck;
  ebm::io::save_params(ck, a);
  CHECK(ck.contains("model.0.weight"));
  CHECK(ck.contains("model.2.bias"));
  ck.save(dir / "m.ckpt");
  ebm::io::load_params(checkpoint::load(dir / "m.ckpt"), b);
  const tensor<double> eb = b.forward(x);
  CHECK(same_bits(ea, eb));

  // Buffers travel too, and blocks are told to recompute what depends on them.
  buffered p, q;
  p.u[0] = 0.25;
  p.u[1] = 2.0;
  checkpoint cb;
  ebm::io::save_params(cb, p, "energy");
  ebm::io::load_params(cb, q, "energy");
  CHECK(q.u[1] == 2.0);
  CHECK(q.derived == 2.25);

  // Another architecture: wrong width, missing entries, left-over entries.
  ebm::nn::sequential wide{ebm::nn::linear<double>(4, 9), ebm::nn::swish<double>{}, ebm::nn::linear<double>(9, 1)};
  CHECK_THROWS_WITH_AS(ebm::io::load_params(ck, wide),
                       doctest::Contains("shape mismatch for entry \"model.0.weight\": expected [9, 4] got [8, 4]"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(ebm::io::load_params(ck, b, "ema"), doctest::Contains("missing entry \"ema.0.weight\""),
                       ebm::error);
  ebm::nn::sequential shallow{ebm::nn::linear<double>(4, 8)};
  CHECK_THROWS_WITH_AS(ebm::io::load_params(ck, shallow), doctest::Contains("entry \"model.2.weight\" matches no"),
                       ebm::error);
  CHECK_NOTHROW(ebm::io::load_params(ck, shallow, "model", /*strict=*/false));
}

TEST_CASE("optimizer-like state round-trips, lazily allocated tensors included") {
  adam_like a;
  a.m = tensor<float>(shape{5}, 0.125f);
  a.v = tensor<float>(shape{2, 2}, 3.0f);
  a.step = 77;
  a.warmup = -3;
  a.lr = 2e-4;
  a.rng = ebm::philox(9, 1);
  a.rng.advance(5);
  checkpoint ck;
  ebm::io::save_state(ck, a, "optim");
  adam_like b;  // m and v empty, as before an optimizer's first step
  ebm::io::load_state(checkpoint::deserialize(ck.serialize()), b, "optim");
  CHECK(same_bits(a.m, b.m));
  CHECK(same_bits(a.v, b.v));
  CHECK(b.step == 77);
  CHECK(b.warmup == -3);
  CHECK(b.lr == 2e-4);
  CHECK(b.rng.offset() == 5);
  CHECK(b.rng.stream() == 1);

  ck.put_scalar<std::int64_t>("optim.extra", 1);
  CHECK_THROWS_WITH_AS(ebm::io::load_state(ck, b, "optim"),
                       doctest::Contains("entry \"optim.extra\" matches no piece of the state"), ebm::error);
  CHECK_NOTHROW(ebm::io::load_state(ck, b, "optim", /*strict=*/false));
}

TEST_CASE("every flipped byte, truncation and foreign file is detected and names the file") {
  const auto good = sample_checkpoint().serialize();
  for (std::size_t i = 0; i < good.size(); ++i) {
    auto bad = good;
    bad[i] ^= 0x10;
    CAPTURE(i);
    CHECK_THROWS_WITH_AS(checkpoint::deserialize(bad, "flip.ckpt"), doctest::Contains("'flip.ckpt'"), ebm::error);
  }
  auto flipped = good;
  flipped[good.size() - 3] ^= 1;
  CHECK_THROWS_WITH_AS(checkpoint::deserialize(flipped, "x.ckpt"),
                       doctest::Contains("checkpoint 'x.ckpt' is corrupted (CRC-32 mismatch: stored 0x"), ebm::error);
  for (std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{20}, std::size_t{100}, good.size() - 1}) {
    CAPTURE(n);
    CHECK_THROWS_WITH_AS(checkpoint::deserialize(std::span(good).first(n), "cut.ckpt"),
                         doctest::Contains("checkpoint 'cut.ckpt' is truncated: expected"), ebm::error);
  }
  const std::string text = "step,loss\n1,0.5\n";
  CHECK_THROWS_WITH_AS(checkpoint::deserialize(std::span(reinterpret_cast<const unsigned char*>(text.data()), text.size()),
                                               "log.csv"),
                       doctest::Contains("'log.csv' is not an ebm checkpoint (bad magic"), ebm::error);
  CHECK_THROWS_WITH_AS(checkpoint::deserialize({}, "e.ckpt"), doctest::Contains("checkpoint 'e.ckpt' is empty"),
                       ebm::error);
  auto future = good;
  future[8] = 2;
  CHECK_THROWS_WITH_AS(checkpoint::deserialize(future, "f.ckpt"), doctest::Contains("format version 2"), ebm::error);

  ebm_test::temp_dir dir("ckpt_files");
  auto on_disk = good;
  on_disk[good.size() / 2] ^= 0xff;
  ebm_test::write_bytes(dir / "bad.ckpt", on_disk);
  CHECK_THROWS_WITH_AS(checkpoint::load(dir / "bad.ckpt"),
                       doctest::Contains(("checkpoint '" + (dir / "bad.ckpt").string() + "' is corrupted").c_str()),
                       ebm::error);
  CHECK_THROWS_WITH_AS(checkpoint::load(dir / "none.ckpt"),
                       doctest::Contains(("cannot open checkpoint '" + (dir / "none.ckpt").string()).c_str()), ebm::error);
}

TEST_CASE("a failed save leaves the previous checkpoint intact and no temporary behind") {
  ebm_test::temp_dir dir("ckpt_atomic");
  const fs::path path = dir / "train.ckpt";
  checkpoint old;
  old.set_meta("stage", 1);
  old.put("w", tensor<float>(shape{4}, 1.5f));
  old.save(path);
  const auto before = ebm_test::read_bytes(path);

  checkpoint big;
  big.set_meta("stage", 2);
  big.put("w", tensor<float>(shape{64 * 1024}, 2.5f));  // 256 KiB

  // Missing directory.
  CHECK_THROWS_WITH_AS(big.save(dir / "missing" / "train.ckpt"), doctest::Contains("missing/train.ckpt"), ebm::error);
  CHECK_FALSE(fs::exists(dir / "missing"));

  // A write that fails midway (file-size limit: EFBIG even for root).
  struct rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto* old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 64 * 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  bool threw = false;
  try {
    big.save(path);
  } catch (const ebm::error& e) {
    threw = std::string(e.what()).find(path.string()) != std::string::npos;
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  CHECK(threw);
  CHECK(ebm_test::read_bytes(path) == before);
  CHECK(checkpoint::load(path).meta_as<int>("stage") == 1);

  // A read-only directory (not enforced for root, who may write anyway).
  if (::geteuid() != 0) {
    ::chmod(dir.path.c_str(), 0555);
    CHECK_THROWS_AS(big.save(path), ebm::error);
    ::chmod(dir.path.c_str(), 0755);
    CHECK(ebm_test::read_bytes(path) == before);
  } else {
    MESSAGE("read-only directory case skipped: running as root");
  }

  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 1);  // only train.ckpt: temporaries were removed

  // And a successful save replaces it.
  big.save(path);
  CHECK(checkpoint::load(path).meta_as<int>("stage") == 2);
}
