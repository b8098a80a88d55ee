// C simulation of the whole IP (shell + network) as a shared library, built with plain g++ by
// `build.py csim`. The emulated accelerator (tinyicenet_zcu102.emulate.CSimKernel) feeds it the
// bytes the DMA would send and gets back the bytes the DMA would receive. Not synthesised.
#include <cstring>

#include "tinyicenet_axis.h"

extern "C" {

// Word sizes in bytes and pixels per tile, so the caller can check its io spec against the IP.
int tinyicenet_axis_in_word_bytes() { return tinyicenet_shell::IN_WORD_BITS / 8; }
int tinyicenet_axis_out_word_bytes() { return tinyicenet_shell::OUT_WORD_BITS / 8; }
int tinyicenet_axis_tile_pixels() { return tinyicenet_shell::TILE_PIXELS; }
int tinyicenet_axis_in_bits() { return tinyicenet_shell::IN_BITS; }
int tinyicenet_axis_out_bits() { return tinyicenet_shell::OUT_BITS; }
int tinyicenet_axis_in_values() { return tinyicenet_shell::IN_VALUES; }
int tinyicenet_axis_out_values() { return tinyicenet_shell::OUT_VALUES; }

// Run n_tiles tiles: in = n_tiles * pixels input words, out = n_tiles * pixels output words.
// Returns 0, or -1 when the IP produced a wrong number of words, -2 on a misplaced TLAST.
int tinyicenet_axis_run(const unsigned char *in, unsigned char *out, int n_tiles) {
    const unsigned in_bytes = tinyicenet_shell::IN_WORD_BITS / 8;
    const unsigned out_bytes = tinyicenet_shell::OUT_WORD_BITS / 8;
    const unsigned pixels = tinyicenet_shell::TILE_PIXELS;
    for (int t = 0; t < n_tiles; t++) {
        hls::stream<axis_in_t> in_stream("dma_mm2s");
        hls::stream<axis_out_t> out_stream("dma_s2mm");
        for (unsigned p = 0; p < pixels; p++) {
            axis_in_t word;
            const unsigned char *src = in + ((size_t)t * pixels + p) * in_bytes;
            for (unsigned b = 0; b < in_bytes; b++)
                word.data.range(8 * b + 7, 8 * b) = src[b];
            word.keep = -1;
            word.strb = -1;
            word.last = (p == pixels - 1) ? 1 : 0; // MM2S raises TLAST at the end of a transfer
            in_stream.write(word);
        }
        tinyicenet_axis(in_stream, out_stream);
        if (!in_stream.empty() || out_stream.size() != pixels)
            return -1;
        for (unsigned p = 0; p < pixels; p++) {
            axis_out_t word = out_stream.read();
            if ((word.last == 1) != (p == pixels - 1))
                return -2;
            unsigned char *dst = out + ((size_t)t * pixels + p) * out_bytes;
            for (unsigned b = 0; b < out_bytes; b++)
                dst[b] = (unsigned char)word.data.range(8 * b + 7, 8 * b).to_uint();
        }
    }
    return 0;
}

} // extern "C"
