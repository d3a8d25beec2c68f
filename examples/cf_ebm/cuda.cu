// The CF-EBM example's --device cuda paths: device.hpp's templates for
// ebm::cuda.  Built only when CUDA is present (examples/CMakeLists.txt).
#include <ebm/device/cuda/cuda.cuh>

#include "device.hpp"

namespace cfx {

namespace {
void require_gpu() {
  if (ebm::cuda::device_count() == 0)
    throw ebm::error("--device cuda: no CUDA device is present (or no driver); run without --device for the CPU");
}
}  // namespace

int train_cuda(const ebm::cf_ebm::train_options& t, const ebm::data::image_dataset<float>& data, bool resume) {
  require_gpu();
  return train_on<ebm::cuda>(t, data, resume);
}

ebm::tensor<float> generate_cuda(const fs::path& checkpoint, ebm::index_t n, const std::string& mode,
                                 ebm::philox& rng) {
  require_gpu();
  return generate_on<ebm::cuda>(checkpoint, n, mode, rng);
}

}  // namespace cfx
