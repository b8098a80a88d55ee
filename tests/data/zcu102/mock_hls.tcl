# A stand-in for Vitis/Vivado HLS's Tcl commands, to run boards/zcu102/hls/build_ip.tcl in plain
# tclsh (logged to $env(MOCK_LOG)); export_design writes the IP's component.xml where the real
# tool would. Checks the script, not HLS.   tclsh mock_hls.tcl build_ip.tcl
set ::mock_log [open $::env(MOCK_LOG) w]
proc log {args} { puts $::mock_log [join $args " "]; flush $::mock_log }
proc log_args {cmd args} { log $cmd {*}$args }
foreach cmd {open_project set_top add_files open_solution set_part create_clock config_compile
             config_array_partition csynth_design} {
    proc $cmd {args} "log_args $cmd {*}\$args"
}
proc export_design {args} {
    log export_design {*}$args
    set ip [file join tinyicenet_axis_prj solution1 impl ip]
    file mkdir $ip
    set fh [open [file join $ip component.xml] w]
    puts $fh "<spirit:component/>"
    close $fh
}
rename exit _exit
proc exit {{code 0}} { log exit $code; close $::mock_log; _exit $code }
set script [lindex $argv 0]
source $script
