// A 3x3 conv of the integer TinyIceNet from a shared-memory halo tile (design "gen6").
//
// One program computes TH x TW output pixels of a 3x3 conv whose input is the nearest-2x
// upsampled low-resolution tensor UP (CUP channels, 0 = none) concatenated with the tensor SK
// at the output's resolution (CSK channels, 0 = none): a decoder conv reads both, an encoder
// conv or the bottleneck SK alone. Then bias, requantisation and the stored output (WRITE_OUT),
// its 2x2 max-pool (POOL), or the fused 1x1 head (HEAD, int8 logits NCHW). The halo of the
// sources is copied into shared memory once
// (cp.async, 16 bytes), and every 3x3 tap reads its A operand from there with ldmatrix:
// each byte leaves L2 once per tile instead of once per tap. The upsampled source is never
// formed: output pixel (y, x), tap (dy, dx) reads low-resolution pixel ((y+dy)>>1, (x+dx)>>1).
// Programs are persistent (grid-stride over tiles) and prefetch the next tile's halo while
// they compute the current one; the packed weights stay in shared memory for all tiles.
//
// MMA: mma.sync m16n8k32 / m16n8k16 s8.s8.s32 (PTX ISA, "Matrix Fragments for mma.m16n8k32"
// and "for mma.m16n8k16" with integer types: docs.nvidia.com/cuda/parallel-thread-execution).
// M = 16 output pixels of one tile row, N = 8 output channels, K = 32 (or 16) input channels
// of one tap. Weights arrive pre-packed in B-fragment order (tinyicenet.kernels.fragments).
// Every buffer is NHWC int8 with a one-pixel border holding the stored form of zero; all
// arithmetic is the integer reference's (tinyicenet.kernels.plan: offsets, safe bias, round
// half to even), so the output equals it value for value.
//
// The first conv (STEM, design gen7) reads the float network input instead: its halo is
// copied as fp32 (4-byte cp.async), quantised once per pixel into shared memory (the
// integer reference's quantiser) and multiplied as one im2col K = 32 step per m-tile
// (k = 2 tap + channel, plan.pack_im2col; rows 18.. have zero weights).
//
// Compile-time parameters (-D): CUP, CSK, COUT (padded, multiple of 16), TH (even), TW
// (multiple of 16), WARPS, RSHIFT, LO, HI, OUT_XOR, WRITE_OUT, POOL, HEAD (0/1) and with HEAD:
// NCLS, NCLS_T (class tiles of 8), H_RSHIFT, H_LO, H_HI, H_XOR; with STEM: QLO, QHI;
// WIDE (0/1): 4-byte output stores (fragments.store_channels); GDC (0/1) for a programmatic
// dependent launch.
//
// The file has three sections (marked //@stage and //@kernel): helpers, one stage's device
// code, and the kernel of one stage. tinyicenet.kernels.cuda_halo also composes several
// stages, each in its own namespace, into one persistent kernel with grid-wide waits
// between them (gen7 with fused=True: one launch per forward pass).

typedef signed char i8;
typedef unsigned int u32;

__device__ __forceinline__ u32 smem_u32(const void* p) {
    return static_cast<u32>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async16(u32 dst, const void* src, bool valid) {
    // src-size 0 fills the 16 bytes with zeros (outside the bordered buffer)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                 :: "r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N> __device__ __forceinline__ void cp_wait() {
    asm volatile("cp.async.wait_group %0;\n" :: "n"(N));
}

__device__ __forceinline__ void ldsm_x4(u32 addr, u32& a0, u32& a1, u32& a2, u32& a3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(a0), "=r"(a1), "=r"(a2), "=r"(a3) : "r"(addr));
}
__device__ __forceinline__ void ldsm_x2(u32 addr, u32& a0, u32& a1) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(a0), "=r"(a1) : "r"(addr));
}

__device__ __forceinline__ void mma_k32(int* d, u32 a0, u32 a1, u32 a2, u32 a3, u32 b0,
                                        u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_k16(int* d, u32 a0, u32 a1, u32 b0) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, "
                 "{%4,%5}, {%6}, {%0,%1,%2,%3};\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a0), "r"(a1), "r"(b0));
}

