// CPU kernels for PReLU: one multi-threaded pass forward, one backward.
//
// The input is viewed as (outer, channels, inner) with one slope per channel:
// channels-last inputs have inner == 1, channels-first inputs inner == H*W, a
// single shared slope has channels == 1. The backward pass writes dx and sums
// upstream * x over the negative entries in the same pass over the data, which
// XLA:CPU and the TensorFlow kernels cannot do (they read x and upstream twice).
//
// The loops are plain C++ that the compiler vectorises; `target_clones` builds
// them for AVX-512, AVX2 and baseline x86-64 and picks one at load time, so the
// library stays portable. Outputs reuse an input's buffer when TensorFlow lets
// them (as its own element-wise kernels do), which avoids touching fresh memory.
//
// What the backward pass reads: when every slope lies in [kMinSlope, kMaxSlope],
// y < 0 exactly where x < 0 (inputs within ~1e-32 of zero aside, whose products
// underflow) and x = y / alpha there, so the forward pass may write y over x and
// hand the backward pass y alone (`saved` is then empty), as ReLU's gradient
// reads its output. Otherwise `saved` is x itself (the same buffer, no copy) and
// the backward pass reads it, exact for any slope.
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KERAS_PRELU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KERAS_PRELU_CLONES
#endif

namespace keras_prelu {
namespace {

using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;

// Elements per work item: small enough that a work item's data stays in cache,
// large enough that float partial sums stay accurate (they are added in double).
constexpr int64_t kChunk = 8192;
constexpr float kMinSlope = 1e-6f, kMaxSlope = 1e6f;

struct Layout {
  int64_t outer, channels, inner;
  int64_t size() const { return outer * channels * inner; }
};

::tensorflow::Status ReadLayout(const Tensor& x, const Tensor& alpha, const Tensor& dims,
                                Layout* layout) {
  if (dims.NumElements() != 3) {
    return ::tensorflow::errors::InvalidArgument("dims must hold (outer, channels, inner)");
  }
  auto d = dims.flat<int64_t>();
  *layout = Layout{d(0), d(1), d(2)};
  if (layout->outer < 0 || layout->channels < 0 || layout->inner < 0 ||
      layout->size() != x.NumElements() || layout->channels != alpha.NumElements()) {
    return ::tensorflow::errors::InvalidArgument("dims do not match x and alpha");
  }
  return ::tensorflow::OkStatus();
}

// Channels-last blocks: `rows` rows of `channels` values, slope alpha[c] for column c.
KERAS_PRELU_CLONES
void ForwardRows(const float* x, const float* __restrict alpha, float* y,
                 int64_t rows, int64_t channels) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float v = xr[c];
      yr[c] = v < 0.f ? v * alpha[c] : v;
    }
  }
}

// One contiguous span sharing the slope `a`.
KERAS_PRELU_CLONES
void ForwardSpan(const float* x, float a, float* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    const float v = x[i];
    y[i] = v < 0.f ? v * a : v;
  }
}

// Backward over channels-last rows: dx, and sum[c] += upstream * x where x < 0.
KERAS_PRELU_CLONES
void BackwardRows(const float* __restrict x, const float* __restrict alpha, const float* g,
                  float* dx, float* __restrict sum, int64_t rows, int64_t channels) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    const float* gr = g + r * channels;
    float* dr = dx + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float v = xr[c], u = gr[c];
      const bool negative = v < 0.f;
      sum[c] += negative ? u * v : 0.f;
      dr[c] = negative ? u * alpha[c] : u;
    }
  }
}

// Backward over one span sharing the slope `a`; returns the span's sum of upstream * x
// where x < 0 (accumulated in 16 lanes, so the loop vectorises).
KERAS_PRELU_CLONES
float BackwardSpan(const float* __restrict x, float a, const float* g, float* dx, int64_t count) {
  float lanes[16] = {0.f};
  int64_t i = 0;
  for (; i + 16 <= count; i += 16) {
    for (int j = 0; j < 16; ++j) {
      const float v = x[i + j], u = g[i + j];
      const bool negative = v < 0.f;
      lanes[j] += negative ? u * v : 0.f;
      dx[i + j] = negative ? u * a : u;
    }
  }
  float total = 0.f;
  for (; i < count; ++i) {
    const float v = x[i], u = g[i];
    const bool negative = v < 0.f;
    total += negative ? u * v : 0.f;
    dx[i] = negative ? u * a : u;
  }
  for (int j = 0; j < 16; ++j) total += lanes[j];
  return total;
}

