// AXI-stream shell around the hls4ml network (io_stream) for the ZCU102 AXI DMA.
//
// Word layout (boards/common/io_spec.md; the PYNQ driver packs the same way):
//   one AXI-stream word per pixel, pixels row-major inside a tile, value c of the pixel in
//   lane c (8-bit lanes for <= 8-bit values, 16-bit lanes otherwise), two's complement,
//   lane 0 = TDATA[7:0], unused lanes 0; TDATA width = next AXI DMA width (8..1024 bits).
//   Input: HH, HV int8 -> 16-bit words. Output: 6 int8 logits -> 64-bit words.
//   TLAST is raised on the last output word of each tile, so one S2MM transfer = one tile.
//
// The network comes from the generated header tinyicenet_net.h (boards/zcu102/build.py writes
// it): it includes the hls4ml project's top header and defines TINYICENET_NET_TOP (the
// network function) and TINYICENET_TILE_PIXELS (tile * tile).
#ifndef TINYICENET_AXIS_H_
#define TINYICENET_AXIS_H_

#include "ap_int.h"
#include "hls_stream.h"
#include "tinyicenet_net.h"

#if defined(__VITIS_HLS__)
// Vitis HLS infers TKEEP/TSTRB/TLAST only from its own AXI-stream types.
#include "ap_axi_sdata.h"
template <int W> struct tinyicenet_axis_word { typedef ap_axiu<W, 0, 0, 0> type; };
#else
// Vivado HLS <= 2020.1 infers the side channels from these member names; plain g++ (the C
// simulation in tests) needs no Xilinx header.
template <int W> struct tinyicenet_axis_bits {
    ap_uint<W> data;
    ap_uint<W / 8> keep;
    ap_uint<W / 8> strb;
    ap_uint<1> last;
};
template <int W> struct tinyicenet_axis_word { typedef tinyicenet_axis_bits<W> type; };
#endif

namespace tinyicenet_shell {

constexpr unsigned lane_bits(unsigned bits) { return bits <= 8 ? 8 : 16; }
// AXI DMA stream widths are powers of two from 8 to 1024 bits.
constexpr unsigned stream_bits(unsigned need, unsigned width = 8) {
    return width >= need ? width : stream_bits(need, 2 * width);
}

typedef input_t::value_type in_value_t;
typedef result_t::value_type out_value_t;

static const unsigned IN_VALUES = input_t::size;
static const unsigned OUT_VALUES = result_t::size;
static const unsigned IN_BITS = in_value_t::width;
static const unsigned OUT_BITS = out_value_t::width;
static const unsigned IN_LANE = lane_bits(IN_BITS);
static const unsigned OUT_LANE = lane_bits(OUT_BITS);
static const unsigned IN_WORD_BITS = stream_bits(IN_VALUES * IN_LANE);
static const unsigned OUT_WORD_BITS = stream_bits(OUT_VALUES * OUT_LANE);
static const unsigned TILE_PIXELS = TINYICENET_TILE_PIXELS;

} // namespace tinyicenet_shell

typedef tinyicenet_axis_word<tinyicenet_shell::IN_WORD_BITS>::type axis_in_t;
typedef tinyicenet_axis_word<tinyicenet_shell::OUT_WORD_BITS>::type axis_out_t;

// The IP's top function: free-running (ap_ctrl_none), one tile per TLAST-delimited transfer.
void tinyicenet_axis(hls::stream<axis_in_t> &in_stream, hls::stream<axis_out_t> &out_stream);

#endif
