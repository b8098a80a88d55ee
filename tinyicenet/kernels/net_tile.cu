// The whole integer TinyIceNet per output tile, in one launch (design "gen8").
//
// One program computes TH x TW pixels of the network's logits. It quantises the float input
// over the tile's receptive field into shared memory and runs every conv of the network
// there: each stage over the region its consumers read (the tile grown by one pixel per 3x3
// conv, halved per upsample, doubled per pool), so the halos are recomputed per tile and no
// activation leaves the SM. Between the stages a __syncthreads() stands where the per-stage
// designs (gen6 / gen7) have a kernel boundary and a round trip through L2.
//
// Regions, buffers and their shared-memory offsets come from tinyicenet.kernels.net_tile
// (Python), which emits one struct of constants per phase and the kernel body after this
// file; the helpers (cp.async, ldmatrix, mma.sync, requant, store_channels, head_mma) are
// halo_conv.cu's, above it. Buffers hold stored int8 (value - offset), pixel-major with all
// channels of a pixel together, and pixels outside the image hold the stored form of 0: the
// zero padding the next conv sees. An upsampled source is written out (each low-resolution
// output pixel into its 2 x 2 pixels) by the stage that produces it, so every conv reads its
// sources at plain 3 x 3 offsets: an m-tile is 16 consecutive pixels of the output region in
// raster order, and each lane's ldmatrix row address is its pixel's (ldmatrix takes one
// address per row, so rows need not lie in one image row). The K steps and the weights'
// B fragments are the halo convs' (fragments.ksteps, fragments.pack_conv).

// Bytes from one pixel to the next in a buffer come with each phase's constants (PB, UPB, SPB,
// OPB: net_tile.pixel_bytes, which pads 32+-channel pixels against bank conflicts).

// The tile: image n, its origin (y0, x0) at full resolution, the image's size.
struct Tile {
    int n, y0, x0, h, w;
};

// True when tile-relative pixel (y, x) at resolution level `level` lies in the image.
__device__ __forceinline__ bool in_image(const Tile& t, int level, int y, int x) {
    return unsigned((t.y0 >> level) + y) < unsigned(t.h >> level)
           && unsigned((t.x0 >> level) + x) < unsigned(t.w >> level);
}

// A profile (kernel_source with clocks): thread 0 writes the global timer (ns) as stamp k.
__device__ __forceinline__ void stamp(unsigned long long* clocks, int k, int stamps) {
    if (threadIdx.x == 0) {
        unsigned long long ns;
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
        clocks[blockIdx.x * stamps + k] = ns;
    }
}

// Copy BYTES of packed weights into shared memory as one cp.async group of this thread.
template <int BYTES>
__device__ __forceinline__ void stage_weights(i8* dst, const i8* __restrict__ src) {
    for (int i = threadIdx.x; i < BYTES / 16; i += THREADS)
        cp_async16(smem_u32(dst + i * 16), src + i * 16, true);
    cp_commit();
}

// The quantised input over region Q (origin OY, OX, ROWS x COLS at full resolution): one
// 2-byte channel pair per pixel, code 0 outside the image (the reference pads with 0).
template <class Q>
__device__ __forceinline__ void load_input(i8* q, const float* __restrict__ x, const Tile& t,
                                           float scale) {
    constexpr int PIX = Q::ROWS * Q::COLS, IT = (PIX + THREADS - 1) / THREADS;
    const long plane = long(t.h) * t.w;
    const float* img = x + long(t.n) * 2 * plane;
    float v[IT][2];
#pragma unroll
    for (int k = 0; k < IT; ++k) {   // every load first: one latency, not IT of them
        const int i = threadIdx.x + k * THREADS, r = i / Q::COLS, c = i - r * Q::COLS;
        v[k][0] = v[k][1] = 0.0f;    // quantises to code 0 (lower() checks 0 is in range)
        if (i < PIX && in_image(t, 0, Q::OY + r, Q::OX + c)) {
            const float* p = img + long(t.y0 + Q::OY + r) * t.w + t.x0 + Q::OX + c;
            v[k][0] = __ldg(p);
            v[k][1] = __ldg(p + plane);
        }
    }
#pragma unroll
    for (int k = 0; k < IT; ++k) {
        const int i = threadIdx.x + k * THREADS;
        if (i < PIX)
            reinterpret_cast<unsigned short*>(q)[i] = (unsigned short)(
                (u32(quantise_code<Q::LO, Q::HI>(v[k][0], scale)) & 0xff)
                | ((u32(quantise_code<Q::LO, Q::HI>(v[k][1], scale)) & 0xff) << 8));
    }
}