// Work items: for channels-last data, blocks of whole rows; otherwise spans of at most
// kChunk elements inside one (outer, channel) slice of `inner` elements.
struct Plan {
  bool rows;                // channels-last with several channels
  int64_t rows_per_item;    // rows mode
  int64_t items_per_slice;  // span mode: items per (outer, channel) slice
  int64_t span;             // span mode: elements per item (the last may be shorter)
  int64_t items;
};

Plan MakePlan(const Layout& l) {
  Plan p{};
  if (l.inner == 1 && l.channels > 1) {
    p.rows = true;
    p.rows_per_item = std::max<int64_t>(1, kChunk / l.channels);
    p.items = (l.outer + p.rows_per_item - 1) / p.rows_per_item;
  } else {
    p.rows = false;
    // channels == 1 with inner == 1 (one shared slope, channels-last) is one long slice.
    const int64_t slice = l.channels == 1 ? l.size() : l.inner;
    p.span = std::min<int64_t>(kChunk, std::max<int64_t>(1, slice));
    p.items_per_slice = (slice + p.span - 1) / p.span;
    p.items = (l.channels == 1 ? 1 : l.outer * l.channels) * p.items_per_slice;
  }
  return p;
}

// The span-mode item `k`: its first element, its length and its channel.
void SpanItem(const Layout& l, const Plan& p, int64_t k, int64_t* start, int64_t* count,
              int64_t* channel) {
  const int64_t slice_index = k / p.items_per_slice, part = k % p.items_per_slice;
  const int64_t slice = l.channels == 1 ? l.size() : l.inner;
  *channel = l.channels == 1 ? 0 : slice_index % l.channels;
  *start = slice_index * slice + part * p.span;
  *count = std::min(p.span, slice - part * p.span);
}

class ForwardOp : public OpKernel {
 public:
  explicit ForwardOp(OpKernelConstruction* c) : OpKernel(c) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& alpha = ctx->input(1);
    Layout l;
    OP_REQUIRES_OK(ctx, ReadLayout(x, alpha, ctx->input(2), &l));
    const float* ap = alpha.flat<float>().data();
    bool by_output = true;
    for (int64_t c = 0; c < l.channels; ++c) {
      by_output = by_output && ap[c] >= kMinSlope && ap[c] <= kMaxSlope;  // false for NaN
    }
    Tensor* y = nullptr;
    if (by_output) {
      OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &y));
      Tensor* empty = nullptr;
      OP_REQUIRES_OK(ctx, ctx->allocate_output(1, ::tensorflow::TensorShape({0}), &empty));
    } else {
      OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
      ctx->set_output(1, x);
    }
    if (l.size() == 0) return;
    const float* xp = x.flat<float>().data();
    float* yp = y->flat<float>().data();
    const Plan p = MakePlan(l);
    auto work = [&](int64_t first, int64_t last) {
      for (int64_t k = first; k < last; ++k) {
        if (p.rows) {
          const int64_t row = k * p.rows_per_item;
          const int64_t rows = std::min(p.rows_per_item, l.outer - row);
          ForwardRows(xp + row * l.channels, ap, yp + row * l.channels, rows, l.channels);
        } else {
          int64_t start, count, channel;
          SpanItem(l, p, k, &start, &count, &channel);
          ForwardSpan(xp + start, ap[channel], yp + start, count);
        }
      }
    };
    auto* threads = ctx->device()->tensorflow_cpu_worker_threads();
    ::tensorflow::Shard(threads->num_threads, threads->workers, p.items,
                        2 * std::min<int64_t>(kChunk, l.size()), work);
  }
};