// Half of the last unit requant's right shift drops (0 without one).
template <int RS>
__device__ __forceinline__ constexpr int round_half() { return RS > 0 ? 1 << (RS - 1) : 0; }

// round half to even of acc * 2**-rshift, clamped (plan.apply_requant), from t = acc +
// round_half<RS>() (the callers add it with the bias, in one addition): t >> RS rounds half up,
// and a tie (the low RS bits of t all 0) goes to the even neighbour by clearing bit 0.
// plan.safe_bias keeps acc + half inside int32.
template <int RS, int MINV, int MAXV>
__device__ __forceinline__ int requant(int t) {
    static_assert(MINV <= MAXV, "requant: an empty output range");
    int q;
    if constexpr (RS > 0) {
        q = t >> RS;
        if ((t & ((1 << RS) - 1)) == 0) q &= ~1;
    } else {
        t = min(max(t, MINV - 1), MAXV + 1);
        q = t << (-RS);
    }
    if constexpr (MINV == 0) return __vimin_s32_relu(q, MAXV);   // one VIMNMX.RELU on sm_90
    return min(max(q, MINV), MAXV);
}

__device__ __forceinline__ void cp_async4(u32 dst, const void* src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n"
                 :: "r"(dst), "l"(src), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ u32 lds16(u32 addr) {
    u32 v;
    asm volatile("ld.shared.u16 %0, [%1];\n" : "=r"(v) : "r"(addr));
    return v;
}

// ---- shared with net_tile.cu (design gen8): templates over a stage's constants ----------

// The integer reference's input quantiser (tinyicenet_io.fixedpoint.codes): round half to even
// of v * 2**-input_exp (exact in fp32), clamped to [QL, QH]; NaN gives 0.
template <int QL, int QH>
__device__ __forceinline__ int quantise_code(float v, float scale) {
    if (v != v) return 0;
    return __float2int_rn(fminf(fmaxf(v * scale, float(QL)), float(QH)));
}

// This lane's B fragments of one K step (KW = 32 or 16) for every n-tile, from the packed
// weights at wsm (tinyicenet.kernels.fragments.pack_conv: one KW / 4-byte word per lane).
template <int NT, int KW>
__device__ __forceinline__ void load_bt(u32 (&b)[NT][2], u32 wsm, int lane) {
    constexpr int WB = KW / 4;                      // weight bytes per lane per n-tile
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        if (KW == 32) {
            asm volatile("ld.shared.v2.u32 {%0,%1}, [%2];\n"
                         : "=r"(b[j][0]), "=r"(b[j][1]) : "r"(wsm + (j * 32 + lane) * WB));
        } else {
            asm volatile("ld.shared.u32 %0, [%1];\n"
                         : "=r"(b[j][0]) : "r"(wsm + (j * 32 + lane) * WB));
            b[j][1] = 0;
        }
    }
}

// The channel of accumulator column 8 j + 2 tq (its neighbour is + 1): fragments.store_channels.
template <bool WIDE_>
__device__ __forceinline__ int bias_channel(int j, int tq) {
    return WIDE_ ? (j >> 1) * 16 + 4 * tq + 2 * (j & 1) : j * 8 + 2 * tq;
}

// This lane's bias of accumulator columns 8 j + 2 tq (+ 1), each with requant's rounding
// offset (round_half<RS>) folded in.
template <int NT, bool WIDE_, int RS>
__device__ __forceinline__ void load_bias(int (&bias_r)[NT][2], const int* __restrict__ bias,
                                          int tq) {
#pragma unroll
    for (int j = 0; j < NT; ++j) {
        const int c = bias_channel<WIDE_>(j, tq);
        bias_r[j][0] = bias[c] + round_half<RS>();
        bias_r[j][1] = bias[c + 1] + round_half<RS>();
    }
}