// The 2 x 2 max-pool of a stored buffer into region P (ROWS x COLS at level LEVEL, origin
// OY, OX): its pixel (r, c) is the max of source pixels (2r + SOY, 2c + SOX) .. + 1 of a
// buffer SPITCH pixels wide, byte by byte (stored values keep the order of the values).
// Outside the image: the stored form of 0.
template <class P>
__device__ __forceinline__ void pool_phase(const i8* src, i8* dst, const Tile& t) {
    constexpr int WORDS = P::C / 4, PW = P::PB / 4, ROW = P::SPITCH * PW;
    const u32 zero = 0x01010101u * (u32(-P::XOR) & 0xff);
    const u32* s = reinterpret_cast<const u32*>(src);
    for (int i = threadIdx.x; i < P::ROWS * P::COLS * WORDS; i += THREADS) {
        const int p = i / WORDS, k = i - p * WORDS, r = p / P::COLS, c = p - r * P::COLS;
        u32 o = zero;
        if (in_image(t, P::LEVEL, P::OY + r, P::OX + c)) {
            const u32* a = s + ((2 * r + P::SOY) * P::SPITCH + 2 * c + P::SOX) * PW + k;
            o = __vmaxs4(__vmaxs4(a[0], a[PW]), __vmaxs4(a[ROW], a[ROW + PW]));
        }
        reinterpret_cast<u32*>(dst)[p * PW + k] = o;
    }
}

// One K step (KW = 32 or 16) of up to MB m-tiles (live of them) whose lane row addresses are
// base[i], moved by off bytes (the tap and channel slice), times the weights at wsm.
template <int KW, int NT, int MB>
__device__ __forceinline__ void region_step(int (&acc)[MB][NT][4], const u32 (&base)[MB],
                                            u32 wsm, int off, int live, int lane) {
    u32 b[NT][2];
    load_bt<NT, KW>(b, wsm, lane);
#pragma unroll
    for (int i = 0; i < MB; ++i) {
        if (i < live) {
            u32 a0, a1, a2 = 0, a3 = 0;
            if (KW == 32) ldsm_x4(base[i] + off, a0, a1, a2, a3);
            else ldsm_x2(base[i] + off, a0, a1);
#pragma unroll
            for (int j = 0; j < NT; ++j) {
                if (KW == 32) mma_k32(acc[i][j], a0, a1, a2, a3, b[j][0], b[j][1]);
                else mma_k16(acc[i][j], a0, a1, b[j][0]);
            }
        }
    }
}

// Lane row address of each m-tile of the group at t0 in a source view (the pixel of output
// (0, 0)'s tap (0, 0)) PITCH pixels wide with C channels, PB bytes per pixel: pixel
// 16 (t0 + i) + m of the region (the last one past its end), K rows 16 h .. from the next 16
// channels or, for a 16-channel source read in tap pairs, the next row (fragments.ksteps).
template <int C, int PITCH, int PB, bool UP, int COLS, int NPIX, int MB>
__device__ __forceinline__ void region_bases(u32 (&base)[MB], u32 view, int t0, int lane) {
    const int m = (lane & 7) + 8 * ((lane >> 3) & 1), h = lane >> 4;
    constexpr int PAIR = C == 16 ? (UP ? 0 : PITCH * PB) : 16;
#pragma unroll
    for (int i = 0; i < MB; ++i) {
        const int p = min(16 * (t0 + i) + m, NPIX - 1), r = p / COLS, c = p - r * COLS;
        base[i] = view + (r * PITCH + c) * PB + PAIR * h;
    }
}

