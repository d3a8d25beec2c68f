#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include <ebm/ebm.hpp>
#include <ebm/io/checkpoint.hpp>

using namespace ebm;

namespace {

// Two free parameter tensors with gradient buffers.
struct params2 {
  tensor<double> a{shape{2}}, ga{shape{2}}, b{shape{1}}, gb{shape{1}};
  std::vector<param_ref<double>> refs() { return {{"a", &a, &ga}, {"b", &b, &gb}}; }
};

// Reference Adam on one scalar, written from the paper's formulas.
struct scalar_adam {
  double lr, b1, b2, eps, wd;
  bool decoupled;
  double m = 0, v = 0;
  int k = 0;
  double step(double w, double g) {
    ++k;
    if (!decoupled) g += wd * w;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    if (decoupled) w -= lr * wd * w;
    const double mh = m / (1 - std::pow(b1, k)), vh = v / (1 - std::pow(b2, k));
    return w - lr * mh / (std::sqrt(vh) + eps);
  }
};

}  // namespace

TEST_CASE("adam: the first step moves every coordinate by lr against its gradient's sign") {
  params2 p;
  p.a[0] = 1, p.a[1] = -2, p.b[0] = 0.5;
  p.ga[0] = 0.5, p.ga[1] = -0.1, p.gb[0] = 3;
  optim::adam<double> opt(p.refs(), {.lr = 0.1});
  opt.step();
  // m̂ = g and v̂ = g² after bias correction, so the step is lr g / (|g| + eps).
  CHECK(p.a[0] == doctest::Approx(1 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-14));
  CHECK(p.a[1] == doctest::Approx(-2 + 0.1 * 0.1 / (0.1 + 1e-8)).epsilon(1e-14));
  CHECK(p.b[0] == doctest::Approx(0.5 - 0.1 * 3 / (3 + 1e-8)).epsilon(1e-14));
  CHECK(opt.step_count() == 1);
}

TEST_CASE("adam: several steps match the reference formulas (CF-EBM betas, both weight decays)") {
  for (bool decoupled : {false, true}) {
    INFO("decoupled weight decay: " << decoupled);
    params2 p;
    p.a[0] = 0.3, p.a[1] = -1.2, p.b[0] = 2;
    const optim::adam_options o{.lr = 0.05, .beta1 = 0.5, .beta2 = 0.999, .eps = 1e-6,
                                .weight_decay = 0.1, .decoupled_weight_decay = decoupled};
    optim::adam<double> opt(p.refs(), o);
    std::vector<scalar_adam> ref(3, scalar_adam{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, decoupled});
    double w[3] = {0.3, -1.2, 2};
    for (int k = 0; k < 5; ++k) {
      const double g[3] = {std::sin(k + 1.0), 0.1 * k - 0.3, std::cos(2.0 * k)};
      p.ga[0] = g[0], p.ga[1] = g[1], p.gb[0] = g[2];
      opt.step();
      for (int i = 0; i < 3; ++i) w[i] = ref[i].step(w[i], g[i]);
    }
    CHECK(p.a[0] == doctest::Approx(w[0]).epsilon(1e-13));
    CHECK(p.a[1] == doctest::Approx(w[1]).epsilon(1e-13));
    CHECK(p.b[0] == doctest::Approx(w[2]).epsilon(1e-13));
  }
}

TEST_CASE("adam: converges on an ill-conditioned quadratic") {
  // f(w) = ½ Σ c_i (w_i − t_i)², curvatures over four decades.
  tensor<float> w(shape{4}), g(shape{4});
  std::vector<param_ref<float>> refs{{"w", &w, &g}};
  const float c[4] = {100, 1, 0.1f, 0.01f}, t[4] = {1, -2, 3, 0.5f};
  optim::adam<float> opt(refs, {.lr = 0.05});
  for (int k = 0; k < 3000; ++k) {
    for (int i = 0; i < 4; ++i) g[i] = c[i] * (w[i] - t[i]);
    opt.step();
  }
  for (int i = 0; i < 4; ++i) CHECK(w[i] == doctest::Approx(t[i]).epsilon(1e-2));
}

TEST_CASE("adam: state round-trips through a checkpoint, so a resumed run continues bit for bit") {
  auto grads = [](params2& p, int k) {
    p.ga[0] = std::sin(k * 0.7), p.ga[1] = 1.0 / (k + 1), p.gb[0] = -0.2 * k;
  };
  params2 p1, p2;
  p1.a[0] = p2.a[0] = 1;
  optim::adam<double> o1(p1.refs(), {.lr = 0.01, .beta1 = 0.5});
  for (int k = 0; k < 3; ++k) grads(p1, k), o1.step();

  std::vector<std::string> names;
  o1.visit_state([&](std::string_view name, auto&) { names.emplace_back(name); });
  CHECK(names == std::vector<std::string>{"step", "m.a", "m.b", "v.a", "v.b"});

  io::checkpoint ck;
  io::save_state(ck, o1, "adam");
  p2.a = p1.a, p2.b = p1.b;
  optim::adam<double> o2(p2.refs(), {.lr = 0.01, .beta1 = 0.5});
  io::load_state(ck, o2, "adam");
  CHECK(o2.step_count() == 3);

  for (int k = 3; k < 6; ++k) grads(p1, k), o1.step(), grads(p2, k), o2.step();
  CHECK(p1.a[0] == p2.a[0]);
  CHECK(p1.a[1] == p2.a[1]);
  CHECK(p1.b[0] == p2.b[0]);
}

TEST_CASE("adam: trains the parameters of a network through collect_params") {
  nn::linear<double> net(2, 1);
  optim::adam<double> opt(collect_params(net), {.lr = 0.1});
  tensor<double> x(shape{1, 2}, 1.0);
  for (int k = 0; k < 200; ++k) {
    zero_grad(net);
    const double y = net.forward(x)[0];
    tensor<double> gy(shape{1, 1}, y - 3.0);  // ½ (y − 3)²
    net.backward(gy, grad::params);
    opt.step();
  }
  CHECK(net.forward(x)[0] == doctest::Approx(3.0).epsilon(1e-3));
  opt.zero_grad();
  for (double v : *collect_params(net)[0].grad) CHECK(v == 0);
}