// Every accumulator of M m-tiles x NT n-tiles at 0.
template <int M, int NT>
__device__ __forceinline__ void zero_acc(int (&acc)[M][NT][4]) {
#pragma unroll
    for (int i = 0; i < M; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0;
}

// This lane's channels of one pixel (accumulator row g + 8 half) with offset XOR, at px, the
// pixel's channel 0; the stored form of 0 where !keep. Narrow: 2 bytes per n-tile j, channels
// 8 j + 2 tq (+1). WIDE (the packed columns of fragments.store_channels): 4 bytes per n-tile
// pair (2q, 2q + 1), channels 16 q + 4 tq .. + 3.
template <int NT, int XOR, bool WIDE_>
__device__ __forceinline__ void store_channels(i8* px, const int (&v)[NT][4], int half, int tq,
                                               bool keep = true) {
    const int e = 2 * half, k = keep ? -1 : 0;
    if constexpr (WIDE_) {
        // the low bytes of four values in one word: three byte permutes (PRMT), no masks
#pragma unroll
        for (int q = 0; q < NT / 2; ++q)
            *reinterpret_cast<u32*>(px + 16 * q + 4 * tq) = __byte_perm(
                __byte_perm(u32((v[2 * q][e] & k) - XOR), u32((v[2 * q][e + 1] & k) - XOR),
                            0x0040),
                __byte_perm(u32((v[2 * q + 1][e] & k) - XOR),
                            u32((v[2 * q + 1][e + 1] & k) - XOR), 0x0040), 0x5410);
    } else {
#pragma unroll
        for (int j = 0; j < NT; ++j)
            *reinterpret_cast<unsigned short*>(px + 8 * j + 2 * tq) = (unsigned short)(
                (u32((v[j][e] & k) - XOR) & 0xff) | ((u32((v[j][e + 1] & k) - XOR) & 0xff) << 8));
    }
}

// The 1x1 head as m16n8k16 MMAs straight from the accumulator layout: for the n-tile pair
// (2p, 2p+1), lane (g, tq) holds columns 2tq, 2tq+1 of both n-tiles for pixels g and g+8, which
// is the A fragment of K = 16 with the head's rows permuted to those columns' channels
// (fragments.head_channels).
template <int NT, int NCLS_T_, int XOR>
__device__ __forceinline__ void head_mma(int (&h)[NCLS_T_][4], const int (&v)[NT][4],
                                         const u32* __restrict__ hfrag, int lane) {
#pragma unroll
    for (int ct = 0; ct < NCLS_T_; ++ct) h[ct][0] = h[ct][1] = h[ct][2] = h[ct][3] = 0;
#pragma unroll
    for (int p = 0; p < NT / 2; ++p) {
        u32 a[2];
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int e = 2 * half;
            a[half] = (u32(v[2 * p][e] - XOR) & 0xff)
                      | ((u32(v[2 * p][e + 1] - XOR) & 0xff) << 8)
                      | ((u32(v[2 * p + 1][e] - XOR) & 0xff) << 16)
                      | ((u32(v[2 * p + 1][e + 1] - XOR) & 0xff) << 24);
        }
#pragma unroll
        for (int ct = 0; ct < NCLS_T_; ++ct)
            mma_k16(h[ct], a[0], a[1], hfrag[(p * NCLS_T_ + ct) * 32 + lane]);
    }
}

// The K steps of one source of C channels (upsampled: UP) in the order
// tinyicenet.kernels.fragments.ksteps packs them: step(KW, tap, c0, wsm) for each, with
// KW = Width<32> or Width<16>, the step's first tap and channel and its packed weights (NT
// n-tiles); wsm moves past them. A K = 32 step's second half is the next 16 channels of the
// tap or, for a 16-channel same-resolution source, the tap one row down (taps (0, dx) +
// (1, dx), then (2, dx) alone); a 16-channel upsampled source takes one K = 16 step per tap.
template <int V> struct Width { static constexpr int value = V; };

template <int C, bool UP, int NT, class Step>
__device__ __forceinline__ void for_each_kstep(u32& wsm, Step&& step) {
    if constexpr (C == 16 && UP) {
#pragma unroll
        for (int tap = 0; tap < 9; ++tap) {
            step(Width<16>{}, tap, 0, wsm);
            wsm += NT * 32 * 4;
        }
    } else if constexpr (C == 16) {
#pragma unroll
        for (int dx = 0; dx < 3; ++dx) {
            step(Width<32>{}, dx, 0, wsm);
            wsm += NT * 32 * 8;
        }
#pragma unroll
        for (int dx = 0; dx < 3; ++dx) {
            step(Width<16>{}, 6 + dx, 0, wsm);
            wsm += NT * 32 * 4;
        }
    } else {
#pragma unroll
        for (int tap = 0; tap < 9; ++tap) {
#pragma unroll
            for (int c0 = 0; c0 < C; c0 += 32) {
                step(Width<32>{}, tap, c0, wsm);
                wsm += NT * 32 * 8;
            }
        }
    }
}

