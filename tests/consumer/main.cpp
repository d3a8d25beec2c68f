// Built against the *installed* ebm package (find_package(ebm)).
#include <ebm/ebm.hpp>
#include <cstdio>

int main() {
  ebm::nn::sequential net{ebm::nn::linear<double>(4, 8), ebm::nn::swish<double>{},
                          ebm::nn::linear<double>(8, 1)};
  ebm::tensor<double> x(ebm::shape{3, 4}, 0.5);
  const auto& e = net.forward(x);
  std::printf("consumer: energies of 3 samples: %g %g %g\n", e[0], e[1], e[2]);
  return e.size() == 3 ? 0 : 1;
}
