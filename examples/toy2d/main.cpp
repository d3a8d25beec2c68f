// ebm_toy2d: an MLP energy trained on 2-D toy distributions, once by maximum
// likelihood (persistent Langevin chains) and once by the denoising Fisher
// divergence, with pictures of what each learned.
//
//   ebm_toy2d [--steps N] [--out DIR] [--seed S] [--data ring8,checkerboard,moons]
//             [--method both|mle|fisher] [--batch B] [--chains C]
//
// For every data set it writes DIR/toy2d_<data>.png: three heat maps of the
// density on [-3, 3]^2 — the truth with data points, then exp(-E) learned by
// maximum likelihood and by the Fisher divergence, each with samples drawn
// from the learned energy by Langevin dynamics — and prints the total
// variation between each normalised grid density and the truth.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include <ebm/ebm.hpp>
#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/energy/network.hpp>
#include <ebm/io/png.hpp>
#include <ebm/sample/langevin.hpp>
#include <ebm/sample/replay_buffer.hpp>
#include <ebm/sample/short_run.hpp>

namespace {

using T = float;
using ebm::index_t;
using ebm::philox;
using ebm::shape;
using ebm::tensor;

constexpr double extent = 3.0;  // every picture shows [-extent, extent]^2

// ------------------------------------------------------------ data sets --

/// A toy distribution: exact samples and its density (up to a constant).
struct toy {
  std::string name;
  std::function<tensor<T>(index_t, philox&)> sample;
  std::function<double(double, double)> density;
};

/// Eight Gaussians (sd 0.2) on a circle of radius 2.
toy ring8() {
  std::vector<ebm::gaussian<double>> parts;
  for (int k = 0; k < 8; ++k) {
    ebm::gaussian<double>::vector m(2);
    m << 2 * std::cos(k * std::numbers::pi / 4), 2 * std::sin(k * std::numbers::pi / 4);
    parts.emplace_back(m, ebm::gaussian<double>::matrix::Identity(2, 2) * 0.04);
  }
  auto gm = std::make_shared<ebm::gaussian_mixture<double>>(std::vector<double>(8, 1.0), parts);
  return {"ring8",
          [gm](index_t n, philox& rng) { return ebm::tensor_cast<T>(gm->sample(n, rng)); },
          [gm](double x, double y) {
            tensor<double> p(shape{1, 2});
            p[0] = x, p[1] = y;
            return std::exp(-gm->energy(p)[0]);
          }};
}

/// Uniform on the dark squares of a 4 x 4 checkerboard over [-2, 2]^2.
toy checkerboard() {
  auto dark = [](double x, double y) {
    return std::abs(x) < 2 && std::abs(y) < 2 && (int(std::floor(x)) + int(std::floor(y))) % 2 == 0;
  };
  return {"checkerboard",
          [dark](index_t n, philox& rng) {
            tensor<T> x(shape{n, 2});
            for (index_t i = 0; i < n; ++i) {
              double a, b;
              do a = rng.uniform(-2, 2), b = rng.uniform(-2, 2);
              while (!dark(a, b));
              x(i, 0) = T(a), x(i, 1) = T(b);
            }
            return x;
          },
          [dark](double x, double y) { return dark(x, y) ? 1.0 : 0.0; }};
}

/// Two interleaved half circles (scikit-learn's make_moons, noise 0.1),
/// centred and scaled by 1.8.  The density is the arcs blurred by the noise.
toy moons() {
  constexpr double scale = 1.8, noise = 0.1 * scale;
  auto arc = [](int moon, double th, double& x, double& y) {
    x = moon == 0 ? std::cos(th) : 1 - std::cos(th);
    y = moon == 0 ? std::sin(th) : 0.5 - std::sin(th);
    x = (x - 0.5) * scale, y = (y - 0.25) * scale;
  };
  return {"moons",
          [arc](index_t n, philox& rng) {
            tensor<T> x(shape{n, 2});
            for (index_t i = 0; i < n; ++i) {
              double a, b;
              arc(int(rng.uniform_int(2)), rng.uniform(0, std::numbers::pi), a, b);
              x(i, 0) = T(a + noise * rng.normal()), x(i, 1) = T(b + noise * rng.normal());
            }
            return x;
          },
          [arc](double x, double y) {
            double p = 0;
            for (int moon = 0; moon < 2; ++moon)
              for (int k = 0; k < 400; ++k) {
                double a, b;
                arc(moon, (k + 0.5) * std::numbers::pi / 400, a, b);
                p += std::exp(-((x - a) * (x - a) + (y - b) * (y - b)) / (2 * noise * noise));
              }
            return p;
          }};
}

// ------------------------------------------------------------- options --

struct options {
  int steps = 2000;        // maximum-likelihood updates
  int fisher_steps = 0;    // Fisher updates; 0 = 4 x steps (they need no sampling)
  double lr = 1e-2;        // Adam's initial learning rate (decays linearly to 0)
  double energy_l2 = 0.1;  // pins the levels of modes the chains cannot travel between
  index_t batch = 256, fisher_batch = 512, chains = 256;
  std::uint64_t seed = 1;
  std::string out = "toy2d";
  std::vector<std::string> data = {"ring8", "checkerboard", "moons"};
  std::string method = "both";
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "%s\nusage: ebm_toy2d [--steps N] [--fisher-steps N] [--out DIR] [--seed S]\n"
               "                 [--data ring8,checkerboard,moons] [--method both|mle|fisher]\n"
               "                 [--lr X] [--energy-l2 X] [--batch B] [--fisher-batch B]\n"
               "                 [--chains C]\n",
               msg);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") usage("Trains MLP energies on 2-D toy data and draws what they learned.");
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const std::string v = argv[++i];
    if (a == "--steps") o.steps = std::stoi(v);
    else if (a == "--fisher-steps") o.fisher_steps = std::stoi(v);
    else if (a == "--lr") o.lr = std::stod(v);
    else if (a == "--energy-l2") o.energy_l2 = std::stod(v);
    else if (a == "--batch") o.batch = std::stol(v);
    else if (a == "--fisher-batch") o.fisher_batch = std::stol(v);
    else if (a == "--chains") o.chains = std::stol(v);
    else if (a == "--seed") o.seed = std::stoull(v);
    else if (a == "--out") o.out = v;
    else if (a == "--method") o.method = v;
    else if (a == "--data") {
      o.data.clear();
      std::stringstream ss(v);
      for (std::string d; std::getline(ss, d, ',');) o.data.push_back(d);
    } else usage(("unknown option " + a).c_str());
  }
  if (o.fisher_steps == 0) o.fisher_steps = 4 * o.steps;
  if (o.steps < 1 || o.fisher_steps < 1 || o.batch < 1 || o.fisher_batch < 1 || o.chains < 1 ||
      !(o.lr > 0) || !(o.energy_l2 >= 0))
    usage("step counts, batch sizes, chains and learning rates must be positive");
  if (o.method != "both" && o.method != "mle" && o.method != "fisher") usage("--method is both, mle or fisher");
  return o;
}