// All K steps of one source (for_each_kstep): tap (dy, dx) moves the lane rows by
// (dy * PITCH + dx) pixels, a channel slice by its bytes.
template <int C, int PITCH, int PB, bool UP, int NT, int MB>
__device__ __forceinline__ void region_source(int (&acc)[MB][NT][4], const u32 (&base)[MB],
                                              u32& wsm, int live, int lane) {
    if constexpr (C > 0) {
        for_each_kstep<C, UP, NT>(wsm, [&](auto kw, int tap, int c0, u32 w) {
            region_step<decltype(kw)::value>(acc, base, w,
                                             ((tap / 3) * PITCH + tap % 3) * PB + c0, live,
                                             lane);
        });
    }
}

enum { EPI_STORE = 0, EPI_UP = 1, EPI_HEAD = 2 };

// Bias, requantisation and the output of the live m-tiles of a group, by S::EPI: STORE into
// the stage's own buffer (its region, COLS wide), UP into the consumer's upsampled buffer
// (UROWS x UCOLS; output pixel (r, c) fills (2r + UOY, 2c + UOX) .. + 1), HEAD: the 1x1 head,
// int8 logits NCHW in global memory. Pixels outside the image store the stored form of 0.
template <class S>
__device__ __forceinline__ void finish(int (&acc)[S::MB][S::NT][4], int t0, int live,
                                       const int (&bias_r)[S::NT][2], i8* dst,
                                       const u32* __restrict__ hfrag,
                                       const int* __restrict__ hbias, i8* __restrict__ logits,
                                       const Tile& t, int lane) {
    constexpr int NT = S::NT;
    const int g = lane >> 2, tq = lane & 3;
#pragma unroll
    for (int i = 0; i < S::MB; ++i) {
        if (i >= live) continue;
        int v[NT][4];
#pragma unroll
        for (int j = 0; j < NT; ++j)
#pragma unroll
            for (int e = 0; e < 4; ++e)
                v[j][e] = requant<S::RSHIFT, S::LO, S::HI>(acc[i][j][e] + bias_r[j][e & 1]);
        const int p0 = 16 * (t0 + i) + g;
        if constexpr (S::EPI == EPI_HEAD) {
            int h[S::NCLS_T][4];
            head_mma<NT, S::NCLS_T, S::H_XOR>(h, v, hfrag, lane);
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int p = p0 + 8 * (e >> 1), r = p / S::COLS, c = p - r * S::COLS;
                if (p >= S::NPIX || !in_image(t, 0, S::OY + r, S::OX + c)) continue;
                const int y = t.y0 + S::OY + r, x = t.x0 + S::OX + c;
#pragma unroll
                for (int ct = 0; ct < S::NCLS_T; ++ct) {
                    const int cls = ct * 8 + 2 * tq + (e & 1);
                    if (cls < S::NCLS) {
                        const int o = requant<S::H_RSHIFT, S::H_LO, S::H_HI>(
                            h[ct][e] + (hbias[cls] + round_half<S::H_RSHIFT>()));
                        logits[((long(t.n) * S::NCLS + cls) * t.h + y) * t.w + x] = (i8)o;
                    }
                }
            }
        } else {
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const int p = p0 + 8 * half, r = p / S::COLS, c = p - r * S::COLS;
                if (p >= S::NPIX) continue;
                const bool keep = in_image(t, S::LEVEL, S::OY + r, S::OX + c);
                if constexpr (S::EPI == EPI_STORE) {
                    store_channels<NT, S::OUT_XOR, S::WIDE>(dst + p * S::OPB, v,
                                                            half, tq, keep);
                } else {
#pragma unroll
                    for (int k = 0; k < 4; ++k) {
                        const int rr = 2 * r + (k >> 1) + S::UOY, cc = 2 * c + (k & 1) + S::UOX;
                        if (unsigned(rr) < unsigned(S::UROWS) && unsigned(cc) < unsigned(S::UCOLS))
                            store_channels<NT, S::OUT_XOR, S::WIDE>(
                                dst + (rr * S::UCOLS + cc) * S::OPB, v, half,
                                tq, keep);
                    }
                }
            }
        }
    }
}

