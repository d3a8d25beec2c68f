// The CF-EBM example's --device cuda paths: device.hpp's templates for
// ebm::cuda.  Built only when CUDA is present (examples/CMakeLists.txt).
#include <ebm/device/cuda/cuda.cuh>

#include "device.hpp"

namespace cfx {

int train_cuda(const ebm::cf_ebm::train_options& t, const ebm::data::image_dataset<float>& data, bool resume) {
  return train_on<ebm::cuda>(t, data, resume);
}

ebm::tensor<float> generate_cuda(const fs::path& checkpoint, ebm::index_t n, const std::string& mode,
                                 ebm::philox& rng) {
  return generate_on<ebm::cuda>(checkpoint, n, mode, rng);
}

}  // namespace cfx