// ------------------------------------------------------------ progress --

/// Prints step, loss, throughput and the time left about ten times a run.
class progress {
 public:
  progress(std::string what, int steps, index_t per_step)
      : what_(std::move(what)), steps_(steps), per_step_(per_step), start_(clock::now()) {}
  void update(int step, double loss) {
    if (step % std::max(1, steps_ / 10) != 0 && step != steps_) return;
    const double s = std::chrono::duration<double>(clock::now() - start_).count();
    std::printf("  %-22s step %5d/%d  loss %9.4f  %8.0f samples/s  ETA %5.1f s\n", what_.c_str(), step, steps_,
                loss, double(step) * double(per_step_) / s, s * (steps_ - step) / step);
    std::fflush(stdout);
  }

 private:
  using clock = std::chrono::steady_clock;
  std::string what_;
  int steps_;
  index_t per_step_;
  clock::time_point start_;
};

// ------------------------------------------------------------- training --

auto make_energy(std::uint64_t seed) {
  namespace nn = ebm::nn;
  nn::sequential net{nn::linear<T>(2, 64), nn::swish<T>{}, nn::linear<T>(64, 64), nn::swish<T>{},
                     nn::linear<T>(64, 64), nn::swish<T>{}, nn::linear<T>(64, 1)};
  nn::initialize(net, seed);
  return net;
}