// A 3x3 conv over region S (NPIX pixels, COLS wide) from up to two source views in shared
// memory (up: an upsampled source written out at this resolution, sk: a same-resolution one),
// weights staged at wsm. Warp w takes the m-tile groups w, w + WARPS, ... of MB m-tiles.
template <class S>
__device__ __forceinline__ void conv_phase(u32 up, u32 sk, u32 wsm0,
                                           const int* __restrict__ bias, i8* dst,
                                           const u32* __restrict__ hfrag,
                                           const int* __restrict__ hbias,
                                           i8* __restrict__ logits, const Tile& t) {
    constexpr int MT = (S::NPIX + 15) / 16, NT = S::NT, MB = S::MB;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int bias_r[NT][2];
    load_bias<NT, S::WIDE, S::RSHIFT>(bias_r, bias, lane & 3);
    for (int t0 = warp * MB; t0 < MT; t0 += WARPS * MB) {
        const int live = min(MB, MT - t0);
        int acc[MB][NT][4];
        zero_acc(acc);
        u32 wsm = wsm0;
        if constexpr (S::CUP > 0) {
            u32 base[MB];
            region_bases<S::CUP, S::UPITCH, S::UPB, true, S::COLS, S::NPIX, MB>(base, up, t0,
                                                                                 lane);
            region_source<S::CUP, S::UPITCH, S::UPB, true, NT, MB>(acc, base, wsm, live, lane);
        }
        if constexpr (S::CSK > 0) {
            u32 base[MB];
            region_bases<S::CSK, S::SPITCH, S::SPB, false, S::COLS, S::NPIX, MB>(base, sk, t0,
                                                                                  lane);
            region_source<S::CSK, S::SPITCH, S::SPB, false, NT, MB>(acc, base, wsm, live, lane);
        }
        finish<S>(acc, t0, live, bias_r, dst, hfrag, hbias, logits, t, lane);
    }
}

// The first conv over region S from the quantised input q (QPITCH pixels wide, the region
// grown by one): gen2's im2col K = 32 step (k = 2 tap + channel; rows 18.. have zero
// weights), its A bytes from 16-bit loads at each lane's two pixels (rows g, g + 8).
template <class S>
__device__ __forceinline__ void stem_phase(u32 q, u32 wsm, const int* __restrict__ bias,
                                           i8* dst, const Tile& t) {
    constexpr int MT = (S::NPIX + 15) / 16, NT = S::NT, MB = S::MB;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2;
    int bias_r[NT][2];
    load_bias<NT, S::WIDE, S::RSHIFT>(bias_r, bias, lane & 3);
    u32 b[NT][2];
    load_bt<NT, 32>(b, wsm, lane);
    const int k0 = 2 * (lane & 3), k1 = k0 + 1;
    const u32 o0 = ((k0 / 3) * S::QPITCH + k0 % 3) * 2, o1 = ((k1 / 3) * S::QPITCH + k1 % 3) * 2;
    constexpr u32 O8 = (2 * S::QPITCH + 2) * 2;
    for (int t0 = warp * MB; t0 < MT; t0 += WARPS * MB) {
        const int live = min(MB, MT - t0);
        int acc[MB][NT][4];
        zero_acc(acc);
#pragma unroll
        for (int i = 0; i < MB; ++i) {
            if (i >= live) continue;
            u32 px[2];
#pragma unroll
            for (int k = 0; k < 2; ++k) {
                const int p = min(16 * (t0 + i) + g + 8 * k, S::NPIX - 1);
                const int r = p / S::COLS, c = p - r * S::COLS;
                px[k] = q + (r * S::QPITCH + c) * 2;
            }
            const u32 a0 = lds16(px[0] + o0) | (lds16(px[0] + o1) << 16);
            const u32 a1 = lds16(px[1] + o0) | (lds16(px[1] + o1) << 16);
            const u32 a2 = lds16(px[0] + O8), a3 = lds16(px[1] + O8);
#pragma unroll
            for (int j = 0; j < NT; ++j) mma_k32(acc[i][j], a0, a1, a2, a3, b[j][0], b[j][1]);
        }
        finish<S>(acc, t0, live, bias_r, dst, nullptr, nullptr, nullptr, t, lane);
    }
}