// Programmatic dependent launch (PTX ISA "griddepcontrol", sm_90): compiled with GDC, a kernel
// launched with the programmatic stream serialisation attribute (cuda_halo) may start while
// its predecessor on the stream still runs. It stages its weights, then waits for that
// predecessor's completion and memory flush before it reads or writes any activation, so
// the order of the data is that of plain launches; then it lets its own dependent start.
__device__ __forceinline__ void gdc_wait_then_release() {
#if defined(GDC) && GDC && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Grid-wide order between the stages of a fused kernel (all its programs are resident: the
// runner sizes the grid from the kernel's resources). sync[k] counts the programs done with
// stage k; the last program to leave resets every counter for the next launch.
__device__ __forceinline__ void grid_stage_done(unsigned* count) {
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();                    // this program's stores before its arrival
        atomicAdd(count, 1u);
        unsigned seen;
        do {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n"
                         : "=r"(seen) : "l"(count) : "memory");
        } while (seen < gridDim.x);
    }
    __syncthreads();
}
__device__ __forceinline__ void grid_exit(unsigned* sync, int waits) {
    if (threadIdx.x == 0 && atomicAdd(sync + waits, 1u) == gridDim.x - 1) {
        for (int k = 0; k <= waits; ++k) atomicExch(sync + k, 0u);
    }
}

// One stage's parameters (and arguments) in a kernel signature, suffixed by the stage. In a
// fused kernel one stage's out / pool is a later stage's up / sk: they alias despite
// __restrict__, which holds only because sources are read through cp.async (asm), after a
// grid-wide wait that orders every store before them.
#define STAGE_PARAMS(i)                                                                     \
    const i8* __restrict__ up##i, const i8* __restrict__ sk##i,                             \
    const i8* __restrict__ wfrag##i, const int* __restrict__ bias##i, i8* __restrict__ out##i, \
    i8* __restrict__ pool##i, const u32* __restrict__ hfrag##i,                             \
    const int* __restrict__ hbias##i, i8* __restrict__ logits##i, int H##i, int W##i,       \
    int tiles_x##i, int tiles_img##i, int tiles##i, float qscale##i
#define STAGE_ARGS(i)                                                                       \
    up##i, sk##i, wfrag##i, bias##i, out##i, pool##i, hfrag##i, hbias##i, logits##i, H##i,  \
    W##i, tiles_x##i, tiles_img##i, tiles##i, qscale##i

//@stage
#ifndef HEAD
#define HEAD 0
#endif
#ifndef POOL
#define POOL 0
#endif
#ifndef WRITE_OUT
#define WRITE_OUT (!HEAD)
#endif
#ifndef NCLS
#define NCLS 1
#define NCLS_T 1
#define H_RSHIFT 0
#define H_LO 0
#define H_HI 0
#define H_XOR 0
#endif


#ifndef STEM
#define STEM 0
#endif

#define NT (COUT / 8)                               // n-tiles of the conv
#define MT_PER_WARP ((TH * TW / 16) / WARPS)        // 16-pixel m-tiles per warp
#define UH (TH / 2 + 2)                             // low-resolution halo rows
#define UW (TW / 2 + 2)
#define SH (TH + 2)                                 // skip halo rows
#define SW (TW + 2)
#if STEM
#define UP_BYTES 0
#define SK_BYTES (SH * SW * 2 * 4)                  // the float input's two planes
#define W_BYTES (32 * COUT)                         // one im2col K = 32 step
#define Q_BYTES ((SH * SW * 2 + 127) / 128 * 128)   // the quantised halo, channel pairs
#else
#define UP_BYTES (UH * UW * CUP)
#define SK_BYTES (SH * SW * CSK)
#define W_BYTES (9 * (CUP + CSK) * COUT)
#define Q_BYTES 0
#endif
#define HALO_BYTES (((UP_BYTES + SK_BYTES) + 127) / 128 * 128)