/// Maximum likelihood: persistent chains (a replay buffer of Langevin end
/// points, 5% restarted from uniform noise), 20 ULA steps per update, Adam
/// with CF-EBM's betas and a linearly decaying learning rate.
template <class Net>
void train_mle(Net& net, const toy& data, const options& o, philox& rng) {
  auto energy = ebm::energy_of(net);
  auto langevin = ebm::unadjusted_langevin<T>(0.01f);
  langevin.clamp(-extent, extent);  // chains stay in the pictured square
  ebm::short_run sampler{ebm::replay_buffer<T>(10000, ebm::init::uniform_noise<T>(shape{2}, -extent, extent)),
                         langevin, 20};
  ebm::optim::adam<T> opt(ebm::collect_params(net), {.lr = o.lr, .beta1 = 0.5, .beta2 = 0.999});
  ebm::objective::maximum_likelihood<T> ml(T(o.energy_l2));
  tensor<T> samples;
  progress bar(data.name + " / likelihood", o.steps, o.batch);
  for (int step = 1; step <= o.steps; ++step) {
    const tensor<T> x = data.sample(o.batch, rng);
    sampler.sample(energy, samples, o.chains, rng);
    ebm::zero_grad(net);
    const T loss = ml(net, x, samples);
    opt.set_lr(o.lr * (1.0 - double(step - 1) / o.steps));
    opt.step();
    bar.update(step, loss);
  }
}

/// Denoising Fisher divergence at small noise levels (sigma from 0.04 to
/// 0.1 on the linear schedule), noise-prediction parameterisation.
template <class Net>
void train_fisher(Net& net, const toy& data, const options& o, philox& rng) {
  ebm::objective::denoising_fisher<T> fisher(ebm::noise_schedule::linear(1000));
  fisher.set_timestep_range(8, 28);
  ebm::optim::adam<T> opt(ebm::collect_params(net), {.lr = o.lr});
  progress bar(data.name + " / Fisher", o.fisher_steps, o.fisher_batch);
  for (int step = 1; step <= o.fisher_steps; ++step) {
    const tensor<T> x = data.sample(o.fisher_batch, rng);
    ebm::zero_grad(net);
    const T loss = fisher(net, x, rng);
    opt.set_lr(o.lr * (1.0 - double(step - 1) / o.fisher_steps));
    opt.step();
    bar.update(step, loss);
  }
}

/// Samples from a learned energy: long Langevin chains from uniform noise.
template <class Net>
tensor<T> draw_samples(Net& net, index_t n, philox& rng) {
  auto energy = ebm::energy_of(net);
  tensor<T> x(shape{n, 2});
  rng.fill_uniform<T>(x.span(), -extent, extent);
  ebm::unadjusted_langevin<T>(0.01f).run(energy, x, 2000, rng);
  return x;
}

// ------------------------------------------------------------- pictures --

constexpr int panel = 256;

/// Densities at the centres of the panel's pixels, normalised to sum 1;
/// row 0 is the top (y = +extent).
std::vector<double> grid_density(const std::function<void(const tensor<T>&, std::vector<double>&)>& eval) {
  tensor<T> pts(shape{index_t(panel) * panel, 2});
  for (int r = 0; r < panel; ++r)
    for (int c = 0; c < panel; ++c) {
      pts(r * panel + c, 0) = T(-extent + (c + 0.5) * 2 * extent / panel);
      pts(r * panel + c, 1) = T(extent - (r + 0.5) * 2 * extent / panel);
    }
  std::vector<double> p;
  eval(pts, p);
  double z = 0;
  for (double v : p) z += v;
  for (double& v : p) v /= z;
  return p;
}

std::vector<double> truth_density(const toy& t) {
  return grid_density([&](const tensor<T>& pts, std::vector<double>& p) {
    p.resize(std::size_t(pts.extent(0)));
    for (index_t i = 0; i < pts.extent(0); ++i) p[std::size_t(i)] = t.density(pts(i, 0), pts(i, 1));
  });
}

template <class Net>
std::vector<double> model_density(Net& net) {
  return grid_density([&](const tensor<T>& pts, std::vector<double>& p) {
    const tensor<T>& e = net.forward(pts);
    const double emin = *std::min_element(e.begin(), e.end());
    p.resize(std::size_t(e.size()));
    for (index_t i = 0; i < e.size(); ++i) p[std::size_t(i)] = std::exp(-(double(e[i]) - emin));
  });
}

