# ZCU102 block design for tinyicenet, implementation, bitstream and PYNQ hand-off files.
#
#   vivado -mode batch -source block_design.tcl -tclargs vivado_params.tcl
#
# boards/zcu102/build.py writes vivado_params.tcl; it sets
#   part board_part_pattern ip_repo ip_name pl_clk_mhz in_word_bits out_word_bits
#   proj_dir bd_name out_dir bit_name jobs
#
# Design:
#   Zynq UltraScale+ PS (ZCU102 board preset: DDR4, MIO, clocks)
#     M_AXI_HPM0_FPD -> SmartConnect (ctrl_smc) -> AXI DMA S_AXI_LITE      (control)
#     AXI DMA M_AXI_MM2S, M_AXI_S2MM -> SmartConnect (data_smc) -> S_AXI_HP0_FPD (DDR)
#     AXI DMA M_AXIS_MM2S -> network IP input stream; network IP output stream -> S_AXIS_S2MM
#     AXI DMA mm2s_introut, s2mm_introut -> concat -> pl_ps_irq0       (PYNQ waits on them)
#   pl_clk0 at pl_clk_mhz clocks everything; proc_sys_reset from pl_resetn0.
# Outputs in out_dir: <bit_name>.bit, <bit_name>.hwh (PYNQ needs both, same name),
#   <bit_name>.xsa, utilization.rpt, timing_summary.rpt, power.rpt (Vivado's estimate).

proc fail {msg} {
    puts "ERROR: \[tinyicenet\] $msg"
    exit 3
}

# Newest IP definition named $name (versions differ between Vivado releases).
proc ipdef {names} {
    foreach name $names {
        set defs [get_ipdefs -all -filter "NAME == $name"]
        if {[llength $defs]} {
            return [lindex [lsort -dictionary $defs] end]
        }
    }
    fail "no IP named [join $names { or }] in this Vivado's catalog"
}

if {[llength $argv] != 1} {
    fail "usage: vivado -mode batch -source block_design.tcl -tclargs vivado_params.tcl"
}
source [lindex $argv 0]

# ---- project -------------------------------------------------------------------------------
create_project tinyicenet $proj_dir -part $part -force
set boards [get_board_parts -quiet -latest_file_version $board_part_pattern]
if {![llength $boards]} {
    fail "ZCU102 board files ($board_part_pattern) are not installed in this Vivado: install them from the Vivado XHub Stores or the AMD board-files repository"
}
set_property board_part [lindex $boards end] [current_project]
set_property ip_repo_paths [list $ip_repo] [current_project]
update_ip_catalog -rebuild
set net_vlnv [lindex [get_ipdefs -all -filter "NAME == $ip_name"] end]
if {$net_vlnv eq ""} {
    fail "IP $ip_name not found in $ip_repo (did the HLS export step run?)"
}

create_bd_design $bd_name

# ---- processing system ---------------------------------------------------------------------
set ps [create_bd_cell -type ip -vlnv [ipdef zynq_ultra_ps_e] zynq_ultra_ps_e_0]
apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $ps
# One control master, one high-performance DDR port for the DMA, one PL interrupt group.
# HPM1 is switched off: the preset enables it and an unclocked port fails validation.
set_property -dict [list \
    CONFIG.PSU__USE__M_AXI_GP0 {1} \
    CONFIG.PSU__USE__M_AXI_GP1 {0} \
    CONFIG.PSU__USE__M_AXI_GP2 {0} \
    CONFIG.PSU__USE__S_AXI_GP2 {1} \
    CONFIG.PSU__SAXIGP2__DATA_WIDTH {128} \
    CONFIG.PSU__USE__IRQ0 {1} \
    CONFIG.PSU__FPGA_PL0_ENABLE {1} \
    CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $pl_clk_mhz \
] $ps

# ---- AXI DMA (simple mode) -----------------------------------------------------------------
set dma [create_bd_cell -type ip -vlnv [ipdef axi_dma] axi_dma_0]
# stream and memory widths are propagated parameters; mark them user-set first
set_property -dict [list \
    CONFIG.c_m_axi_mm2s_data_width.VALUE_SRC USER CONFIG.c_m_axis_mm2s_tdata_width.VALUE_SRC USER \
    CONFIG.c_m_axi_s2mm_data_width.VALUE_SRC USER CONFIG.c_s_axis_s2mm_tdata_width.VALUE_SRC USER \
] $dma
set_property -dict [list \
    CONFIG.c_include_sg {0} \
    CONFIG.c_sg_length_width {26} \
    CONFIG.c_sg_include_stscntrl_strm {0} \
    CONFIG.c_addr_width {64} \
    CONFIG.c_m_axis_mm2s_tdata_width $in_word_bits \
    CONFIG.c_m_axi_mm2s_data_width [expr {max(32, $in_word_bits)}] \
    CONFIG.c_mm2s_burst_size {64} \
    CONFIG.c_s_axis_s2mm_tdata_width $out_word_bits \
    CONFIG.c_m_axi_s2mm_data_width [expr {max(32, $out_word_bits)}] \
    CONFIG.c_s2mm_burst_size {64} \
] $dma

# ---- the network ---------------------------------------------------------------------------
set net [create_bd_cell -type ip -vlnv $net_vlnv tinyicenet_0]
set net_in [get_bd_intf_pins -of_objects $net -filter {MODE == Slave}]
set net_out [get_bd_intf_pins -of_objects $net -filter {MODE == Master}]
if {[llength $net_in] != 1 || [llength $net_out] != 1} {
    fail "$ip_name must have exactly one AXI-stream input and one output (has [llength $net_in] and [llength $net_out])"
}
connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXIS_MM2S] $net_in
connect_bd_intf_net $net_out [get_bd_intf_pins axi_dma_0/S_AXIS_S2MM]