static_assert((CUP == 16 || CUP % 32 == 0) && (CSK == 16 || CSK % 32 == 0) && COUT % 16 == 0,
              "channels: 16 or multiples of 32 (plan.pad_channels: powers of two >= 16)");
static_assert(TH % 2 == 0 && TW % 16 == 0, "tile: even rows, 16-pixel columns");
static_assert((TH * TW / 16) % WARPS == 0, "m-tiles must split evenly over the warps");
static_assert(MT_PER_WARP % (2 * (TW / 16)) == 0,
              "each warp holds whole pairs of tile rows (pooling, upsampled rows)");
static_assert(STEM ? CUP + CSK == 0 : CUP + CSK > 0, "a stem, or at least one source");
static_assert((W_BYTES + 127) / 128 * 128 + 2 * HALO_BYTES + Q_BYTES == SMEM_BYTES,
              "shared memory layout: weights, two halo buffers, the stem's quantised halo "
              "(fragments.smem_bytes)");

// Copy one source's halo, rows x cols pixels of C channels from padded pixel (py0, px0) of
// image n of a [N, hp, wp, C] buffer, into dst (zeros past the buffer's last row / column).
template <int C, int ROWS, int COLS>
__device__ __forceinline__ void copy_halo(i8* dst, const i8* __restrict__ src, int n, int py0,
                                          int px0, int hp, int wp) {
    if constexpr (C > 0) {
    constexpr int CH = C / 16, ROW = COLS * CH, TOTAL = ROWS * ROW;
    const i8* base = src + ((long(n) * hp + py0) * wp + px0) * C;
    const int rows_left = hp - py0, cols_left = wp - px0;
#pragma unroll
    for (int k = 0; k < (TOTAL + WARPS * 32 - 1) / (WARPS * 32); ++k) {
        const int i = threadIdx.x + k * WARPS * 32;
        if (TOTAL % (WARPS * 32) == 0 || i < TOTAL) {
            const int hy = i / ROW, hx = (i - hy * ROW) / CH;
            const bool ok = hy < rows_left && hx < cols_left;
            const i8* p = ok ? base + (hy * wp + hx) * C + (i % CH) * 16 : src;
            cp_async16(smem_u32(dst + i * 16), p, ok);
        }
    }
    }
}

#if STEM
// Copy tile `tile`'s halo of the float input x (NCHW, two channels, no border; passed as sk)
// into `halo` as two fp32 planes of SH x SW: image pixels (y0 - 1 + hy, x0 - 1 + hx), zeros
// outside the image (the integer reference pads the quantised input with 0).
__device__ __forceinline__ void load_halo(i8* halo, const i8* __restrict__ up,
                                          const i8* __restrict__ sk, int tile, int H, int W,
                                          int tiles_x, int tiles_img) {
    const float* x = reinterpret_cast<const float*>(sk);
    const int n = tile / tiles_img, r = tile - n * tiles_img;
    const int y0 = (r / tiles_x) * TH - 1, x0 = (r % tiles_x) * TW - 1;
    constexpr int PIX = SH * SW;
#pragma unroll
    for (int k = 0; k < (2 * PIX + WARPS * 32 - 1) / (WARPS * 32); ++k) {
        const int i = threadIdx.x + k * WARPS * 32;
        if ((2 * PIX) % (WARPS * 32) == 0 || i < 2 * PIX) {
            const int c = i >= PIX, j = i - c * PIX;
            const int y = y0 + j / SW, xx = x0 + j % SW;
            const bool ok = unsigned(y) < unsigned(H) && unsigned(xx) < unsigned(W);
            const float* p = ok ? x + ((long(n) * 2 + c) * H + y) * W + xx : x;
            cp_async4(smem_u32(halo + i * 4), p, ok);
        }
    }
    cp_commit();
}

// The fp32 halo -> one 2-byte channel pair per pixel (q), each pixel quantised once.
__device__ __forceinline__ void quantise_halo(i8* q, const i8* raw, float scale) {
    const float* f = reinterpret_cast<const float*>(raw);
    constexpr int PIX = SH * SW;
    for (int i = threadIdx.x; i < PIX; i += WARPS * 32) {
        const u32 v = (u32(quantise_code<QLO, QHI>(f[i], scale)) & 0xff)
                      | ((u32(quantise_code<QLO, QHI>(f[PIX + i], scale)) & 0xff) << 8);
        reinterpret_cast<unsigned short*>(q)[i] = (unsigned short)v;
    }
}

