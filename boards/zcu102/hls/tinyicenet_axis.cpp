// AXI-stream shell: unpack DMA words into the network's input stream, run the hls4ml network,
// pack its logits into DMA words with TLAST on the tile's last pixel. Layout: tinyicenet_axis.h.
#include "tinyicenet_axis.h"

// (not "tinyicenet": tinyicenet.hls names the network function so)
using namespace tinyicenet_shell;

static void read_tile(hls::stream<axis_in_t> &in_stream, hls::stream<input_t> &net_in) {
read_pixels:
    for (unsigned p = 0; p < TILE_PIXELS; p++) {
#pragma HLS PIPELINE II = 1
        axis_in_t word = in_stream.read();
        input_t pixel;
    read_lanes:
        for (unsigned c = 0; c < IN_VALUES; c++) {
#pragma HLS UNROLL
            // the lane holds the two's-complement integer; its low IN_BITS are the raw bits
            // of the fixed-point value (LSB weight 2**e_in on both sides)
            ap_uint<IN_LANE> lane = word.data.range(IN_LANE * c + IN_LANE - 1, IN_LANE * c);
            pixel[c].range(IN_BITS - 1, 0) = lane.range(IN_BITS - 1, 0);
        }
        net_in.write(pixel);
    }
}

static void write_tile(hls::stream<result_t> &net_out, hls::stream<axis_out_t> &out_stream) {
write_pixels:
    for (unsigned p = 0; p < TILE_PIXELS; p++) {
#pragma HLS PIPELINE II = 1
        result_t pixel = net_out.read();
        axis_out_t word;
        word.data = 0;
    write_lanes:
        for (unsigned k = 0; k < OUT_VALUES; k++) {
#pragma HLS UNROLL
            ap_int<OUT_BITS> raw;
            raw.range(OUT_BITS - 1, 0) = pixel[k].range(OUT_BITS - 1, 0);
            ap_int<OUT_LANE> lane = raw; // sign-extend the logit to its lane
            word.data.range(OUT_LANE * k + OUT_LANE - 1, OUT_LANE * k) = lane.range(OUT_LANE - 1, 0);
        }
        word.keep = -1;
        word.strb = -1;
        word.last = (p == TILE_PIXELS - 1) ? 1 : 0;
        out_stream.write(word);
    }
}

void tinyicenet_axis(hls::stream<axis_in_t> &in_stream, hls::stream<axis_out_t> &out_stream) {
#pragma HLS INTERFACE axis port = in_stream
#pragma HLS INTERFACE axis port = out_stream
#pragma HLS INTERFACE ap_ctrl_none port = return
#pragma HLS DATAFLOW
    hls::stream<input_t> net_in("net_in");
    hls::stream<result_t> net_out("net_out");
#pragma HLS STREAM variable = net_in depth = 2
#pragma HLS STREAM variable = net_out depth = 2
    read_tile(in_stream, net_in);
    TINYICENET_NET_TOP(net_in, net_out);
    write_tile(net_out, out_stream);
}
