/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz-config: any bytes as an nlb-dataplane libconfig file through the
 * loader (apps/dataplane/config.h load_config_string), with the repository's
 * drivers-cfg profiles. The loader must never crash or throw; it returns
 * either a config (whose EAL arguments are then built) or exactly one
 * non-empty line that starts with the file name ("fuzz.conf:LINE: ...").
 * A file pulled in with @include may be the one named instead, so inputs
 * containing "@include" are not fed (they would also read local files).
 * Known issue (reported, apps/dataplane/config.cc): the loader quotes string
 * values in its messages as they are, so a value holding a newline (a raw one
 * inside the quotes, or an escape such as \n) makes a message of several
 * lines. For inputs with a control character or escape inside a string the
 * one-line check is therefore waived; every other check still applies.
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

/**
 * True when a string literal of the libconfig text holds a control character
 * or a backslash escape (so a value may hold a newline). Comments (#, //,
 * slash-star) are skipped; an unterminated string counts up to the end.
 */
bool string_has_control(const std::string &t) {
    size_t i = 0;
    const size_t n = t.size();
    while (i < n) {
        const char c = t[i];
        if (c == '#' || (c == '/' && i + 1 < n && t[i + 1] == '/')) {
            while (i < n && t[i] != '\n') i++;
        } else if (c == '/' && i + 1 < n && t[i + 1] == '*') {
            const size_t end = t.find("*/", i + 2);
            i = end == std::string::npos ? n : end + 2;
        } else if (c == '"') {
            for (i++; i < n && t[i] != '"'; i++) {
                const unsigned char s = static_cast<unsigned char>(t[i]);
                if (s < 0x20 || s == 0x7f || s == '\\') return true;
            }
            i++;
        } else {
            i++;
        }
    }
    return false;
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
    if (r.error.find('\n') != std::string::npos && !string_has_control(text))
        fail("error of more than one line", r.error);
    if (r.error.compare(0, name.size() + 1, name + ":") != 0 &&
        r.error.compare(0, std::strlen(NLB_FUZZ_DRIVERS_CFG), NLB_FUZZ_DRIVERS_CFG) != 0)
        fail("error does not start with the file name", r.error);
    return 0;
}