// The im2col K = 32 step of the first conv: A[m, 2 tap + c] = channel c of halo pixel
// (row + dy, column + dx). Lane (g, tq) holds bytes 4 tq .. 4 tq + 3 (taps 2 tq, 2 tq + 1) and
// 16 + 4 tq .. (tap 8 for tq = 0; past K = 18 the weights are zero, so those bytes are free).
__device__ __forceinline__ void stem_step(int (&acc)[MT_PER_WARP][NT][4], u32 q, u32 wsm,
                                          int warp, int lane) {
    u32 b[NT][2];
    load_bt<NT, 32>(b, wsm, lane);
    const int g = lane >> 2, t0 = 2 * (lane & 3), t1 = t0 + 1;
    const u32 o0 = ((t0 / 3) * SW + t0 % 3) * 2, o1 = ((t1 / 3) * SW + t1 % 3) * 2;
    constexpr u32 O8 = (2 * SW + 2) * 2;
    const int row0 = (warp * MT_PER_WARP) / (TW / 16);
    const u32 base = q + (row0 * SW + g) * 2;
#pragma unroll
    for (int t = 0; t < MT_PER_WARP; ++t) {
        const u32 p = base + ((t / (TW / 16)) * SW + (t % (TW / 16)) * 16) * 2;
        const u32 a0 = lds16(p + o0) | (lds16(p + o1) << 16);
        const u32 a1 = lds16(p + 16 + o0) | (lds16(p + 16 + o1) << 16);
        const u32 a2 = lds16(p + O8), a3 = lds16(p + 16 + O8);
#pragma unroll
        for (int j = 0; j < NT; ++j) mma_k32(acc[t][j], a0, a1, a2, a3, b[j][0], b[j][1]);
    }
}
#else
// Copy tile `tile`'s halo of both sources into `halo` (one cp.async group).
__device__ __forceinline__ void load_halo(i8* halo, const i8* __restrict__ up,
                                          const i8* __restrict__ sk, int tile, int H, int W,
                                          int tiles_x, int tiles_img) {
    const int n = tile / tiles_img, r = tile - n * tiles_img;
    const int y0 = (r / tiles_x) * TH, x0 = (r % tiles_x) * TW;   // unpadded origin
    // low-resolution rows (y0 - 1) >> 1 .. : padded rows y0 / 2 .., columns x0 / 2 ..
    copy_halo<CUP, UH, UW>(halo, up, n, y0 >> 1, x0 >> 1, (H >> 1) + 2, (W >> 1) + 2);
    copy_halo<CSK, SH, SW>(halo + UP_BYTES, sk, n, y0, x0, H + 2, W + 2);
    cp_commit();
}

#endif

// One k-step: the A fragments of every m-tile of this warp times the weight fragments at wsm
// (NT fragments of KW x 8). K rows 0..15 are channels ch.. of tap `tap`; rows 16..31 (KW = 32)
// come from the same lane base plus the source's pair step (see lane_bases), so every
// address is a per-lane register plus a compile-time offset.
template <bool IS_UP, int C, int KW>
__device__ __forceinline__ void kstep(int (&acc)[MT_PER_WARP][NT][4], const u32 (&base)[3],
                                      u32 wsm, int tap, int ch, int lane) {
    u32 b[NT][2];
    load_bt<NT, KW>(b, wsm, lane);
    const int dy = tap / 3, dx = tap % 3;
#pragma unroll
    for (int t = 0; t < MT_PER_WARP; ++t) {
        const int rt = t / (TW / 16), cb = (t % (TW / 16)) * 16;   // row, column in the warp
        u32 addr;
        if (IS_UP) {   // upsampled tap: low-resolution halo row ((ry + dy - 1) >> 1) + 1
            addr = base[dx] + ((((rt + dy - 1) >> 1) + 1) * UW + cb / 2) * C + ch;
        } else {
            addr = base[0] + ((rt + dy) * SW + cb + dx) * C + ch;
        }
        u32 a0, a1, a2 = 0, a3 = 0;
        if (KW == 32) {
            ldsm_x4(addr, a0, a1, a2, a3);
        } else {
            ldsm_x2(addr, a0, a1);
        }
#pragma unroll
        for (int j = 0; j < NT; ++j) {
            if (KW == 32) mma_k32(acc[t][j], a0, a1, a2, a3, b[j][0], b[j][1]);
            else mma_k16(acc[t][j], a0, a1, b[j][0]);
        }
    }
}

