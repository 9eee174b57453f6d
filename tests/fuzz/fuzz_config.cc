/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-config: any bytes as an nlb-dataplane libconfig file through the
 * loader (apps/dataplane/config.h load_config_string), with the repository's
 * drivers-cfg profiles. The loader must never crash or throw; it returns
 * either a config (whose EAL arguments are then built) or exactly one
 * non-empty line that starts with the file name ("fuzz.conf:LINE: ...").
 * A file pulled in with @include may be the one named instead, so inputs
 * containing "@include" are not fed (they would also read local files).
 * Values quoted in messages may hold newlines or control bytes; the loader
 * escapes them, so the one-line check holds for every input.
 * A failed check aborts, which libFuzzer reports as a crash with the input.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "config.h"

#ifndef NLB_FUZZ_DRIVERS_CFG
#error "NLB_FUZZ_DRIVERS_CFG must name the drivers-cfg directory"
#endif

namespace {

[[noreturn]] void fail(const char *what, const std::string &detail) {
    std::fprintf(stderr, "fuzz-config: %s: [%s]\n", what, detail.c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string text(reinterpret_cast<const char *>(data), size);
    if (text.find("@include") != std::string::npos) return 0;
    static const std::string name = "fuzz.conf";
    nlb::dataplane::load_options opt;
    opt.drivers_cfg_dir = NLB_FUZZ_DRIVERS_CFG;
    opt.cpu_count = 4;
    nlb::dataplane::config_result r = nlb::dataplane::load_config_string(text, name, opt);
    if (r.ok()) {
        if (!r.error.empty()) fail("a config and an error", r.error);
        std::vector<std::string> args = nlb::dataplane::eal_arguments(*r.config);
        if (args.empty()) fail("no EAL arguments for a valid config", "");
        return 0;
    }
    if (r.error.empty()) fail("no config and no error", "");
    for (unsigned char c : r.error)
        if (c < 0x20 || c == 0x7f) fail("error with a control byte (more than one line)", r.error);
    if (r.error.compare(0, name.size() + 1, name + ":") != 0 &&
        r.error.compare(0, std::strlen(NLB_FUZZ_DRIVERS_CFG), NLB_FUZZ_DRIVERS_CFG) != 0)
        fail("error does not start with the file name", r.error);
    return 0;
}