# ---- interconnect --------------------------------------------------------------------------
set ctrl_smc [create_bd_cell -type ip -vlnv [ipdef smartconnect] ctrl_smc]
set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] $ctrl_smc
connect_bd_intf_net [get_bd_intf_pins zynq_ultra_ps_e_0/M_AXI_HPM0_FPD] [get_bd_intf_pins ctrl_smc/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins ctrl_smc/M00_AXI] [get_bd_intf_pins axi_dma_0/S_AXI_LITE]

set data_smc [create_bd_cell -type ip -vlnv [ipdef smartconnect] data_smc]
set_property -dict [list CONFIG.NUM_SI {2} CONFIG.NUM_MI {1}] $data_smc
connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXI_MM2S] [get_bd_intf_pins data_smc/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins axi_dma_0/M_AXI_S2MM] [get_bd_intf_pins data_smc/S01_AXI]
connect_bd_intf_net [get_bd_intf_pins data_smc/M00_AXI] [get_bd_intf_pins zynq_ultra_ps_e_0/S_AXI_HP0_FPD]

# ---- clock and reset -----------------------------------------------------------------------
set rst [create_bd_cell -type ip -vlnv [ipdef proc_sys_reset] rst_pl]
set clk [get_bd_pins zynq_ultra_ps_e_0/pl_clk0]
connect_bd_net $clk \
    [get_bd_pins rst_pl/slowest_sync_clk] \
    [get_bd_pins zynq_ultra_ps_e_0/maxihpm0_fpd_aclk] \
    [get_bd_pins zynq_ultra_ps_e_0/saxihp0_fpd_aclk] \
    [get_bd_pins axi_dma_0/s_axi_lite_aclk] \
    [get_bd_pins axi_dma_0/m_axi_mm2s_aclk] \
    [get_bd_pins axi_dma_0/m_axi_s2mm_aclk] \
    [get_bd_pins ctrl_smc/aclk] \
    [get_bd_pins data_smc/aclk]
# the HLS IP names its clock ap_clk and its reset ap_rst_n
connect_bd_net $clk [get_bd_pins tinyicenet_0/ap_clk]
connect_bd_net [get_bd_pins zynq_ultra_ps_e_0/pl_resetn0] [get_bd_pins rst_pl/ext_reset_in]
connect_bd_net [get_bd_pins rst_pl/peripheral_aresetn] \
    [get_bd_pins axi_dma_0/axi_resetn] \
    [get_bd_pins tinyicenet_0/ap_rst_n]
connect_bd_net [get_bd_pins rst_pl/interconnect_aresetn] \
    [get_bd_pins ctrl_smc/aresetn] \
    [get_bd_pins data_smc/aresetn]

# ---- interrupts ----------------------------------------------------------------------------
# xlconcat became the inline ilconcat in recent releases; take whichever this Vivado has.
set concat_vlnv [ipdef {xlconcat ilconcat}]
set concat_type [expr {[string match "*:inline_hdl:*" $concat_vlnv] ? "inline_hdl" : "ip"}]
set irq [create_bd_cell -type $concat_type -vlnv $concat_vlnv irq_concat]
set_property CONFIG.NUM_PORTS {2} $irq
connect_bd_net [get_bd_pins axi_dma_0/mm2s_introut] [get_bd_pins irq_concat/In0]
connect_bd_net [get_bd_pins axi_dma_0/s2mm_introut] [get_bd_pins irq_concat/In1]
connect_bd_net [get_bd_pins irq_concat/dout] [get_bd_pins zynq_ultra_ps_e_0/pl_ps_irq0]

# ---- addresses, checks, wrapper ------------------------------------------------------------
assign_bd_address
validate_bd_design
save_bd_design
set bd_file [get_files ${bd_name}.bd]
generate_target all $bd_file
add_files -norecurse [make_wrapper -files $bd_file -top]
set_property top ${bd_name}_wrapper [current_fileset]
update_compile_order -fileset sources_1

# ---- implementation and bitstream ----------------------------------------------------------
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    fail "implementation did not finish: [get_property STATUS [get_runs impl_1]] (see $proj_dir)"
}
open_run impl_1
file mkdir $out_dir
report_utilization -file [file join $out_dir utilization.rpt]
report_timing_summary -max_paths 10 -file [file join $out_dir timing_summary.rpt]
report_power -file [file join $out_dir power.rpt]

set bit [glob -nocomplain [file join [get_property DIRECTORY [get_runs impl_1]] ${bd_name}_wrapper.bit]]
if {$bit eq ""} {
    fail "no bitstream in [get_property DIRECTORY [get_runs impl_1]]"
}
file copy -force $bit [file join $out_dir ${bit_name}.bit]

# PYNQ reads the block design from the hardware hand-off file; its location moved between
# releases (.srcs before 2020.2, .gen after), so ask the project and fall back to a search.
set hwh [lindex [get_files -quiet -all -of_objects $bd_file ${bd_name}.hwh] 0]
if {$hwh eq ""} {
    set hwh [lindex [glob -nocomplain [file join $proj_dir * sources_1 bd $bd_name hw_handoff ${bd_name}.hwh]] 0]
}
if {$hwh eq ""} {
    fail "no hardware hand-off (.hwh) file for $bd_name"
}
file copy -force $hwh [file join $out_dir ${bit_name}.hwh]
write_hw_platform -fixed -include_bit -force -file [file join $out_dir ${bit_name}.xsa]
puts "INFO: \[tinyicenet\] wrote [file join $out_dir ${bit_name}.bit] and .hwh"
exit 0