// The lane's ldmatrix row addresses in a halo buffer, for its warp's first tile row (the warp's
// rows start at an even tile row: MT_PER_WARP holds whole row pairs). Lane l gives row
// m = l % 8 + 8 ((l / 8) % 2) of the 16-pixel m-tile, for K rows 16 (l / 16).. : the next 16
// channels of the tap, or for a 16-channel same-resolution source the tap one row down (dy + 1).
// Upsampled sources: one base per dx, low-resolution halo column ((m + dx - 1) >> 1) + 1.
template <bool IS_UP, int C>
__device__ __forceinline__ void lane_bases(u32 (&base)[3], u32 src, int warp, int lane) {
    const int m = (lane & 7) + 8 * ((lane >> 3) & 1), h = lane >> 4;
    const int row0 = (warp * MT_PER_WARP) / (TW / 16);
    if (IS_UP) {
#pragma unroll
        for (int dx = 0; dx < 3; ++dx)
            base[dx] = src + ((row0 / 2) * UW + ((m + dx - 1) >> 1) + 1) * C + 16 * h;
    } else {
        constexpr int PAIR = C == 16 ? SW * C : 16;
        base[0] = base[1] = base[2] = src + (row0 * SW + m) * C + PAIR * h;
    }
}

// All k-steps of one source (for_each_kstep).
template <bool IS_UP, int C>
__device__ __forceinline__ void source_steps(int (&acc)[MT_PER_WARP][NT][4], u32 src,
                                             u32& wsm, int warp, int lane) {
    if constexpr (C > 0) {
        u32 base[3];
        lane_bases<IS_UP, C>(base, src, warp, lane);
        for_each_kstep<C, IS_UP, NT>(wsm, [&](auto kw, int tap, int c0, u32 w) {
            kstep<IS_UP, C, decltype(kw)::value>(acc, base, w, tap, c0, lane);
        });
    }
}

// This lane's channels of one pixel (accumulator row g + 8 half) at px: store_channels.
__device__ __forceinline__ void store_pixel(i8* px, const int (&v)[NT][4], int half, int tq) {
    store_channels<NT, OUT_XOR, bool(WIDE)>(px, v, half, tq);
}