double total_variation(const std::vector<double>& p, const std::vector<double>& q) {
  double tv = 0;
  for (std::size_t i = 0; i < p.size(); ++i) tv += std::abs(p[i] - q[i]);
  return tv / 2;
}

/// A perceptual dark-to-bright colour map (black, purple, orange, pale yellow).
void heat_color(double u, unsigned char rgb[3]) {
  static constexpr double stops[5][3] = {{0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}};
  u = std::clamp(u, 0.0, 1.0) * 4;
  const int k = std::min(3, int(u));
  const double f = u - k;
  for (int c = 0; c < 3; ++c) rgb[c] = (unsigned char)std::lround(stops[k][c] + f * (stops[k + 1][c] - stops[k][c]));
}

/// Draws one panel at horizontal offset x0: the density as a heat map (scaled
/// to its maximum) and the points as small cyan dots.
void draw_panel(ebm::io::image8& img, int x0, const std::vector<double>& p, const tensor<T>& points) {
  const double pmax = *std::max_element(p.begin(), p.end());
  for (int r = 0; r < panel; ++r)
    for (int c = 0; c < panel; ++c) heat_color(p[std::size_t(r) * panel + c] / pmax, &img.at(x0 + c, r));
  for (index_t i = 0; i < points.extent(0); ++i) {
    const int c = int(std::floor((points(i, 0) + extent) / (2 * extent) * panel));
    const int r = int(std::floor((extent - points(i, 1)) / (2 * extent) * panel));
    for (int dr = 0; dr < 2; ++dr)
      for (int dc = 0; dc < 2; ++dc)
        if (r + dr >= 0 && r + dr < panel && c + dc >= 0 && c + dc < panel) {
          unsigned char* px = &img.at(x0 + c + dc, r + dr);
          px[0] = 60, px[1] = 220, px[2] = 255;
        }
  }
}


/// Trains one energy with one method and returns its panel's density and
/// samples (run on its own thread: the two methods are independent).
struct result {
  std::vector<double> density;
  tensor<T> samples;
};
template <class Train>
result learn(const toy& data, const options& o, std::uint64_t stream, Train train) {
  philox rng(o.seed, stream);
  auto net = make_energy(o.seed + stream);
  train(net, data, o, rng);
  return {model_density(net), draw_samples(net, 1000, rng)};
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  std::filesystem::create_directories(o.out);
  std::vector<toy> sets;
  for (const auto& d : o.data) {
    if (d == "ring8") sets.push_back(ring8());
    else if (d == "checkerboard") sets.push_back(checkerboard());
    else if (d == "moons") sets.push_back(moons());
    else usage(("unknown data set " + d).c_str());
  }
  std::printf("ebm_toy2d: %d likelihood and %d Fisher steps, seed %llu, output in %s/\n", o.steps,
              o.fisher_steps, (unsigned long long)o.seed, o.out.c_str());

  for (std::size_t k = 0; k < sets.size(); ++k) {
    const toy& data = sets[k];
    std::vector<std::pair<const char*, std::future<result>>> runs;
    if (o.method != "fisher")
      runs.emplace_back("likelihood", std::async(std::launch::async, [&] {
                          return learn(data, o, 3 * k + 1, [](auto&... a) { train_mle(a...); });
                        }));
    if (o.method != "mle")
      runs.emplace_back("Fisher", std::async(std::launch::async, [&] {
                          return learn(data, o, 3 * k + 2, [](auto&... a) { train_fisher(a...); });
                        }));

    const int panels = 1 + int(runs.size()), gap = 4;
    ebm::io::image8 img(panels * panel + (panels - 1) * gap, panel, 3, 255);
    const std::vector<double> truth = truth_density(data);
    philox rng(o.seed, 3 * k);
    draw_panel(img, 0, truth, data.sample(1000, rng));
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const result res = runs[r].second.get();
      draw_panel(img, int(r + 1) * (panel + gap), res.density, res.samples);
      std::printf("  %-22s total variation to the truth on the grid: %.3f\n",
                  (data.name + " / " + runs[r].first).c_str(), total_variation(res.density, truth));
    }
    const auto path = std::filesystem::path(o.out) / ("toy2d_" + data.name + ".png");
    ebm::io::write_png(path, img);
    std::printf("  wrote %s\n", path.string().c_str());
  }
  return 0;
}
