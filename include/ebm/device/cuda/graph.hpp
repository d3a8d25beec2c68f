#pragma once
// cuda_graph: captures the work a callable queues on a policy's stream into
// a CUDA graph once, and replays it with one launch.
//
//   body();                                       // run once eagerly first
//   auto graph = ebm::cuda_graph::capture(dev, body);
//   for (...) graph.launch();                      // replays on dev's stream
//
// The body must only queue work on dev's stream (kernels, cuBLAS, cuDNN,
// cudaMemcpyAsync/cudaMemsetAsync between device buffers): no host reads of
// device data, no synchronisation and no allocation.  ebm's layers satisfy
// this once every buffer and cuDNN plan exists, hence the eager run first:
// capture() rejects a graph that allocates (a tensor growing inside the
// body), since replaying it would hand out memory the tensor frees later.
// Kernel arguments are recorded by value: a replay reads the same
// addresses and scalars, so anything that must change between replays
// (e.g. the random-number counter of a sampler) must live in device memory
// and be updated by the graph itself.
//
// Capture runs in cudaStreamCaptureModeThreadLocal: a forbidden call from
// this thread (cudaMalloc, cudaStreamSynchronize, ...) invalidates the
// capture and capture() throws ebm::error naming it; other threads are not
// disturbed.  Host-API header.
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "device.hpp"

namespace ebm {

class cuda_graph {
 public:
  cuda_graph() = default;
  cuda_graph(cuda_graph&& o) noexcept
      : dev_(std::move(o.dev_)), graph_(std::exchange(o.graph_, nullptr)),
        exec_(std::exchange(o.exec_, nullptr)) {}
  cuda_graph& operator=(cuda_graph&& o) noexcept {
    if (this != &o) {
      release();
      dev_ = std::move(o.dev_);
      graph_ = std::exchange(o.graph_, nullptr);
      exec_ = std::exchange(o.exec_, nullptr);
    }
    return *this;
  }
  cuda_graph(const cuda_graph&) = delete;
  cuda_graph& operator=(const cuda_graph&) = delete;
  ~cuda_graph() { release(); }

  /// Captures what body() queues on dev's stream and instantiates it.
  template <class F>
  static cuda_graph capture(const cuda& dev, F&& body) {
    detail::cuda_device_guard guard(dev.device());
    const cudaStream_t s = dev.stream();
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    EBM_CUDA_CHECK(cudaStreamIsCapturing(s, &status));
    EBM_REQUIRE(status == cudaStreamCaptureStatusNone,
                "cuda_graph::capture: the stream is already being captured");
    EBM_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    cuda_graph out;
    out.dev_ = dev;
    try {
      body();
    } catch (...) {
      cudaGraph_t partial = nullptr;
      (void)cudaStreamEndCapture(s, &partial);  // leave the stream usable
      if (partial) (void)cudaGraphDestroy(partial);
      (void)cudaGetLastError();
      throw;
    }
    EBM_CUDA_CHECK(cudaStreamEndCapture(s, &out.graph_));
    out.reject_allocations();
    EBM_CUDA_CHECK(cudaGraphInstantiate(&out.exec_, out.graph_, 0));
    return out;
  }

  /// Replays the graph on the stream it was captured from.
  void launch() const {
    EBM_REQUIRE(exec_, "cuda_graph::launch: empty graph (use cuda_graph::capture)");
    launch(*dev_);
  }
  /// Replays the graph on another stream of the same GPU.
  void launch(const cuda& dev) const {
    EBM_REQUIRE(exec_, "cuda_graph::launch: empty graph (use cuda_graph::capture)");
    detail::cuda_device_guard guard(dev.device());
    EBM_CUDA_CHECK(cudaGraphLaunch(exec_, dev.stream()));
  }

  /// Number of nodes (kernels, copies, ...) in the captured graph.
  std::size_t node_count() const {
    if (!graph_) return 0;
    std::size_t n = 0;
    EBM_CUDA_CHECK(cudaGraphGetNodes(graph_, nullptr, &n));
    return n;
  }
  explicit operator bool() const { return exec_ != nullptr; }

 private:
  void reject_allocations() {
    std::size_t n = 0;
    EBM_CUDA_CHECK(cudaGraphGetNodes(graph_, nullptr, &n));
    std::vector<cudaGraphNode_t> nodes(n);
    if (n) EBM_CUDA_CHECK(cudaGraphGetNodes(graph_, nodes.data(), &n));
    for (cudaGraphNode_t node : nodes) {
      cudaGraphNodeType type{};
      EBM_CUDA_CHECK(cudaGraphNodeGetType(node, &type));
      EBM_REQUIRE(type != cudaGraphNodeTypeMemAlloc && type != cudaGraphNodeTypeMemFree,
                  "cuda_graph::capture: the captured work allocates or frees device memory "
                  "(a tensor was resized inside the body); run the body once eagerly before "
                  "capturing so that every buffer exists");
    }
  }
  void release() noexcept {
    if (exec_) (void)cudaGraphExecDestroy(exec_);
    if (graph_) (void)cudaGraphDestroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
  }

  std::optional<cuda> dev_;  // the policy captured from
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace ebm