// Every tile of this stage handled by this program (tiles blockIdx.x, + gridDim.x, ...).
__device__ __forceinline__ void conv_tiles(STAGE_PARAMS(), i8* smem) {
    if (int(blockIdx.x) >= tiles) return;   // (a fused kernel has programs to spare)
    i8* wsh = smem;                                  // packed weights, for every tile
    i8* halo0 = smem + (W_BYTES + 127) / 128 * 128;  // two halo buffers (prefetch)
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, tq = lane & 3;          // mma groupID, thread in group

    for (int i = threadIdx.x; i < W_BYTES / 16; i += WARPS * 32)
        cp_async16(smem_u32(wsh + i * 16), wfrag + i * 16, true);
    int bias_r[NT][2];
    load_bias<NT, bool(WIDE), RSHIFT>(bias_r, bias, tq);
    gdc_wait_then_release();   // (weights and bias are constants: read before the wait)
    int tile = blockIdx.x;
    load_halo(halo0, up, sk, tile, H, W, tiles_x, tiles_img);

    for (int it = 0; tile < tiles; ++it, tile += gridDim.x) {
        const int next = tile + gridDim.x;
        if (next < tiles) {
            load_halo(halo0 + ((it + 1) & 1) * HALO_BYTES, up, sk, next, H, W, tiles_x, tiles_img);
            cp_wait<1>();
        } else {
            cp_wait<0>();
        }
        __syncthreads();

        int acc[MT_PER_WARP][NT][4];
        zero_acc(acc);
#if STEM
        i8* qh = halo0 + 2 * HALO_BYTES;
        quantise_halo(qh, halo0 + (it & 1) * HALO_BYTES, qscale);
        __syncthreads();
        stem_step(acc, smem_u32(qh), smem_u32(wsh), warp, lane);
#else
        const u32 hs = smem_u32(halo0 + (it & 1) * HALO_BYTES);
        u32 wsm = smem_u32(wsh);
        source_steps<true, CUP>(acc, hs, wsm, warp, lane);
        source_steps<false, CSK>(acc, hs + UP_BYTES, wsm, warp, lane);
#endif

        // epilogue: pixel rows g and g + 8 of each m-tile, accumulator columns j * 8 + 2 tq (+1)
        const int n = tile / tiles_img, r = tile - n * tiles_img;
        const int y0 = (r / tiles_x) * TH, x0 = (r % tiles_x) * TW;
#pragma unroll
        for (int t = 0; t < MT_PER_WARP; ++t)
#pragma unroll
            for (int j = 0; j < NT; ++j)
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    acc[t][j][e] = requant<RSHIFT, LO, HI>(acc[t][j][e] + bias_r[j][e & 1]);
        if constexpr (POOL) {
            // 2 x 2 max: rows ry, ry + 1 are m-tiles t, t + TW/16 of this warp; pixels x, x + 1
            // are lanes 4 apart. Even groups store pooled pixel (y / 2, x / 2).
            const int Hp = H >> 1, Wp = W >> 1;
#pragma unroll
            for (int t = 0; t < MT_PER_WARP; ++t) {
                if ((t / (TW / 16)) % 2) continue;
                const int mt = warp * MT_PER_WARP + t;
                const int y = y0 + mt / (TW / 16), xb = x0 + (mt % (TW / 16)) * 16;
                int m[NT][4];
#pragma unroll
                for (int j = 0; j < NT; ++j)
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int v = max(acc[t][j][e], acc[t + TW / 16][j][e]);
                        m[j][e] = max(v, __shfl_xor_sync(0xffffffffu, v, 4));
                    }
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const int x = xb + g + 8 * half;
                    if ((g & 1) == 0 && y < H && x < W) {
                        store_pixel(pool + ((long(n) * (Hp + 2) + (y >> 1) + 1) * (Wp + 2)
                                            + (x >> 1) + 1) * COUT, m, half, tq);
                    }
                }
            }
        }
#pragma unroll
        for (int t = 0; t < MT_PER_WARP; ++t) {
            const int mt = warp * MT_PER_WARP + t;
            const int y = y0 + mt / (TW / 16), xb = x0 + (mt % (TW / 16)) * 16;
            const int (&v)[NT][4] = acc[t];
            if constexpr (WRITE_OUT) {
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    const int x = xb + g + 8 * half;
                    if (y < H && x < W) {
                        store_pixel(out + ((long(n) * (H + 2) + y + 1) * (W + 2) + x + 1) * COUT,
                                    v, half, tq);
                    }
                }
            }
            if constexpr (HEAD) {
                int h[NCLS_T][4];   // the 1x1 head: head_mma
                head_mma<NT, NCLS_T, H_XOR>(h, v, hfrag, lane);
#pragma unroll
                for (int ct = 0; ct < NCLS_T; ++ct) {
#pragma unroll
                    for (int e = 0; e < 4; ++e) {
                        const int cls = ct * 8 + 2 * tq + (e & 1), x = xb + g + 8 * (e >> 1);
                        if (cls < NCLS && y < H && x < W) {
                            const int o = requant<H_RSHIFT, H_LO, H_HI>(
                                h[ct][e] + (hbias[cls] + round_half<H_RSHIFT>()));
                            logits[((long(n) * NCLS + cls) * H + y) * W + x] = (i8)o;
                        }
                    }
                }
            }
        }
        __syncthreads();   // the buffer just read is the one the next prefetch overwrites
    }
}

//@kernel
extern "C" __global__ void __launch_bounds__(WARPS * 32) halo_conv(STAGE_PARAMS()) {
    extern __shared__ __align__(128) i8 smem[];
    conv_tiles(STAGE_ARGS(), smem);
}
