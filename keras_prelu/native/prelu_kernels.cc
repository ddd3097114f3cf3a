// CPU kernels for PReLU: one multi-threaded pass forward, one backward.
//
// The input is viewed as (outer, channels, inner) with one slope per channel:
// channels-last inputs have inner == 1, channels-first inputs inner == H*W, a
// single shared slope has channels == 1. The backward pass writes dx and sums
// upstream * x over the negative entries in the same pass over the data, which
// XLA:CPU and the TensorFlow kernels cannot do (they read x and upstream twice).
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

#include "Eigen/Core"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

namespace keras_prelu {
namespace {

using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using Vec = Eigen::Array<float, Eigen::Dynamic, 1>;
using Map = Eigen::Map<Vec>;
using ConstMap = Eigen::Map<const Vec>;

// Elements per work item: small enough that a work item's inputs stay in cache.
constexpr int64_t kChunk = 4096;

struct Layout {
  int64_t outer, channels, inner;
  int64_t size() const { return outer * channels * inner; }
};

::tensorflow::Status ReadLayout(OpKernelContext* ctx, const Tensor& x, const Tensor& alpha,
                                const Tensor& dims, Layout* layout) {
  if (dims.NumElements() != 3) {
    return ::tensorflow::errors::InvalidArgument("dims must hold (outer, channels, inner)");
  }
  auto d = dims.flat<int64_t>();
  *layout = Layout{d(0), d(1), d(2)};
  if (layout->size() != x.NumElements() || layout->channels != alpha.NumElements()) {
    return ::tensorflow::errors::InvalidArgument("dims do not match x and alpha");
  }
  return ::tensorflow::OkStatus();
}

// For channels-last data the slope pattern repeats every `channels` elements;
// tiling it to a chunk-sized vector makes every operation elementwise.
Vec TiledSlopes(const float* alpha, int64_t channels, int64_t length) {
  Vec tiled(length);
  for (int64_t i = 0; i < length; ++i) tiled(i) = alpha[i % channels];
  return tiled;
}

int64_t ChunkLength(const Layout& l) {
  return l.inner == 1 ? l.channels * std::max<int64_t>(1, kChunk / l.channels) : l.inner;
}

class ForwardOp : public OpKernel {
 public:
  explicit ForwardOp(OpKernelConstruction* c) : OpKernel(c) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& alpha = ctx->input(1);
    Layout l;
    OP_REQUIRES_OK(ctx, ReadLayout(ctx, x, alpha, ctx->input(2), &l));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    const float* xp = x.flat<float>().data();
    const float* ap = alpha.flat<float>().data();
    float* yp = y->flat<float>().data();
    const int64_t n = l.size();
    if (n == 0) return;
    const int64_t length = ChunkLength(l);
    const int64_t chunks = (n + length - 1) / length;
    const Vec tiled = l.inner == 1 ? TiledSlopes(ap, l.channels, length) : Vec();
    auto work = [&](int64_t first, int64_t last) {
      for (int64_t k = first; k < last; ++k) {
        const int64_t start = k * length, count = std::min(length, n - start);
        ConstMap xs(xp + start, count);
        Map ys(yp + start, count);
        if (l.inner == 1) {
          ys = (xs < 0.f).select(xs * tiled.head(count), xs);
        } else {
          ys = (xs < 0.f).select(xs * ap[k % l.channels], xs);
        }
      }
    };
    auto* threads = ctx->device()->tensorflow_cpu_worker_threads();
    ::tensorflow::Shard(threads->num_threads, threads->workers, chunks, length * 4, work);
  }
};

class BackwardOp : public OpKernel {
 public:
  explicit BackwardOp(OpKernelConstruction* c) : OpKernel(c) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& alpha = ctx->input(1);
    const Tensor& upstream = ctx->input(2);
    Layout l;
    OP_REQUIRES_OK(ctx, ReadLayout(ctx, x, alpha, ctx->input(3), &l));
    OP_REQUIRES(ctx, upstream.shape() == x.shape(),
                ::tensorflow::errors::InvalidArgument("upstream and x shapes differ"));
    Tensor* dx = nullptr;
    Tensor* dalpha = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, alpha.shape(), &dalpha));
    const float* xp = x.flat<float>().data();
    const float* ap = alpha.flat<float>().data();
    const float* gp = upstream.flat<float>().data();
    float* dxp = dx->flat<float>().data();
    const int64_t n = l.size();
    if (n == 0) {
      dalpha->flat<float>().setZero();
      return;
    }
    const int64_t length = ChunkLength(l);
    const int64_t chunks = (n + length - 1) / length;
    const Vec tiled = l.inner == 1 ? TiledSlopes(ap, l.channels, length) : Vec();
    std::vector<double> total(l.channels, 0.0);
    std::mutex total_mutex;
    auto work = [&](int64_t first, int64_t last) {
      // Per-call partial sums: float within a chunk position, double across calls.
      Vec partial = Vec::Zero(l.inner == 1 ? length : l.channels);
      for (int64_t k = first; k < last; ++k) {
        const int64_t start = k * length, count = std::min(length, n - start);
        ConstMap xs(xp + start, count), gs(gp + start, count);
        Map dxs(dxp + start, count);
        if (l.inner == 1) {
          dxs = (xs < 0.f).select(gs * tiled.head(count), gs);
          partial.head(count) += (xs < 0.f).select(gs * xs, 0.f);
        } else {
          const int64_t c = k % l.channels;
          dxs = (xs < 0.f).select(gs * ap[c], gs);
          partial(c) += (xs < 0.f).select(gs * xs, 0.f).sum();
        }
      }
      std::lock_guard<std::mutex> lock(total_mutex);
      for (int64_t i = 0; i < partial.size(); ++i) total[i % l.channels] += partial(i);
    };
    auto* threads = ctx->device()->tensorflow_cpu_worker_threads();
    ::tensorflow::Shard(threads->num_threads, threads->workers, chunks, length * 8, work);
    float* dap = dalpha->flat<float>().data();
    for (int64_t c = 0; c < l.channels; ++c) dap[c] = static_cast<float>(total[c]);
  }
};

}  // namespace

REGISTER_OP("KerasPreluForward")
    .Input("x: float")
    .Input("alpha: float")
    .Input("dims: int64")
    .Output("y: float")
    .SetShapeFn([](::tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      return ::tensorflow::OkStatus();
    });

REGISTER_OP("KerasPreluBackward")
    .Input("x: float")
    .Input("alpha: float")
    .Input("upstream: float")
    .Input("dims: int64")
    .Output("dx: float")
    .Output("dalpha: float")
    .SetShapeFn([](::tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(1));
      return ::tensorflow::OkStatus();
    });

REGISTER_KERNEL_BUILDER(
    Name("KerasPreluForward").Device(::tensorflow::DEVICE_CPU).HostMemory("dims"), ForwardOp);
REGISTER_KERNEL_BUILDER(
    Name("KerasPreluBackward").Device(::tensorflow::DEVICE_CPU).HostMemory("dims"), BackwardOp);

}  // namespace keras_prelu