class BackwardOp : public OpKernel {
 public:
  explicit BackwardOp(OpKernelConstruction* c) : OpKernel(c) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& y = ctx->input(0);
    const Tensor& saved = ctx->input(1);
    const Tensor& alpha = ctx->input(2);
    const Tensor& upstream = ctx->input(3);
    // x itself when the forward pass saved it, else y stands in for it (see the top;
    // an empty x saved is also read as y, which has its shape).
    const bool by_output = saved.NumElements() == 0;
    const Tensor& x = by_output ? y : saved;
    Layout l;
    OP_REQUIRES_OK(ctx, ReadLayout(x, alpha, ctx->input(4), &l));
    OP_REQUIRES(ctx, upstream.shape() == x.shape() && y.shape() == x.shape(),
                ::tensorflow::errors::InvalidArgument("y, saved and upstream shapes differ"));
    Tensor* dx = nullptr;
    Tensor* dalpha = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({3}, 0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, alpha.shape(), &dalpha));
    float* dap = dalpha->flat<float>().data();
    if (l.size() == 0) {
      std::fill(dap, dap + l.channels, 0.f);
      return;
    }
    const float* xp = x.flat<float>().data();
    const float* ap = alpha.flat<float>().data();
    const float* gp = upstream.flat<float>().data();
    float* dxp = dx->flat<float>().data();
    const Plan p = MakePlan(l);
    std::vector<double> total(l.channels, 0.0);
    std::mutex total_mutex;
    auto work = [&](int64_t first, int64_t last) {
      // Float sums within a work item, double across items and threads.
      std::vector<double> local(l.channels, 0.0);
      std::vector<float> item(p.rows ? l.channels : 0);
      for (int64_t k = first; k < last; ++k) {
        if (p.rows) {
          const int64_t row = k * p.rows_per_item;
          const int64_t rows = std::min(p.rows_per_item, l.outer - row);
          const int64_t offset = row * l.channels;
          std::fill(item.begin(), item.end(), 0.f);
          BackwardRows(xp + offset, ap, gp + offset, dxp + offset, item.data(), rows, l.channels);
          for (int64_t c = 0; c < l.channels; ++c) local[c] += item[c];
        } else {
          int64_t start, count, channel;
          SpanItem(l, p, k, &start, &count, &channel);
          local[channel] += BackwardSpan(xp + start, ap[channel], gp + start, dxp + start, count);
        }
      }
      std::lock_guard<std::mutex> lock(total_mutex);
      for (int64_t c = 0; c < l.channels; ++c) total[c] += local[c];
    };
    auto* threads = ctx->device()->tensorflow_cpu_worker_threads();
    ::tensorflow::Shard(threads->num_threads, threads->workers, p.items,
                        3 * std::min<int64_t>(kChunk, l.size()), work);
    // By output the sums are of upstream * alpha * x: divide once per channel.
    for (int64_t c = 0; c < l.channels; ++c) {
      dap[c] = static_cast<float>(by_output ? total[c] / ap[c] : total[c]);
    }
  }
};

}  // namespace

REGISTER_OP("KerasPreluForward")
    .Input("x: float")
    .Input("alpha: float")
    .Input("dims: int64")
    .Output("y: float")
    .Output("saved: float")
    .SetShapeFn([](::tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->UnknownShape());  // x's shape, or (0,) when y stands in for x
      return ::tensorflow::OkStatus();
    });

REGISTER_OP("KerasPreluBackward")
    .Input("y: float")
    .Input("saved: float")
    .Input("alpha: float")
    .Input("upstream: float")
    .Input("dims: int64")
    .Output("dx: float")
    .Output("dalpha: float")
    .SetShapeFn([](::tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(2));
      return ::tensorflow::OkStatus();
    });

REGISTER_KERNEL_BUILDER(
    Name("KerasPreluForward").Device(::tensorflow::DEVICE_CPU).HostMemory("dims"), ForwardOp);
REGISTER_KERNEL_BUILDER(
    Name("KerasPreluBackward").Device(::tensorflow::DEVICE_CPU).HostMemory("dims"), BackwardOp);

}  // namespace keras_prelu
