"""Named hardware constants (hls4ml 1.3, Vivado/Vitis, Xilinx 7-series / UltraScale fabric).

Each number the cost models use lives here, documented, so that a user targeting another
device can change it in one place (e.g. ``hwprune.hardware.BRAM_WIDTH_BITS = 72``) instead of
hunting magic numbers.
"""

#: Weights narrower than this many bits are multiplied in LUTs, not DSPs (Vivado maps products
#: narrower than about 10x18 bits to fabric; the reference implementation treats W < 9 as
#: "no DSP"). A layer whose weight width is below this threshold costs no DSP at all.
DSP_MIN_WEIGHT_BITS = 9

#: Width in bits of one BRAM_18K column as the weight ROM of the Resource strategy uses it
#: (18 Kbit configured 36 bits wide, the widest port of a true-dual-port BRAM_18K).
BRAM_WIDTH_BITS = 36

#: Words one BRAM column holds before another BRAM is stacked under it. With RF > BRAM_DEPTH
#: the ROM (RF words deep) needs ceil(RF / BRAM_DEPTH) BRAMs per column.
BRAM_DEPTH = 1024

#: Largest multiplication (n_in * n_out weights) hwprune moves to the Latency strategy when it picks
#: a zero-honouring strategy for a Dense layer. Latency fully partitions and unrolls the weights;
#: hls4ml's own unroll/partition limit (``MaximumSize`` in the generated build script) is 4096.
LATENCY_MAX_WEIGHTS = 4096

#: Default weight width when a precision cannot be resolved (hls4ml's default ap_fixed<16,6>).
DEFAULT_WEIGHT_BITS = 16

__all__ = ['DSP_MIN_WEIGHT_BITS', 'BRAM_WIDTH_BITS', 'BRAM_DEPTH', 'DEFAULT_WEIGHT_BITS', 'LATENCY_MAX_WEIGHTS']
