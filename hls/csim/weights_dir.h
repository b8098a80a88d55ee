// tinyicenet: make an hls4ml C-simulation library find its weights beside itself.
//
// hls4ml's build_lib.sh compiles -DWEIGHTS_DIR="<absolute project path>/firmware/weights", so a
// library stops working (and exits the calling process) once its project folder is moved -
// tinyicenet builds projects under a temporary name and renames them when verified. tinyicenet
// compiles the C simulation with  -include this_file  -DWEIGHTS_DIR=tinyicenet_csim::weights_dir()
// so that nnet::load_weights_from_txt looks in <folder of this .so>/weights. C simulation only:
// synthesis never sees this file (__SYNTHESIS__ builds take the weights from the headers).
#ifndef TINYICENET_CSIM_WEIGHTS_DIR_H_
#define TINYICENET_CSIM_WEIGHTS_DIR_H_

#include <dlfcn.h>
#include <string>

namespace tinyicenet_csim {

inline std::string weights_dir() {
    Dl_info info;
    if (dladdr(reinterpret_cast<void *>(&weights_dir), &info) != 0 && info.dli_fname != nullptr) {
        std::string library(info.dli_fname);
        std::string::size_type slash = library.rfind('/');
        std::string folder = slash == std::string::npos ? std::string(".") : library.substr(0, slash);
        return folder + "/weights";
    }
    return "firmware/weights";
}

} // namespace tinyicenet_csim

#endif
