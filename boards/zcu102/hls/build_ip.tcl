# Synthesise the hls4ml network inside its AXI-stream shell and export it as a Vivado IP.
#
# boards/zcu102/build.py runs this in its work folder, after writing hls_params.tcl there:
#   Vitis >= 2024.1:        vitis-run --mode hls --tcl build_ip.tcl
#   Vitis HLS 2020.2-2024.2: vitis_hls -f build_ip.tcl
#   Vivado HLS <= 2020.1:    vivado_hls -f build_ip.tcl
# hls_params.tcl sets: project_name firmware gen_dir shell_dir part clock_period ip_version
# The exported IP lands in tinyicenet_axis_prj/solution1/impl/ip (VLNV
# tinyicenet.org:hls:tinyicenet_axis:<ip_version>); block_design.tcl picks it up from there.

source [file join [pwd] hls_params.tcl]

open_project -reset tinyicenet_axis_prj
set_top tinyicenet_axis

# The hls4ml firmware includes nnet_utils/ and weights/ relative to itself; the shell includes
# the generated tinyicenet_net.h (gen_dir). Vitis/Vivado HLS bring their own ap_types.
set cflags "-std=c++0x -I${firmware} -I${gen_dir} -I${shell_dir}"
add_files [file join $firmware ${project_name}.cpp] -cflags $cflags
add_files [file join $shell_dir tinyicenet_axis.cpp] -cflags $cflags

open_solution -reset solution1
set_part $part
create_clock -period $clock_period -name default
config_compile -name_max_length 80
# as in hls4ml's own build_prj.tcl: keep large arrays out of registers
catch {config_array_partition -maximum_size 4096}

csynth_design
export_design -format ip_catalog -vendor tinyicenet.org -library hls -version $ip_version \
    -description "tinyicenet network (hls4ml io_stream) with AXI-stream input and output"
exit
