# A stand-in for Vivado's Tcl commands, to run boards/zcu102/vivado/block_design.tcl in plain
# tclsh: every command is logged to $env(MOCK_LOG) and returns what Vivado would (names, paths,
# "100%"). It checks the script's logic and Tcl, not Vivado's acceptance of the design.
#   tclsh mock_vivado.tcl <script.tcl> <script args...>
# env: MOCK_LOG (log file), MOCK_RUNDIR (holds tinyicenet_bd_wrapper.bit), MOCK_HWH (a .hwh),
#      MOCK_REPORTS (folder with utilization.rpt, timing_summary.rpt), MOCK_NO_BOARD,
#      MOCK_MISSING_IPS (IP names the catalog lacks)
set ::mock_log [open $::env(MOCK_LOG) w]
proc log {args} { puts $::mock_log [join $args " "]; flush $::mock_log }
proc env_or {name default} { if {[info exists ::env($name)]} { return $::env($name) }; return $default }

proc log_args {cmd args} { log $cmd {*}$args }
foreach cmd {create_project set_property update_ip_catalog create_bd_design apply_bd_automation
             connect_bd_intf_net connect_bd_net assign_bd_address validate_bd_design
             save_bd_design generate_target add_files update_compile_order launch_runs
             wait_on_run open_run report_power} {
    proc $cmd {args} "log_args $cmd {*}\$args"
}
proc current_project {args} { return project_1 }
proc current_fileset {args} { return sources_1 }
proc get_board_parts {args} {
    log get_board_parts {*}$args
    if {[env_or MOCK_NO_BOARD ""] ne ""} { return "" }
    return "xilinx.com:zcu102:part0:3.4"
}
proc get_ipdefs {args} {
    regexp {NAME == ([A-Za-z0-9_]+)} $args -> name
    if {[lsearch [env_or MOCK_MISSING_IPS ""] $name] >= 0} { return "" }
    if {$name eq "tinyicenet_axis"} { return "tinyicenet.org:hls:tinyicenet_axis:1.0" }
    if {$name eq "ilconcat"} { return "xilinx.com:inline_hdl:ilconcat:1.0" }
    return "xilinx.com:ip:${name}:1.0"
}
proc create_bd_cell {args} { log create_bd_cell {*}$args; return [lindex $args end] }
proc get_bd_intf_pins {args} {
    set i [lsearch $args -of_objects]
    if {$i >= 0} {
        set cell [lindex $args [expr {$i + 1}]]
        if {[string match "*Slave*" $args]} { return "$cell/in_stream" }
        return "$cell/out_stream"
    }
    return [lindex $args end]
}
proc get_bd_pins {args} { return [lindex $args end] }
proc get_runs {args} { return [lindex $args end] }
proc get_files {args} {
    if {[string match "*hwh*" $args]} { return [env_or MOCK_HWH ""] }
    return [lindex $args end]
}
proc make_wrapper {args} { log make_wrapper {*}$args; return "tinyicenet_bd_wrapper.v" }
proc get_property {name obj} {
    switch -- $name {
        PROGRESS { return "100%" }
        STATUS { return "write_bitstream Complete!" }
        DIRECTORY { return $::env(MOCK_RUNDIR) }
    }
    return ""
}
proc report_utilization {args} {
    log report_utilization {*}$args
    file copy -force [file join $::env(MOCK_REPORTS) utilization.rpt] [lindex $args end]
}
proc report_timing_summary {args} {
    log report_timing_summary {*}$args
    file copy -force [file join $::env(MOCK_REPORTS) timing_summary.rpt] [lindex $args end]
}
proc write_hw_platform {args} {
    log write_hw_platform {*}$args
    close [open [lindex $args end] w]
}
rename exit _exit
proc exit {{code 0}} { log exit $code; close $::mock_log; _exit $code }

set script [lindex $argv 0]
set argv [lrange $argv 1 end]
set argc [llength $argv]
source $script
